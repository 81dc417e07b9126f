"""All of stocksync's configuration, read from the environment in this one module.

Every setting has a documented default (see the README's configuration table). Nothing else in
stocksync, ``workers``, ``api`` or ``cli`` reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

N = TypeVar("N", int, float)


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "stocksync"


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, got {raw!r}") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float)


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class SimSettings:
    """The simulated market: deterministic from ``seed``; latency/errors/quota make it behave
    like a slow, flaky, rate-limited source."""

    seed: int = 20240601
    stocks: int = 5200
    latency_ms: float = 0.0
    error_rate: float = 0.0
    calls_per_minute: int = 0  # 0 = unlimited
    garbage_rate: float = 0.0  # share of replies carrying corrupted rows


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :func:`get_settings` (or ``Settings.from_env``)."""

    database_url: str | None = None  # None: start/reuse the embedded PostgreSQL
    redis_url: str | None = None  # None: start/reuse the embedded Redis
    data_dir: Path = field(default_factory=lambda: _default_data_dir(os.environ))
    embedded_redis_port: int = 0  # 0: pick a free port on first start and keep it
    worker_concurrency: int = 2
    # Sources in priority order; None: tushare (when a token is set) > akshare > baostock,
    # reordered by the seeds' TUSHARE_PRIORITY / AKSHARE_PRIORITY / BAOSTOCK_PRIORITY (1 first).
    sources: tuple[str, ...] | None = None
    source_priorities: dict[str, int] = field(default_factory=dict)
    max_attempts: int = 5
    retry_backoff_s: float = 2.0
    retry_backoff_max_s: float = 60.0
    task_soft_time_limit_s: int = 300
    task_time_limit_s: int = 360
    lock_ttl_s: int = 60
    visibility_timeout_s: int = 3600
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    sim: SimSettings = field(default_factory=SimSettings)
    source_timeout_s: float = 15.0
    tushare_token: str | None = field(default=None, repr=False)  # a secret: never logged
    tushare_url: str | None = None  # None: the library's own endpoint
    baostock_addr: str | None = None  # "host:port"; None: the library's own server
    # Calls per minute per source, shared by all workers (None: the source's default).
    calls_per_minute: dict[str, int] = field(default_factory=dict)
    # Longest date range a "range" run may cover (all_history and incremental are their own kinds).
    max_range_days: int = 90
    # Incremental runs "from the last stored bar" start this many days back when nothing is stored.
    incremental_default_days: int = 30
    # When set, every mutating API endpoint requires "Authorization: Bearer <token>".
    api_token: str | None = field(default=None, repr=False)  # a secret: never logged
    # celery beat: the timezone of the cron expressions, and their defaults (5 fields:
    # minute hour day-of-month month day-of-week). PUT /api/v1/schedules overrides them.
    schedule_timezone: str = "Asia/Shanghai"
    schedule_daily: str = "30 17 * * 1-5"
    schedule_weekly: str = "0 2 * * 1"
    schedule_monthly: str = "0 3 1 * *"
    schedule_gap_check: str = "0 4 1 * *"
    # Only the test suite uses these: run it against external servers instead of embedded ones.
    test_database_url: str | None = None
    test_redis_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every ``STOCKSYNC_*`` variable; unset ones take their documented defaults."""
        env = os.environ if env is None else env
        data_dir = env.get("STOCKSYNC_DATA_DIR")
        return cls(
            database_url=env.get("STOCKSYNC_DATABASE_URL") or None,
            redis_url=env.get("STOCKSYNC_REDIS_URL") or None,
            data_dir=Path(data_dir).expanduser() if data_dir else _default_data_dir(env),
            embedded_redis_port=_int(env, "STOCKSYNC_EMBEDDED_REDIS_PORT", 0),
            worker_concurrency=_int(env, "STOCKSYNC_WORKER_CONCURRENCY", 2),
            sources=_list(env, "STOCKSYNC_SOURCES", ()) or None,
            source_priorities={
                name: _int(env, f"{name.upper()}_PRIORITY", 0)
                for name in ("tushare", "akshare", "baostock")
                if env.get(f"{name.upper()}_PRIORITY")
            },
            max_attempts=_int(env, "STOCKSYNC_MAX_ATTEMPTS", 5),
            retry_backoff_s=_float(env, "STOCKSYNC_RETRY_BACKOFF_S", 2.0),
            retry_backoff_max_s=_float(env, "STOCKSYNC_RETRY_BACKOFF_MAX_S", 60.0),
            task_soft_time_limit_s=_int(env, "STOCKSYNC_TASK_SOFT_TIME_LIMIT_S", 300),
            task_time_limit_s=_int(env, "STOCKSYNC_TASK_TIME_LIMIT_S", 360),
            lock_ttl_s=_int(env, "STOCKSYNC_LOCK_TTL_S", 60),
            visibility_timeout_s=_int(env, "STOCKSYNC_VISIBILITY_TIMEOUT_S", 3600),
            api_host=env.get("STOCKSYNC_API_HOST") or "127.0.0.1",
            api_port=_int(env, "STOCKSYNC_API_PORT", 8000),
            sim=SimSettings(
                seed=_int(env, "STOCKSYNC_SIM_SEED", 20240601),
                stocks=_int(env, "STOCKSYNC_SIM_STOCKS", 5200),
                latency_ms=_float(env, "STOCKSYNC_SIM_LATENCY_MS", 0.0),
                error_rate=_float(env, "STOCKSYNC_SIM_ERROR_RATE", 0.0),
                calls_per_minute=_int(env, "STOCKSYNC_SIM_CALLS_PER_MINUTE", 0),
                garbage_rate=_float(env, "STOCKSYNC_SIM_GARBAGE_RATE", 0.0),
            ),
            source_timeout_s=_float(env, "STOCKSYNC_SOURCE_TIMEOUT_S", 15.0),
            tushare_token=env.get("TUSHARE_TOKEN") or env.get("STOCKSYNC_TUSHARE_TOKEN") or None,
            tushare_url=env.get("STOCKSYNC_TUSHARE_URL") or None,
            baostock_addr=env.get("STOCKSYNC_BAOSTOCK_ADDR") or None,
            calls_per_minute={
                name: _int(env, f"STOCKSYNC_{name.upper()}_CALLS_PER_MINUTE", 0)
                for name in ("tushare", "akshare", "baostock")
                if env.get(f"STOCKSYNC_{name.upper()}_CALLS_PER_MINUTE")
            },
            max_range_days=_int(env, "STOCKSYNC_MAX_RANGE_DAYS", 90),
            incremental_default_days=_int(env, "STOCKSYNC_INCREMENTAL_DEFAULT_DAYS", 30),
            api_token=env.get("STOCKSYNC_API_TOKEN") or None,
            schedule_timezone=env.get("STOCKSYNC_SCHEDULE_TIMEZONE") or "Asia/Shanghai",
            schedule_daily=env.get("STOCKSYNC_SCHEDULE_DAILY") or "30 17 * * 1-5",
            schedule_weekly=env.get("STOCKSYNC_SCHEDULE_WEEKLY") or "0 2 * * 1",
            schedule_monthly=env.get("STOCKSYNC_SCHEDULE_MONTHLY") or "0 3 1 * *",
            schedule_gap_check=env.get("STOCKSYNC_SCHEDULE_GAP_CHECK") or "0 4 1 * *",
            test_database_url=env.get("STOCKSYNC_TEST_DATABASE_URL") or None,
            test_redis_url=env.get("STOCKSYNC_TEST_REDIS_URL") or None,
        )

    def __post_init__(self) -> None:
        slowest = max(self.task_time_limit_s, self.retry_backoff_max_s)
        if self.visibility_timeout_s <= 2 * slowest:
            raise ValueError(
                f"STOCKSYNC_VISIBILITY_TIMEOUT_S ({self.visibility_timeout_s}) must be more than "
                f"twice the task time limit and the longest retry backoff ({slowest:.0f} s), or "
                "messages would be delivered again while still running"
            )
        if self.max_range_days < 1:
            raise ValueError("STOCKSYNC_MAX_RANGE_DAYS must be at least 1")
        if self.task_soft_time_limit_s >= self.task_time_limit_s:
            raise ValueError("STOCKSYNC_TASK_SOFT_TIME_LIMIT_S must be below the hard limit")

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (used by front ends and tests)."""
        return replace(self, **changes)

    def as_env(self) -> dict[str, str]:
        """The environment that makes a child process (worker, API) resolve to these settings."""
        env = {
            "STOCKSYNC_DATA_DIR": str(self.data_dir),
            "STOCKSYNC_EMBEDDED_REDIS_PORT": str(self.embedded_redis_port),
            "STOCKSYNC_WORKER_CONCURRENCY": str(self.worker_concurrency),
            "STOCKSYNC_MAX_ATTEMPTS": str(self.max_attempts),
            "STOCKSYNC_RETRY_BACKOFF_S": str(self.retry_backoff_s),
            "STOCKSYNC_RETRY_BACKOFF_MAX_S": str(self.retry_backoff_max_s),
            "STOCKSYNC_TASK_SOFT_TIME_LIMIT_S": str(self.task_soft_time_limit_s),
            "STOCKSYNC_TASK_TIME_LIMIT_S": str(self.task_time_limit_s),
            "STOCKSYNC_LOCK_TTL_S": str(self.lock_ttl_s),
            "STOCKSYNC_VISIBILITY_TIMEOUT_S": str(self.visibility_timeout_s),
            "STOCKSYNC_SIM_SEED": str(self.sim.seed),
            "STOCKSYNC_SIM_STOCKS": str(self.sim.stocks),
            "STOCKSYNC_SIM_LATENCY_MS": str(self.sim.latency_ms),
            "STOCKSYNC_SIM_ERROR_RATE": str(self.sim.error_rate),
            "STOCKSYNC_SIM_CALLS_PER_MINUTE": str(self.sim.calls_per_minute),
            "STOCKSYNC_SIM_GARBAGE_RATE": str(self.sim.garbage_rate),
        }
        env["STOCKSYNC_SOURCE_TIMEOUT_S"] = str(self.source_timeout_s)
        env["STOCKSYNC_MAX_RANGE_DAYS"] = str(self.max_range_days)
        env["STOCKSYNC_INCREMENTAL_DEFAULT_DAYS"] = str(self.incremental_default_days)
        env["STOCKSYNC_SCHEDULE_TIMEZONE"] = self.schedule_timezone
        env["STOCKSYNC_SCHEDULE_DAILY"] = self.schedule_daily
        env["STOCKSYNC_SCHEDULE_WEEKLY"] = self.schedule_weekly
        env["STOCKSYNC_SCHEDULE_MONTHLY"] = self.schedule_monthly
        env["STOCKSYNC_SCHEDULE_GAP_CHECK"] = self.schedule_gap_check
        if self.api_token:
            env["STOCKSYNC_API_TOKEN"] = self.api_token  # children need it; never logged
        if self.sources is not None:
            env["STOCKSYNC_SOURCES"] = ",".join(self.sources)
        for name, priority in self.source_priorities.items():
            env[f"{name.upper()}_PRIORITY"] = str(priority)
        for name, limit in self.calls_per_minute.items():
            env[f"STOCKSYNC_{name.upper()}_CALLS_PER_MINUTE"] = str(limit)
        if self.tushare_url:
            env["STOCKSYNC_TUSHARE_URL"] = self.tushare_url
        if self.baostock_addr:
            env["STOCKSYNC_BAOSTOCK_ADDR"] = self.baostock_addr
        if self.tushare_token:
            env["TUSHARE_TOKEN"] = self.tushare_token  # children need it; never logged
        if self.database_url:
            env["STOCKSYNC_DATABASE_URL"] = self.database_url
        if self.redis_url:
            env["STOCKSYNC_REDIS_URL"] = self.redis_url
        return env


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings.from_env()


def current_environment() -> dict[str, str]:
    """A copy of this process's environment, for front ends that spawn child processes."""
    return dict(os.environ)
