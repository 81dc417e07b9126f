"""Which PostgreSQL and Redis stocksync talks to: the configured ones, or embedded servers kept
under the data directory, started on first use and shared by every stocksync process."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stocksync.config import MAIN_STORE, SIM_STORE, Settings
from stocksync.embedded import postgres as pg
from stocksync.embedded import redis_server as rd
from stocksync.embedded import stores
from stocksync.embedded.common import START_HINT, services_lock
from stocksync.errors import ServiceUnavailable


@dataclass(frozen=True)
class ServiceUrls:
    """Where the store's database and broker are, and whether each is an embedded server.

    ``database_url`` and ``redis_url`` are the store's own; ``main_database_url`` and
    ``main_redis_url`` (the same for the main store) are what the sim store's are derived from,
    and what a child process is pointed at (with ``STOCKSYNC_STORE``)."""

    database_url: str
    redis_url: str
    embedded_database: bool
    embedded_redis: bool
    store: str = MAIN_STORE
    main_database_url: str = ""
    main_redis_url: str = ""
    # True when resolving created the store's database just now (it then needs migrating)
    created_database: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not self.main_database_url:
            object.__setattr__(self, "main_database_url", self.database_url)
        if not self.main_redis_url:
            object.__setattr__(self, "main_redis_url", self.redis_url)

    @property
    def database_name(self) -> str:
        """The store's database, e.g. ``stocksync_sim``."""
        return stores.database_name(self.database_url)

    @property
    def redis_db(self) -> int:
        """The store's Redis database index."""
        return stores.redis_db(self.redis_url)

    def describe_store(self) -> str:
        """What a user reads, e.g. ``store: sim (database stocksync_sim, Redis db 1)``."""
        return f"store: {self.store} (database {self.database_name}, Redis db {self.redis_db})"


def _data_dir(settings: Settings) -> Path:
    return Path(settings.data_dir).expanduser().resolve()


def postgres_dir(settings: Settings) -> Path:
    """The embedded PostgreSQL's data directory (PGDATA)."""
    return _data_dir(settings) / "postgres"


def redis_dir(settings: Settings) -> Path:
    """The embedded Redis's directory (AOF, pidfile, log, remembered port)."""
    return _data_dir(settings) / "redis"


def resolve_service_urls(settings: Settings, *, start: bool = True) -> ServiceUrls:
    """The database and Redis URLs of ``settings.store``: those of the main store (below), or
    for the sim store the database ``<database>_sim`` on the same PostgreSQL server (created
    if missing, when the server answers) and the next Redis database index on the same Redis
    (``settings.sim_redis_db`` when set).
    """
    main = _main_service_urls(settings, start=start)
    if settings.store != SIM_STORE:
        return main
    database_url = stores.sim_database_url(main.database_url)
    return replace(
        main,
        database_url=database_url,
        redis_url=stores.sim_redis_url(main.redis_url, settings.sim_redis_db),
        store=SIM_STORE,
        created_database=stores.ensure_sim_database(main.database_url, database_url),
    )


def _main_service_urls(settings: Settings, *, start: bool) -> ServiceUrls:
    """The main store's database and Redis URLs.

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
