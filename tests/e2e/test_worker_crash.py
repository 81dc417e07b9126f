"""Kill -9 a worker in the middle of a run: the run still ends with exactly the oracle's bars."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from e2e_support import wait_for  # type: ignore[import-not-found]
from sqlalchemy import func, select

from stocksync.storage.schema import bars, sync_items

pytestmark = pytest.mark.e2e

# Slow enough to kill mid-run; a short visibility timeout so the killed worker's unacknowledged
# messages are delivered again within seconds rather than the production hour.
SLOW = {
    "STOCKSYNC_SIM_LATENCY_MS": "300",
    "STOCKSYNC_VISIBILITY_TIMEOUT_S": "20",
    "STOCKSYNC_TASK_SOFT_TIME_LIMIT_S": "6",
    "STOCKSYNC_TASK_TIME_LIMIT_S": "8",
}
START, END = dt.date(2025, 1, 2), dt.date(2025, 2, 28)


def progress(api_url: str, run_id: int) -> dict:
    return requests.get(f"{api_url}/api/v1/runs/{run_id}", timeout=5).json()


def test_sigkill_mid_run_loses_nothing_and_duplicates_nothing(ctx, workers, api_url, oracle):
    victim = workers.start("victim", **SLOW)
    created = requests.post(
        f"{api_url}/api/v1/runs",
        json={"start_date": START.isoformat(), "end_date": END.isoformat()},
        timeout=60,
    ).json()
    run_id = created["run_id"]
    days = oracle.trading_days(START, END)
    wait_for(lambda: progress(api_url, run_id)["done"] >= 5, timeout=60)
    assert progress(api_url, run_id)["total"] == len(days) > 30
    workers.kill(victim)  # the whole process group: main process and pool children
    at_kill = progress(api_url, run_id)
    assert at_kill["status"] == "running" and at_kill["done"] < at_kill["total"]
    with ctx.engine.connect() as conn:
        in_flight = conn.execute(
            select(func.count()).where(sync_items.c.status == "running")
        ).scalar_one()
    assert in_flight >= 1  # it really died holding work

    workers.start("rescuer", **SLOW)
    final = wait_for(
        lambda: (
            (v := progress(api_url, run_id))["status"] not in ("planning", "running", "pending")
            and v
        ),
        timeout=150,
    )
    assert final["status"] == "success", final
    assert (final["success"], final["failed"]) == (len(days), 0)

    expected = oracle.expected(days)
    stored = oracle.stored(ctx.engine)
    assert len(stored) == len(expected)  # none lost, none duplicated
    assert set(stored) == expected
    with ctx.engine.connect() as conn:
        attempts = conn.execute(select(func.max(sync_items.c.attempts))).scalar_one()
        per_day = conn.execute(
            select(bars.c.trade_date, func.count()).group_by(bars.c.trade_date)
        ).all()
        interrupted = conn.execute(select(func.max(sync_items.c.interruptions))).scalar_one()
    # the killed worker's units were redone: delivered again (another attempt), or put back by
    # the recovery sweep once its processes were known dead (their first interruption is free)
    assert attempts >= 2 or interrupted >= 1
    assert len(per_day) == len(days)


def test_all_workers_killed_then_a_new_one_takes_the_run_back_up(ctx, workers, api_url, oracle):
    # a short lock TTL so the dead run's lock lapses quickly; the usual hour-long visibility
    # timeout, so only the recovery (not a redelivery) can finish the run in time
    slow = {"STOCKSYNC_SIM_LATENCY_MS": "300", "STOCKSYNC_LOCK_TTL_S": "4"}
    first = [workers.start("a", **slow), workers.start("b", concurrency=1, **slow)]
    created = requests.post(
        f"{api_url}/api/v1/runs",
        json={"start_date": START.isoformat(), "end_date": END.isoformat()},
        timeout=60,
    ).json()
    run_id = created["run_id"]
    wait_for(lambda: progress(api_url, run_id)["done"] >= 4, timeout=60)
    for proc in first:
        workers.kill(proc)
    import time

    time.sleep(6)  # the lock lapses: nobody is working on the run any more
    assert progress(api_url, run_id)["status"] == "running"

    workers.start("c", **slow)  # on start it finds the interrupted run and resumes it
    final = wait_for(
        lambda: (
            (v := progress(api_url, run_id))["status"] not in ("planning", "running", "pending")
            and v
        ),
        timeout=150,
    )
    assert final["status"] == "success", final
    days = oracle.trading_days(START, END)
    assert set(oracle.stored(ctx.engine)) == oracle.expected(days)
    assert len(oracle.stored(ctx.engine)) == len(oracle.expected(days))
    # it resumed the run (its lock lapsed), or requeued the units the dead processes left
    # running (the run's lock still held by its other units)
    log = (workers.log_dir / "c.log").read_text()
    assert "resumed" in log or "requeued" in log
