"""Engine construction. One engine per process; re-create it after fork."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine


def make_engine(database_url: str, *, pool_size: int = 5) -> Engine:
    """An engine for ``database_url`` with pre-ping, so a restarted server is survived."""
    return create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=5,
        pool_pre_ping=True,
        future=True,
    )
