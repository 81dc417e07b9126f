"""The handles a process needs to do stocksync work: settings, database, Redis, sources."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import Engine

from stocksync.config import SIM_SOURCE, SIM_STORE, Settings
from stocksync.coordination.breaker import CircuitBreaker
from stocksync.coordination.liveness import Liveness
from stocksync.coordination.lock import RunLock
from stocksync.coordination.ratelimit import TokenBucketQuota
from stocksync.embedded import ServiceUrls, resolve_service_urls
from stocksync.sources.base import CallQuota
from stocksync.sources.registry import SourceRegistry
from stocksync.storage.engine import make_engine
from stocksync.storage.migrate import upgrade

MARKET_TZ = ZoneInfo("Asia/Shanghai")


class StoreSources(SourceRegistry):
    """The sources of one store. In the sim store runs name only ``sim`` and default to it
    (whatever ``STOCKSYNC_SOURCES`` says: that configures the real sources); in the main store
    they name only real sources. ``known`` says so to the run parser."""

    def __init__(self, settings: Settings, quota: CallQuota | None = None) -> None:
        self.store = settings.store
        if self.store == SIM_STORE:
            settings = settings.with_overrides(sources=(SIM_SOURCE,))
        super().__init__(settings, quota)

    @property
    def known(self) -> tuple[str, ...]:
        """Every source a run in this store may name."""
        in_sim = self.store == SIM_STORE
        return tuple(name for name in super().known if (name == SIM_SOURCE) == in_sim)


@dataclass
class Context:
    """Everything a service function needs. Build one per process with :func:`build_context`
    (and again after fork: engines and sockets must not cross a fork)."""

    settings: Settings
    urls: ServiceUrls
    engine: Engine
    redis: redis.Redis
    sources: SourceRegistry
    quota: TokenBucketQuota
    lock: RunLock = field(init=False)
    breaker: CircuitBreaker = field(init=False)
    liveness: Liveness = field(init=False)

    def __post_init__(self) -> None:
        self.lock = RunLock(self.redis, self.settings.lock_ttl_s)
        self.liveness = Liveness(self.redis, self.settings.liveness_ttl_s)
        self.breaker = CircuitBreaker(self.redis)

    @property
    def store(self) -> str:
        """``main`` or ``sim``: where this context reads and writes."""
        return self.urls.store

    def today(self) -> dt.date:
        """Today's date on the Shanghai market."""
        return dt.datetime.now(MARKET_TZ).date()

    def close(self) -> None:
        self.sources.close()
        self.engine.dispose()
        self.redis.close()


def build_context(settings: Settings, *, migrate: bool = False, start: bool = True) -> Context:
    """Resolve (and, for the embedded default, start) the services of ``settings.store`` and
    connect to them. The store's database is migrated when ``migrate`` is true or it was just
    created (the sim store's, on first use)."""
    urls = resolve_service_urls(settings, start=start)
    if migrate or urls.created_database:
        upgrade(urls.database_url)
    client = redis.Redis.from_url(urls.redis_url, socket_timeout=10, socket_connect_timeout=5)
    quota = TokenBucketQuota(client)
    return Context(
        settings=settings,
        urls=urls,
        engine=make_engine(urls.database_url),
        redis=client,
        sources=StoreSources(settings, quota),
        quota=quota,
    )
