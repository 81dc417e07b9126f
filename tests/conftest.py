"""Shared fixtures: real PostgreSQL and Redis for the whole session.

By default the suite starts the embedded servers (the product's default) in a fresh data dir.
With STOCKSYNC_TEST_DATABASE_URL / STOCKSYNC_TEST_REDIS_URL set it uses those servers instead:
a fresh database is created on the PostgreSQL server for the session and dropped at the end,
and the Redis database named in the URL is flushed between tests.

Both stores exist, as in the product: the main store (that database, that Redis database) and
the sim store (``<database>_sim`` and the next Redis database; the one before when the URL
names database 15, the last of a default Redis). Tests run in the sim store, where runs sync the
simulated market; a module marked ``pytest.mark.store("main")`` runs in the main store (the real
sources' adapters against our fake servers). Every test starts with both stores empty.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from stocksync.config import MAIN_STORE, SIM_STORE, STORES, Settings, SimSettings
from stocksync.context import Context, build_context
from stocksync.embedded import resolve_service_urls, stop_embedded
from stocksync.embedded.stores import redis_db
from stocksync.storage.migrate import upgrade
from stocksync.storage.schema import metadata

TEST_SIM_STOCKS = 400


def _fresh_database(server_url: str) -> tuple[str, str]:
    url = make_url(server_url)
    name = f"stocksync_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_database(server_url: str, name: str) -> None:
    admin = create_engine(
        make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    # Short path under /tmp: unix socket paths are limited to ~107 characters.
    path = Path(tempfile.mkdtemp(prefix="ss-test-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "store(name): the store the module's settings use: sim (default) or main"
    )


@pytest.fixture(scope="session")
def session_settings(data_dir: Path) -> Iterator[Settings]:
    """Settings of the session: real services (both stores created and migrated, the main
    store's URLs pinned), a small simulated market, quick retries."""
    from_env = Settings.from_env()
    base = Settings(
        data_dir=data_dir,
        sim=SimSettings(stocks=TEST_SIM_STOCKS),
        sources=("sim",),
        worker_concurrency=2,
        retry_backoff_s=0.2,
        retry_backoff_max_s=1.0,
        max_attempts=4,
        lock_ttl_s=60,
    )
    created_db = None
    database_url = redis_url = sim_redis_db = None
    if from_env.test_database_url:
        database_url, created_db = _fresh_database(from_env.test_database_url)
    if from_env.test_redis_url:
        redis_url = from_env.test_redis_url
        sim_redis_db = 14 if redis_db(redis_url) == 15 else None
    urls = resolve_service_urls(base.with_overrides(database_url=database_url, redis_url=redis_url))
    resolved = base.with_overrides(
        database_url=urls.database_url, redis_url=urls.redis_url, sim_redis_db=sim_redis_db
    )
    for store in STORES:
        upgrade(resolve_service_urls(resolved.with_overrides(store=store)).database_url)
    yield resolved
    stop_embedded(base)
    if created_db and from_env.test_database_url:
        _drop_database(from_env.test_database_url, f"{created_db}_sim")
        _drop_database(from_env.test_database_url, created_db)


@pytest.fixture(scope="module")
def settings(request: pytest.FixtureRequest, session_settings: Settings) -> Settings:
    """The module's settings: the sim store, or the main one for ``pytest.mark.store("main")``
    (whose runs name their real sources themselves)."""
    marker = request.node.get_closest_marker("store")
    store = marker.args[0] if marker else SIM_STORE
    if store == MAIN_STORE:
        return session_settings.with_overrides(store=MAIN_STORE, sources=None)
    return session_settings.with_overrides(store=SIM_STORE)


def store_urls(settings: Settings, store: str) -> tuple[str, str]:
    """The database and Redis URLs of ``store`` on the session's servers."""
    urls = resolve_service_urls(settings.with_overrides(store=store))
    return urls.database_url, urls.redis_url


def clean_state(settings: Settings) -> None:
    """Empty every table and the Redis database of both stores: each test starts from
    nothing."""
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    for store in STORES:
        database_url, redis_url = store_urls(settings, store)
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        client.close()


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    """A Context on clean services."""
    clean_state(settings)
    context = build_context(settings)
    yield context
    context.close()


@pytest.fixture(scope="module")
def module_ctx(settings: Settings) -> Iterator[Context]:
    """A Context on services cleaned once per module: for tests sharing one synced market (and
    so not using ``ctx``, which cleans again)."""
    clean_state(settings)
    context = build_context(settings)
    yield context
    context.close()


def _as_row(bar) -> tuple:
    from decimal import Decimal

    def dec(value: float | None) -> Decimal | None:
        return None if value is None else Decimal(repr(value)).normalize()

    return (
        bar.code, bar.period.value, bar.trade_date, dec(bar.open), dec(bar.high), dec(bar.low),
        dec(bar.close), dec(bar.pre_close), int(bar.volume), dec(bar.amount),
        dec(bar.turnover_pct), dec(bar.pct_chg), int(bar.trade_status), bool(bar.is_st),
    )  # fmt: skip


@pytest.fixture
def oracle(settings: Settings):
    """The simulated market's truth, and the stored bars, in one comparable form."""
    from sqlalchemy import select

    from stocksync.sim import SimMarket
    from stocksync.storage.schema import bars

    market = SimMarket(settings.sim.seed, settings.sim.stocks)

    class Oracle:
        def expected(self, dates, period="daily", codes=None) -> set[tuple]:
            from stocksync.domain import Period

            rows = set()
            for day in dates:
                for bar in market.bars_for_date(day, Period(period)):
                    if codes is None or bar.code in codes:
                        rows.add(_as_row(bar))
            return rows

        def expected_factors(self, dates, codes=None) -> set[tuple]:
            from decimal import Decimal

            return {
                (f.code, f.trade_date, Decimal(repr(f.factor)).normalize())
                for day in dates
                for f in market.market_adj_factors(day)
                if codes is None or f.code in codes
            }

        def stored_factors(self, engine) -> set[tuple]:
            from stocksync.storage.schema import adj_factors

            with engine.connect() as conn:
                rows = conn.execute(
                    select(adj_factors.c.code, adj_factors.c.trade_date, adj_factors.c.factor)
                ).all()
            return {(c, d, f.normalize()) for c, d, f in rows}

        def expected_valuations(self, dates, codes=None) -> set[tuple]:
            from decimal import Decimal

            def dec(x):
                return None if x is None else Decimal(repr(x)).normalize()

            return {
                (v.code, v.trade_date, dec(v.pe_ttm), dec(v.pb), dec(v.total_mv), dec(v.circ_mv))
                for day in dates
                for v in market.valuations_for_date(day)
                if codes is None or v.code in codes
            }

        def stored_valuations(self, engine) -> set[tuple]:
            from stocksync.storage.schema import valuations as t

            with engine.connect() as conn:
                rows = conn.execute(
                    select(t.c.code, t.c.trade_date, t.c.pe_ttm, t.c.pb, t.c.total_mv, t.c.circ_mv)
                ).all()
            return {
                (c, d, *(None if x is None else x.normalize() for x in rest))
                for c, d, *rest in rows
            }

        def trading_days(self, start, end):
            return market.trading_days(start, end)

        def stored(self, engine) -> list[tuple]:
            from decimal import Decimal

            cols = [bars.c[n] for n in (
                "code", "period", "trade_date", "open", "high", "low", "close", "pre_close",
                "volume", "amount", "turnover_pct", "pct_chg", "trade_status", "is_st",
            )]  # fmt: skip
            with engine.connect() as conn:
                result = conn.execute(select(*cols)).all()
            return [
                tuple(v.normalize() if isinstance(v, Decimal) else v for v in row) for row in result
            ]

    return Oracle()
