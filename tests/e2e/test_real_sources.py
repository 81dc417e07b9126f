"""Real source clients in real worker processes against our local protocol servers."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from celery import Celery
from e2e_support import log_tail, wait_for  # type: ignore[import-not-found]
from sqlalchemy import text

from stocksync.context import build_context
from stocksync.datasets.indices import MAIN_INDICES
from stocksync.domain import Period
from stocksync.runs import service as runs
from stocksync.sim.members import MEMBER_INDICES
from stocksync.sources.sim import sim_market
from workers.dispatch import CeleryDispatcher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
from fake_baostock import FakeBaostockServer  # type: ignore[import-not-found]
from fake_eastmoney import FakeEastmoney  # type: ignore[import-not-found]
from fake_tushare import TEST_TOKEN, FakeTushare  # type: ignore[import-not-found]
from faults import Faults  # type: ignore[import-not-found]

pytestmark = [pytest.mark.e2e, pytest.mark.store("main")]  # real sources: the main store


@pytest.fixture
def fake_tushare(settings):
    server = FakeTushare(sim_market(settings.sim.seed, settings.sim.stocks)).start()
    yield server
    server.stop()


def tushare_settings(settings, fake, **changes):
    return settings.with_overrides(
        **({"sources": ("tushare",), "tushare_token": TEST_TOKEN, "tushare_url": fake.url}
           | changes)
    )  # fmt: skip


def start_run(settings, body):
    ctx = build_context(settings)
    broker = Celery("e2e", broker=settings.redis_url)
    broker.conf.task_default_queue = "stocksync"
    created = runs.create_run(ctx, runs.parse_spec(ctx, body), CeleryDispatcher(broker))
    return ctx, created


def ledger_state(ctx, run_id) -> str:
    """The run's view and its units by status (with their last errors), for failure messages."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT status, count(*), max(attempts), max(error) FROM sync_items"
            " WHERE run_id = :run GROUP BY status"
        ), {"run": run_id}).all()  # fmt: skip
    return f"run: {runs.run_view(ctx, run_id)}\nitems: {rows}\n"


def finished(ctx, run_id):
    view = runs.run_view(ctx, run_id)
    return view if view["status"] not in ("planning", "pending", "running") else None


@pytest.mark.slow  # about 70 s: it must outlast a minute's budget
def test_a_shared_60_per_minute_bucket_holds_across_two_worker_processes(
    ctx, settings, workers, fake_tushare
):
    limited = tushare_settings(  # 119 days: above the default 90-day cap, so raise it
        settings, fake_tushare, calls_per_minute={"tushare": 60}, max_range_days=120
    )
    for name in ("w1", "w2"):
        workers.start(name, **{k: v for k, v in limited.as_env().items()})
    # tushare limits each endpoint on its own, so each endpoint has its own shared bucket: 76
    # daily units call `daily` (and `adj_factor`, `daily_basic`) more often than a minute allows
    run_ctx, created = start_run(limited, {"start_date": "2025-01-02", "end_date": "2025-04-30"})
    assert created.total > 70
    view = wait_for(lambda: finished(run_ctx, created.run_id), timeout=300, interval=1)
    assert view["status"] == "success", view

    for api in ("daily", "adj_factor", "daily_basic"):
        stamps = sorted(t for t, name in fake_tushare.requests if name == api)
        busiest = max(sum(1 for s in stamps if start <= s < start + 60) for start in stamps)
        assert len(stamps) > 60 and busiest <= 60, api
    run_ctx.close()


def test_the_token_never_reaches_logs_ledger_progress_or_the_api(
    ctx, settings, workers, fake_tushare, tmp_path
):
    configured = tushare_settings(settings, fake_tushare, max_attempts=2)
    workers.start("w1", **configured.as_env())
    run_ctx, created = start_run(configured, {"start_date": "2025-03-03", "end_date": "2025-03-05"})
    fake_tushare.faults.set(server_error=True)  # errors all the way: messages get written
    view = wait_for(lambda: finished(run_ctx, created.run_id), timeout=120, interval=1)
    assert view["status"] == "failed"

    from api import create_app

    client = create_app({"CONTEXT_FACTORY": lambda: run_ctx}).test_client()
    seen = [
        client.get(f"/api/v1/runs/{created.run_id}").get_data(as_text=True),
        client.get("/api/v1/runs").get_data(as_text=True),
        client.get("/api/v1/sources").get_data(as_text=True),
        repr(configured),
    ]
    with run_ctx.engine.connect() as conn:
        for table in ("sync_runs", "sync_items", "quarantine"):
            seen.append(str(conn.execute(text(f"SELECT * FROM {table}")).all()))
    for key in run_ctx.redis.keys("*"):
        seen.append(key.decode(errors="replace"))
        if run_ctx.redis.type(key) == b"hash":
            seen.append(str(run_ctx.redis.hgetall(key)))
    seen.extend(p.read_text(errors="replace") for p in workers.log_dir.glob("*.log"))
    assert "HTTP error" in " ".join(seen)  # the errors were recorded, with their words
    assert not [s for s in seen if TEST_TOKEN in s]
    run_ctx.close()


def test_the_primary_dies_mid_run_and_the_next_source_finishes_with_identical_bars(
    ctx, settings, workers, fake_tushare, oracle, tmp_path
):
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    (tmp_path / "eastmoney").mkdir()
    eastmoney = FakeEastmoney(market, Faults(), tmp_path / "eastmoney")
    try:
        configured = tushare_settings(
            settings, fake_tushare, sources=("tushare", "akshare"), source_timeout_s=10.0,
            calls_per_minute={"tushare": 100_000, "akshare": 100_000},
        )  # fmt: skip
        workers.start("w1", **(configured.as_env() | eastmoney.env()))
        codes = [s.code for s in market.securities()][::20]  # 20 stocks over every board
        start, end = dt.date(2025, 3, 3), dt.date(2025, 3, 14)
        fake_tushare.faults.set(latency_s=0.5)  # slow enough to die mid-run
        run_ctx, created = start_run(configured, {
            "start_date": start.isoformat(), "end_date": end.isoformat(), "symbols": codes,
        })  # fmt: skip
        days = oracle.trading_days(start, end)
        assert created.total == len(days)  # per-date units, planned for tushare

        wait_for(lambda: runs.run_view(run_ctx, created.run_id)["success"] >= 3, timeout=60)
        fake_tushare.stop()  # the primary dies
        view = wait_for(
            lambda: finished(run_ctx, created.run_id), timeout=180, interval=1,
            explain=lambda: ledger_state(run_ctx, created.run_id) + log_tail(tmp_path / "w1.log"),
        )  # fmt: skip
        # akshare serves no valuations: the units it took over store bars and factors and say
        # valuations are missing (never a silent success); a later run fetches only those
        assert view["status"] == "success_with_errors", view
        with run_ctx.engine.connect() as conn:
            served = dict(conn.execute(text(
                "SELECT source, count(*) FROM sync_items WHERE source IS NOT NULL GROUP BY source"
            )).all())  # fmt: skip
            failed = conn.execute(text(
                "SELECT error FROM sync_items WHERE status = 'failed'"
            )).scalars().all()  # fmt: skip
            open_datasets = set(conn.execute(text(
                "SELECT DISTINCT d.dataset FROM sync_item_datasets d JOIN sync_items i"
                " ON i.id = d.item_id WHERE i.code IS NOT NULL AND d.status = 'stored'"
            )).scalars())  # fmt: skip
        assert served.get("tushare", 0) >= 3 and served.get("akshare", 0) > 0
        assert failed and all("valuations: no source answered" in e for e in failed)
        assert open_datasets == {"bars", "adj_factors"}  # what akshare stored, per stock

        # Both sources omit suspended days; every other bar equals the truth on the canonical
        # core fields (turnover and the ST flag are not served by both sources alike).
        def core(row):
            return row[:10] + row[11:12]

        expected = {core(r) for r in oracle.expected(days, codes=set(codes)) if r[12] == 1}
        stored = [core(r) for r in oracle.stored(ctx.engine)]
        assert len(stored) == len(expected) and set(stored) == expected
        run_ctx.close()
    finally:
        eastmoney.close()


@pytest.mark.parametrize("source", ["tushare", "akshare", "baostock"])
def test_a_sync_through_each_real_client_stores_the_truths_bars_factors_and_indices(
    ctx, settings, workers, oracle, tmp_path, source, monkeypatch
):
    """Worker processes drive the unmodified client library against its protocol server."""
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    codes = [s.code for s in market.securities() if not s.code.endswith(".BJ")][::40]
    start, end = dt.date(2024, 12, 23), dt.date(2025, 1, 10)
    env: dict[str, str] = {}
    if source == "tushare":
        server = FakeTushare(market).start()
        configured = tushare_settings(settings, server, sources=("tushare",))
        stop = server.stop
    elif source == "akshare":
        (tmp_path / "em").mkdir()
        server = FakeEastmoney(market, Faults(), tmp_path / "em")
        configured = settings.with_overrides(sources=("akshare",),
                                             calls_per_minute={"akshare": 100_000})  # fmt: skip
        env, stop = server.env(), server.close
        for name, value in env.items():  # this process plans the run: it asks akshare too
            monkeypatch.setenv(name, value)
    else:
        server = FakeBaostockServer(market).start()
        configured = settings.with_overrides(sources=("baostock",), baostock_addr=server.address)
        stop = server.stop
    try:
        workers.start("w1", **(configured.as_env() | env))
        run_ctx, created = start_run(configured, {
            "start_date": start.isoformat(), "end_date": end.isoformat(), "symbols": codes,
            "datasets": ["bars", "adj_factors", "valuations", "index_bars", "index_members"],
        })  # fmt: skip
        view = wait_for(lambda: finished(run_ctx, created.run_id), timeout=180, interval=0.5)
        assert view["status"] == "success", view
        with run_ctx.engine.connect() as conn:
            sources_used = set(
                conn.execute(text("SELECT DISTINCT source FROM sync_items")).scalars()
            )
        assert sources_used == {source}
        run_ctx.close()
    finally:
        stop()

    def core(row):
        return row[:10] + row[11:12]

    days = oracle.trading_days(start, end)
    truth = oracle.expected(days, codes=set(codes))
    if source != "baostock":  # tushare and eastmoney leave suspended days out
        truth = {r for r in truth if r[12] == 1}
    stored = oracle.stored(ctx.engine)
    assert len(stored) == len(truth)
    assert {core(r) for r in stored} == {core(r) for r in truth}

    indices = [i.code for i in MAIN_INDICES if source != "baostock" or not i.code.endswith(".BJ")]
    true_levels = {
        (b.code, b.trade_date, b.close, b.volume)
        for code in indices
        for b in market.index_bars(code, Period.DAILY, start, end)
    }
    with ctx.engine.connect() as conn:
        levels = conn.execute(text(
            "SELECT code, trade_date, close, volume FROM index_bars WHERE period = 'daily'"
        )).all()  # fmt: skip
    assert {(c, d, float(x), int(v)) for c, d, x, v in levels} == true_levels

    member_indices = {"tushare": MEMBER_INDICES, "baostock": ("000300.SH", "000016.SH",
                                                            "000905.SH"), "akshare": ()}[source]  # fmt: skip
    true_members = {
        (m.index_code, m.trade_date, m.code, m.weight if source == "tushare" else None)
        for code in member_indices
        for m in market.index_members(code, start, end)
    }
    with ctx.engine.connect() as conn:
        members = conn.execute(
            text("SELECT index_code, trade_date, code, weight FROM index_members")
        ).all()
    assert {(i, d, c, None if w is None else float(w)) for i, d, c, w in members} == true_members

    factors = oracle.stored_factors(ctx.engine)
    true_factors = oracle.expected_factors(days, codes=set(codes))
    bar_days = {(r[0], r[2]) for r in stored}
    assert factors <= true_factors  # every stored factor is the truth
    assert {(c, d) for c, d, _ in factors} >= bar_days  # and every stored bar has one
