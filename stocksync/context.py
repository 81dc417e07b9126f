"""The handles a process needs to do stocksync work: settings, database, Redis, sources."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import Engine

from stocksync.config import Settings
from stocksync.coordination.breaker import CircuitBreaker
from stocksync.coordination.lock import RunLock
from stocksync.coordination.ratelimit import TokenBucketQuota
from stocksync.embedded import ServiceUrls, resolve_service_urls
from stocksync.sources.registry import SourceRegistry
from stocksync.storage.engine import make_engine
from stocksync.storage.migrate import upgrade

MARKET_TZ = ZoneInfo("Asia/Shanghai")


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

    def __post_init__(self) -> None:
        self.lock = RunLock(self.redis, self.settings.lock_ttl_s)
        self.breaker = CircuitBreaker(self.redis)

    def today(self) -> dt.date:
        """Today's date on the Shanghai market."""
        return dt.datetime.now(MARKET_TZ).date()

    def close(self) -> None:
        self.sources.close()
        self.engine.dispose()
        self.redis.close()


def build_context(settings: Settings, *, migrate: bool = False, start: bool = True) -> Context:
    """Resolve (and, for the embedded default, start) the services and connect to them."""
    urls = resolve_service_urls(settings, start=start)
    if migrate:
        upgrade(urls.database_url)
    client = redis.Redis.from_url(urls.redis_url, socket_timeout=10, socket_connect_timeout=5)
    quota = TokenBucketQuota(client)
    return Context(
        settings=settings,
        urls=urls,
        engine=make_engine(urls.database_url),
        redis=client,
        sources=SourceRegistry(settings, quota),
        quota=quota,
    )
