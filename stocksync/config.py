"""All of stocksync's configuration, read from the environment in this one module.

Every setting has a documented default (see the README's configuration table). Nothing else in
stocksync, ``workers``, ``api`` or ``cli`` reads ``os.environ``.

Each setting is declared once, as a field of :class:`Settings` (or :class:`SimSettings`) whose
metadata names its environment variable and how its value is read and written;
:meth:`Settings.from_env` and :meth:`Settings.as_env` are generated from those declarations.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

N = TypeVar("N", int, float)

REAL_SOURCES_BY_PRIORITY: tuple[str, ...] = ("tushare", "akshare", "baostock")
"""The real market-data sources, in their default priority (tushare only with a token). Their
per-source variables (``TUSHARE_PRIORITY``, ``STOCKSYNC_AKSHARE_CALLS_PER_MINUTE``…) are named
from this list."""

SIM_SOURCE = "sim"
"""The simulated market's source name."""

MAIN_STORE, SIM_STORE = "main", "sim"
STORES: tuple[str, ...] = (MAIN_STORE, SIM_STORE)
"""Where data is kept: ``main`` for the real sources, ``sim`` for the simulated market (its own
database, ``<database>_sim``, and its own Redis database), so the two never mix."""

DATA_HOME_VARIABLE = "XDG_DATA_HOME"  # where the default data dir lives
# Read by the libraries themselves (requests, under akshare), never by stocksync: documented in
# the README's table and inherited by child processes.
LIBRARY_VARIABLES: tuple[str, ...] = ("HTTPS_PROXY", "REQUESTS_CA_BUNDLE")


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get(DATA_HOME_VARIABLE) or str(Path.home() / ".local" / "share")
    return Path(base) / "stocksync"


# How a kind of value is read: (variable, its non-empty text, the setting's default) → value.
Parse = Callable[[str, str, Any], Any]
# How it is written for a child process: value → text, or None to leave the variable unset.
Show = Callable[[Any], str | None]


def _text(variable: str, raw: str, default: Any) -> str:
    return raw


def _number(variable: str, raw: str, default: N, kind: type[N]) -> N:
    if raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{variable} must be {what}, got {raw!r}") from exc


def _whole(variable: str, raw: str, default: int) -> int:
    return _number(variable, raw, default, int)


def _real(variable: str, raw: str, default: float) -> float:
    return _number(variable, raw, default, float)


def _optional_whole(variable: str, raw: str, default: int | None) -> int | None:
    return None if raw.strip() == "" else _number(variable, raw, 0, int)


def _store(variable: str, raw: str, default: str) -> str:
    name = raw.strip().lower() or default
    if name not in STORES:
        raise ValueError(f"{variable} must be {' or '.join(STORES)}, got {raw!r}")
    return name


def _names(variable: str, raw: str, default: Any) -> Any:
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip()) or default


def _path(variable: str, raw: str, default: Any) -> Path:
    return Path(raw).expanduser()


def _when_set(value: Any) -> str | None:
    return str(value) if value else None


def _unless_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _joined(value: tuple[str, ...] | None) -> str | None:
    return None if value is None else ",".join(value)


@dataclass(frozen=True)
class Kind:
    """How one kind of setting is read from its variable and written back."""

    parse: Parse
    show: Show = str


TEXT = Kind(_text)
OPTIONAL_TEXT = Kind(_text, _when_set)  # unset or empty: None, and not written
WHOLE = Kind(_whole)
OPTIONAL_WHOLE = Kind(_optional_whole, _unless_none)  # unset or blank: None, and not written
STORE = Kind(_store)
REAL = Kind(_real)
NAMES = Kind(_names, _joined)  # comma-separated, trimmed, lower-cased
PATH = Kind(_path)


@dataclass(frozen=True)
class EnvVar:
    """Where one setting lives in the environment. The first of ``names`` that is set (not
    empty) is read; the first is written. A per-source setting is a dict by source name, read
    from one variable per real source (``names[0]`` with ``{SOURCE}`` in it)."""

    names: tuple[str, ...]
    kind: Kind
    default_from: Callable[[Mapping[str, str]], Any] | None = None  # a default read from env
    per_source: bool = False

    def variables(self) -> Iterator[tuple[str | None, str]]:
        """(source or None, variable) for every variable this setting is read from."""
        if self.per_source:
            for source in REAL_SOURCES_BY_PRIORITY:
                yield source, self.names[0].format(SOURCE=source.upper())
        else:
            yield from ((None, name) for name in self.names)


def setting(default: Any, *names: str, kind: Kind = TEXT, secret: bool = False) -> Any:
    """Declare a field read from the variable(s) ``names`` (the first one set wins). A
    ``secret`` stays out of the settings' repr (and so out of logs)."""
    return field(default=default, metadata={"env": EnvVar(names, kind)}, repr=not secret)


def per_source(template: str) -> dict[str, EnvVar]:
    """The metadata of a dict of whole numbers by real source, read from ``template`` with
    ``{SOURCE}`` replaced by each source's upper-case name; only the sources whose variable is
    set appear in it."""
    return {"env": EnvVar((template,), WHOLE, per_source=True)}


def _data_dir_default() -> Path:
    return _default_data_dir(os.environ)


@dataclass(frozen=True)
class SimSettings:
    """The simulated market: deterministic from ``seed``; latency/errors/quota make it behave
    like a slow, flaky, rate-limited source."""

    seed: int = setting(20240601, "STOCKSYNC_SIM_SEED", kind=WHOLE)
    stocks: int = setting(5200, "STOCKSYNC_SIM_STOCKS", kind=WHOLE)
    latency_ms: float = setting(0.0, "STOCKSYNC_SIM_LATENCY_MS", kind=REAL)
    error_rate: float = setting(0.0, "STOCKSYNC_SIM_ERROR_RATE", kind=REAL)
    # 0 = unlimited
    calls_per_minute: int = setting(0, "STOCKSYNC_SIM_CALLS_PER_MINUTE", kind=WHOLE)
    # share of replies carrying corrupted rows
    garbage_rate: float = setting(0.0, "STOCKSYNC_SIM_GARBAGE_RATE", kind=REAL)


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build it with :func:`get_settings` (or ``Settings.from_env``)."""

    # None: start/reuse the embedded PostgreSQL / Redis
    database_url: str | None = setting(None, "STOCKSYNC_DATABASE_URL", kind=OPTIONAL_TEXT)
    redis_url: str | None = setting(None, "STOCKSYNC_REDIS_URL", kind=OPTIONAL_TEXT)
    data_dir: Path = field(
        default_factory=_data_dir_default,
        metadata={"env": EnvVar(("STOCKSYNC_DATA_DIR",), PATH, default_from=_default_data_dir)},
    )
    # Which store this process reads and writes: "main" (the real sources) or "sim" (the
    # simulated market, in the database <database>_sim and Redis db index + 1 on the same servers).
    store: str = setting(MAIN_STORE, "STOCKSYNC_STORE", kind=STORE)
    # The sim store's Redis database index; None: the main store's index + 1.
    sim_redis_db: int | None = setting(None, "STOCKSYNC_SIM_REDIS_DB", kind=OPTIONAL_WHOLE)
    # 0: pick a free port on first start and keep it
    embedded_redis_port: int = setting(0, "STOCKSYNC_EMBEDDED_REDIS_PORT", kind=WHOLE)
    worker_concurrency: int = setting(2, "STOCKSYNC_WORKER_CONCURRENCY", kind=WHOLE)
    # Sources in priority order; None: tushare (when a token is set) > akshare > baostock,
    # reordered by the seeds' TUSHARE_PRIORITY / AKSHARE_PRIORITY / BAOSTOCK_PRIORITY (1 first).
    sources: tuple[str, ...] | None = setting(None, "STOCKSYNC_SOURCES", kind=NAMES)
    source_priorities: dict[str, int] = field(
        default_factory=dict, metadata=per_source("{SOURCE}_PRIORITY")
    )
    max_attempts: int = setting(5, "STOCKSYNC_MAX_ATTEMPTS", kind=WHOLE)
    retry_backoff_s: float = setting(2.0, "STOCKSYNC_RETRY_BACKOFF_S", kind=REAL)
    retry_backoff_max_s: float = setting(60.0, "STOCKSYNC_RETRY_BACKOFF_MAX_S", kind=REAL)
    task_soft_time_limit_s: int = setting(300, "STOCKSYNC_TASK_SOFT_TIME_LIMIT_S", kind=WHOLE)
    task_time_limit_s: int = setting(360, "STOCKSYNC_TASK_TIME_LIMIT_S", kind=WHOLE)
    lock_ttl_s: int = setting(60, "STOCKSYNC_LOCK_TTL_S", kind=WHOLE)
    visibility_timeout_s: int = setting(3600, "STOCKSYNC_VISIBILITY_TIMEOUT_S", kind=WHOLE)
    api_host: str = setting("127.0.0.1", "STOCKSYNC_API_HOST")
    api_port: int = setting(8000, "STOCKSYNC_API_PORT", kind=WHOLE)
    sim: SimSettings = field(default_factory=SimSettings, metadata={"group": SimSettings})
    source_timeout_s: float = setting(15.0, "STOCKSYNC_SOURCE_TIMEOUT_S", kind=REAL)
    # A secret: never logged. STOCKSYNC_TUSHARE_TOKEN is read too; TUSHARE_TOKEN wins.
    tushare_token: str | None = setting(
        None, "TUSHARE_TOKEN", "STOCKSYNC_TUSHARE_TOKEN", kind=OPTIONAL_TEXT, secret=True
    )
    # None: the library's own endpoint / server ("host:port")
    tushare_url: str | None = setting(None, "STOCKSYNC_TUSHARE_URL", kind=OPTIONAL_TEXT)
    baostock_addr: str | None = setting(None, "STOCKSYNC_BAOSTOCK_ADDR", kind=OPTIONAL_TEXT)
    # Calls per minute per source, shared by all workers (absent: the source's default).
    calls_per_minute: dict[str, int] = field(
        default_factory=dict, metadata=per_source("STOCKSYNC_{SOURCE}_CALLS_PER_MINUTE")
    )
    # Longest date range a "range" run may cover (all_history and incremental are their own kinds).
    max_range_days: int = setting(90, "STOCKSYNC_MAX_RANGE_DAYS", kind=WHOLE)
    # Incremental runs "from the last stored bar" start this many days back when nothing is stored.
    incremental_default_days: int = setting(30, "STOCKSYNC_INCREMENTAL_DEFAULT_DAYS", kind=WHOLE)
    # When set, every mutating API endpoint requires "Authorization: Bearer <token>".
    # A secret: never logged.
    api_token: str | None = setting(None, "STOCKSYNC_API_TOKEN", kind=OPTIONAL_TEXT, secret=True)
    # celery beat: the timezone of the cron expressions, and their defaults (5 fields:
    # minute hour day-of-month month day-of-week). PUT /api/v1/schedules overrides them.
    schedule_timezone: str = setting("Asia/Shanghai", "STOCKSYNC_SCHEDULE_TIMEZONE")
    schedule_daily: str = setting("30 17 * * 1-5", "STOCKSYNC_SCHEDULE_DAILY")
    schedule_weekly: str = setting("0 2 * * 1", "STOCKSYNC_SCHEDULE_WEEKLY")
    schedule_monthly: str = setting("0 3 1 * *", "STOCKSYNC_SCHEDULE_MONTHLY")
    schedule_events: str = setting("0 6 * * 6", "STOCKSYNC_SCHEDULE_EVENTS")
    schedule_gap_check: str = setting("0 4 1 * *", "STOCKSYNC_SCHEDULE_GAP_CHECK")
    # Only the test suite uses these: run it against external servers instead of embedded ones.
    test_database_url: str | None = setting(None, "STOCKSYNC_TEST_DATABASE_URL", kind=OPTIONAL_TEXT)
    test_redis_url: str | None = setting(None, "STOCKSYNC_TEST_REDIS_URL", kind=OPTIONAL_TEXT)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every variable of the configuration table; unset or empty ones take their
        documented defaults. ValueError naming the variable for a value that does not parse."""
        settings = _read(cls, os.environ if env is None else env)
        assert isinstance(settings, Settings)
        return settings

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise ValueError(f"STOCKSYNC_STORE must be {' or '.join(STORES)}, got {self.store!r}")
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

    @property
    def liveness_ttl_s(self) -> float:
        """How long a worker process counts as alive after its last heartbeat (it beats three
        times per TTL), so how soon the units a dead process left running are run again: a
        quarter of the lock TTL, at least 2 s."""
        return max(2.0, self.lock_ttl_s / 4)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (used by front ends and tests)."""
        return replace(self, **changes)

    def as_env(self) -> dict[str, str]:
        """The environment that makes a child process (worker, API) resolve to these settings:
        ``Settings.from_env(s.as_env()) == s``. Unset optional settings are left out; secrets
        are included (children need them) and must never be logged."""
        env: dict[str, str] = {}
        _write(self, env)
        return env


def _settings_fields(cls: Any) -> Iterator[tuple[Field[Any], EnvVar | None, type | None]]:
    """(field, where it lives in the environment, or the settings class it groups)."""
    for f in fields(cls):
        yield f, f.metadata.get("env"), f.metadata.get("group")


def _read(cls: Any, env: Mapping[str, str]) -> Any:
    values: dict[str, Any] = {}
    for f, var, grouped in _settings_fields(cls):
        if grouped is not None:
            values[f.name] = _read(grouped, env)
        elif var is not None and var.per_source:
            values[f.name] = {  # a blank value counts as 0, as it always did
                source: var.kind.parse(name, env[name], 0)
                for source, name in var.variables()
                if env.get(name)
            }
        elif var is not None:
            default = var.default_from(env) if var.default_from else _default(f)
            found = next(((name, env[name]) for _, name in var.variables() if env.get(name)), None)
            values[f.name] = default if found is None else var.kind.parse(*found, default)
    return cls(**values)


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    assert f.default_factory is not MISSING
    return f.default_factory()


def _write(settings: Any, env: dict[str, str]) -> None:
    for f, var, grouped in _settings_fields(settings):
        value = getattr(settings, f.name)
        if grouped is not None:
            _write(value, env)
        elif var is not None and var.per_source:
            template = var.names[0]
            env.update({template.format(SOURCE=s.upper()): str(n) for s, n in value.items()})
        elif var is not None and (text := var.kind.show(value)) is not None:
            env[var.names[0]] = text


def known_variables() -> frozenset[str]:
    """Every environment variable stocksync's configuration is read from, or documents as
    read by its libraries."""
    names = {DATA_HOME_VARIABLE, *LIBRARY_VARIABLES}
    pending: list[Any] = [Settings]
    while pending:
        for _, var, grouped in _settings_fields(pending.pop()):
            if grouped is not None:
                pending.append(grouped)
            elif var is not None:
                names.update(name for _, name in var.variables())
    return frozenset(names)


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings.from_env()


def use_store(store: str) -> Settings:
    """Switch this process to ``store`` (``main`` or ``sim``) and return its settings: every
    later :func:`get_settings`, and the child processes it starts (which inherit its
    environment, or get ``Settings.as_env()``), read and write that store."""
    os.environ["STOCKSYNC_STORE"] = _store("STOCKSYNC_STORE", store, MAIN_STORE)
    get_settings.cache_clear()
    return get_settings()


def current_environment() -> dict[str, str]:
    """A copy of this process's environment, for front ends that spawn child processes."""
    return dict(os.environ)
