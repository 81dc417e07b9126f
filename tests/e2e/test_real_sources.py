"""Real source clients in real worker processes against our local protocol servers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from celery import Celery
from e2e_support import wait_for  # type: ignore[import-not-found]
from sqlalchemy import text

from stocksync import runs
from stocksync.context import build_context
from stocksync.sources.sim import sim_market
from workers.dispatch import CeleryDispatcher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
from fake_tushare import TEST_TOKEN, FakeTushare  # type: ignore[import-not-found]

pytestmark = pytest.mark.e2e


@pytest.fixture
def fake_tushare(settings):
    server = FakeTushare(sim_market(settings.sim.seed, settings.sim.stocks)).start()
    yield server
    server.stop()


def tushare_settings(settings, fake, **changes):
    return settings.with_overrides(
        sources=("tushare",), tushare_token=TEST_TOKEN, tushare_url=fake.url, **changes
    )


def start_run(settings, body):
    ctx = build_context(settings)
    broker = Celery("e2e", broker=settings.redis_url)
    broker.conf.task_default_queue = "stocksync"
    created = runs.create_run(ctx, runs.parse_spec(ctx, body), CeleryDispatcher(broker))
    return ctx, created


def finished(ctx, run_id):
    view = runs.run_view(ctx, run_id)
    return view if view["status"] not in ("pending", "running") else None


@pytest.mark.slow  # about 70 s: it must outlast a minute's budget
def test_a_shared_60_per_minute_bucket_holds_across_two_worker_processes(
    ctx, settings, workers, fake_tushare
):
    limited = tushare_settings(settings, fake_tushare, calls_per_minute={"tushare": 60})
    for name in ("w1", "w2"):
        workers.start(name, **{k: v for k, v in limited.as_env().items()})
    run_ctx, created = start_run(limited, {"start_date": "2025-01-02", "end_date": "2025-04-10"})
    assert created.total > 60  # more calls than one minute's budget
    view = wait_for(lambda: finished(run_ctx, created.run_id), timeout=240, interval=1)
    assert view["status"] == "success", view

    stamps = sorted(t for t, _ in fake_tushare.requests)
    busiest = max(sum(1 for s in stamps if start <= s < start + 60) for start in stamps)
    assert len(stamps) > 60 and busiest <= 60
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
    assert "HTTP 500" in " ".join(seen) or "500" in " ".join(seen)  # errors were recorded
    assert not [s for s in seen if TEST_TOKEN in s]
    run_ctx.close()
