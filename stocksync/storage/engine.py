"""Engine construction. One engine per process; re-create it after fork."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from stocksync.errors import ServiceUnavailable

DRIVER = "psycopg2"  # the driver stocksync ships (psycopg2-binary)
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
EXPECTED = "postgresql://user:password@host:5432/database"


def postgres_url(database_url: str) -> URL:
    """The SQLAlchemy URL to connect to ``database_url`` with, on the psycopg2 driver.

    Accepts ``postgresql://``, ``postgres://`` (as Heroku, Render and ``psql`` write it) and
    ``postgresql+psycopg2://``. Raises :class:`ServiceUnavailable`, with a sentence naming
    STOCKSYNC_DATABASE_URL, for anything else: a URL that does not parse, another database, or
    another PostgreSQL driver. The URL itself is never quoted back (it may hold a password)."""
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError, TypeError):
        raise ServiceUnavailable(
            f"STOCKSYNC_DATABASE_URL is not a database URL; write it as {EXPECTED}"
        ) from None
    scheme, _, driver = url.drivername.partition("+")
    if scheme.lower() not in POSTGRES_SCHEMES:
        raise ServiceUnavailable(
            f"STOCKSYNC_DATABASE_URL names a {scheme!r} database; stocksync stores its data in "
            f"PostgreSQL: write it as {EXPECTED}"
        )
    if driver and driver.lower() != DRIVER:
        raise ServiceUnavailable(
            f"STOCKSYNC_DATABASE_URL asks for the PostgreSQL driver {driver!r}, which stocksync "
            f"does not ship; use postgresql:// (stocksync connects with {DRIVER})"
        )
    return url.set(drivername=f"postgresql+{DRIVER}")


def make_engine(database_url: str, *, pool_size: int = 5) -> Engine:
    """An engine for ``database_url`` (any form :func:`postgres_url` accepts) with pre-ping,
    so a restarted server is survived."""
    return create_engine(
        postgres_url(database_url),
        pool_size=pool_size,
        max_overflow=5,
        pool_pre_ping=True,
        future=True,
    )
