"""The benchmark's own PostgreSQL and Redis: embedded servers in a fresh temp data dir, or a
fresh database on an external server; never the user's default data dir."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from stocksync.config import Settings
from stocksync.embedded import resolve_service_urls, stop_embedded
from stocksync.storage.migrate import upgrade
from stocksync.storage.schema import metadata


@dataclass
class BenchServices:
    """Where the benchmark's data lives and how to tear it down.

    ``settings`` carries the resolved database and Redis URLs, so every process started with
    ``settings.as_env()`` talks to these servers and starts nothing itself.
    """

    settings: Settings
    data_dir: Path
    external_server_url: str | None = None
    external_database: str | None = None

    def close(self) -> list[str]:
        """Stop the embedded servers, drop the created database, remove the temp dir."""
        notes = stop_embedded(self.settings)
        if self.external_server_url and self.external_database:
            for name in (f"{self.external_database}_sim", self.external_database):  # sim store
                _drop_database(self.external_server_url, name)
                notes.append(f"dropped database {name}")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return notes


def _admin_engine(server_url: str) -> Engine:
    return create_engine(
        make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )


def _create_database(server_url: str) -> tuple[str, str]:
    name = f"stocksync_bench_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return url, name


def _drop_database(server_url: str, name: str) -> None:
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def start_services(
    base: Settings, *, database_server_url: str | None, redis_url: str | None
) -> BenchServices:
    """Resolve the services for ``base`` (whose ``data_dir`` must be a fresh temp dir): start
    embedded ones for whatever is not given, create a fresh database on an external PostgreSQL
    server, and migrate it. The caller must :meth:`BenchServices.close` the result."""
    database_url = database_name = None
    if database_server_url:
        database_url, database_name = _create_database(database_server_url)
    services = BenchServices(
        settings=base,
        data_dir=Path(base.data_dir),
        external_server_url=database_server_url,
        external_database=database_name,
    )
    try:
        urls = resolve_service_urls(
            base.with_overrides(database_url=database_url, redis_url=redis_url)
        )
        services.settings = base.with_overrides(  # a sim store derives its own from these
            database_url=urls.main_database_url, redis_url=urls.main_redis_url
        )
        upgrade(urls.database_url)
    except BaseException:
        services.close()
        raise
    return services


def make_data_dir() -> Path:
    """A fresh, short temp dir (unix socket paths are limited to ~107 characters)."""
    return Path(tempfile.mkdtemp(prefix="ss-bench-", dir="/tmp"))


WORK_TABLES = ("bars", "adj_factors", "minute_bars", "sync_items", "sync_runs")


def reset_state(
    engine: Engine,
    client: redis.Redis | None,
    *,
    restart_ids: bool,
    keep_reference: bool = False,
) -> None:
    """Empty every table (and, given a client, the Redis database).

    ``keep_reference`` empties only the bars and the ledger (:data:`WORK_TABLES`) and keeps
    the securities list and trading calendar. ``restart_ids`` restarts the id sequences; only
    do that together with flushing Redis, whose progress keys are named by run id.
    """
    names = [t.name for t in metadata.sorted_tables]
    if keep_reference:
        names = [n for n in names if n in WORK_TABLES]
    restart = " RESTART IDENTITY" if restart_ids else ""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(names)}{restart} CASCADE"))
    if client is not None:
        client.flushdb()


def server_versions(engine: Engine, client: redis.Redis) -> dict[str, str]:
    """PostgreSQL's and Redis's version strings."""
    with engine.connect() as conn:
        pg_version = str(conn.execute(text("SHOW server_version")).scalar_one())
    info = client.info("server")
    return {"postgresql": pg_version, "redis": str(info.get("redis_version", "?"))}
