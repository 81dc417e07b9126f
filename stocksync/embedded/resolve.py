"""Which PostgreSQL and Redis stocksync talks to: the configured ones, or embedded servers kept
under the data directory, started on first use and shared by every stocksync process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stocksync.config import Settings
from stocksync.embedded import postgres as pg
from stocksync.embedded import redis_server as rd
from stocksync.embedded.common import START_HINT, services_lock
from stocksync.errors import ServiceUnavailable


@dataclass(frozen=True)
class ServiceUrls:
    """Where the database and the broker are, and whether each is an embedded server."""

    database_url: str
    redis_url: str
    embedded_database: bool
    embedded_redis: bool


def _data_dir(settings: Settings) -> Path:
    return Path(settings.data_dir).expanduser().resolve()


def postgres_dir(settings: Settings) -> Path:
    """The embedded PostgreSQL's data directory (PGDATA)."""
    return _data_dir(settings) / "postgres"


def redis_dir(settings: Settings) -> Path:
    """The embedded Redis's directory (AOF, pidfile, log, remembered port)."""
    return _data_dir(settings) / "redis"


def resolve_service_urls(settings: Settings, *, start: bool = True) -> ServiceUrls:
    """The database and Redis URLs to use.

    A configured URL (``settings.database_url`` / ``settings.redis_url``) is returned as is
    and nothing is started or contacted for it. Otherwise the embedded server under
    ``settings.data_dir`` is used: reused if running (any stocksync process may have started
    it), else started when ``start`` is true — under an exclusive lock on the data dir, so
    concurrent processes start one server. The database ``stocksync`` is created if missing.

    Raises ``ServiceUnavailable`` (with what to do) when ``start`` is false and a server is
    not running, the data dir is not writable, the Redis port is taken by another program, or
    a server fails to start.
    """
    database_url = settings.database_url
    redis_url = settings.redis_url
    if database_url and redis_url:
        return ServiceUrls(database_url, redis_url, embedded_database=False, embedded_redis=False)
    if start:
        with services_lock(_data_dir(settings)):
            # Redis first: it is quick, and a taken port then fails before PostgreSQL starts.
            if not redis_url:
                redis_url = rd.redis_url(
                    rd.start_redis(redis_dir(settings), settings.embedded_redis_port).port
                )
            if not database_url:
                info = pg.start_postgres(postgres_dir(settings))
                pg.ensure_database(info)
                database_url = pg.database_url(info)
    else:
        if not redis_url:
            found = rd.find_redis(redis_dir(settings))
            if found is None:
                raise ServiceUnavailable(
                    f"the embedded Redis in {redis_dir(settings)} is not running; {START_HINT}, "
                    "or set STOCKSYNC_REDIS_URL to use your own Redis"
                )
            redis_url = rd.redis_url(found.port)
        if not database_url:
            info_or_none = pg.find_postgres(postgres_dir(settings))
            if info_or_none is None or not info_or_none.ready:
                raise ServiceUnavailable(
                    f"the embedded PostgreSQL in {postgres_dir(settings)} is not running; "
                    f"{START_HINT}, or set STOCKSYNC_DATABASE_URL to use your own PostgreSQL"
                )
            pg.ensure_database(info_or_none)
            database_url = pg.database_url(info_or_none)
    return ServiceUrls(
        database_url,
        redis_url,
        embedded_database=not settings.database_url,
        embedded_redis=not settings.redis_url,
    )


def stop_embedded(settings: Settings) -> list[str]:
    """Stop the embedded servers running under ``settings.data_dir`` (whether or not URLs are
    configured) and say what was done, one line each, e.g. "stopped PostgreSQL (pid 123)",
    "Redis was not running". Servers that are not ours are never touched."""
    if not _data_dir(settings).is_dir():
        return ["PostgreSQL was not running", "Redis was not running"]
    with services_lock(_data_dir(settings)):
        return [pg.stop_postgres(postgres_dir(settings)), rd.stop_redis(redis_dir(settings))]


def embedded_status(settings: Settings) -> dict[str, dict[str, Any]]:
    """For ``"postgres"`` and ``"redis"``: ``running`` (bool), ``pid``, ``url`` (None when not
    running), ``data_path``, ``log_path`` and a human ``detail``. Starts and creates nothing."""
    pgdata = postgres_dir(settings)
    info = pg.find_postgres(pgdata)
    postgres: dict[str, Any] = {
        "running": info is not None and info.ready,
        "pid": info.pid if info else None,
        "url": pg.database_url(info) if info and info.ready else None,
        "data_path": str(pgdata),
        "log_path": str(pg.log_path(pgdata)),
        "detail": (
            "not running"
            if info is None
            else f"ready on {info.socket_dir}"
            if info.ready
            else "starting or stopping"
        ),
    }
    rdir = redis_dir(settings)
    found = rd.find_redis(rdir)
    stuck = rd.unresponsive_pid(rdir) if found is None else None
    redis_state: dict[str, Any] = {
        "running": found is not None,
        "pid": found.pid if found else None,
        "url": rd.redis_url(found.port) if found else None,
        "data_path": str(rdir),
        "log_path": str(rdir / rd.LOGFILE),
        "detail": (
            f"answering on {rd.HOST}:{found.port}"
            if found
            else f"process {stuck} is alive but does not answer"
            if stuck
            else "not running"
        ),
    }
    return {"postgres": postgres, "redis": redis_state}
