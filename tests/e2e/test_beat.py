"""Two real ``celery beat`` processes and a worker: a schedule's fire time starts exactly one run,
and only one beat sends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from e2e_support import service_env, wait_for  # type: ignore[import-not-found]

from stocksync.runs import service as runs
from stocksync.schedules import definitions as schedules

pytestmark = pytest.mark.e2e

SIM_BODY = {"start_date": "2025-03-03", "end_date": "2025-03-05", "sources": ["sim"]}


def start_beat(settings, log_path):
    log = open(log_path, "ab")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "beat",
         "-S", "workers.beat:StocksyncScheduler", "--loglevel=INFO"],
        env=service_env(settings), cwd=log_path.parent, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def test_two_beats_one_scheduled_run(ctx, settings, workers, tmp_path):
    for name in ("daily", "monthly", "events", "gap_check"):
        schedules.update_schedule(ctx, name, {"enabled": False})
    schedules.update_schedule(ctx, "weekly", {"cron": "* * * * *", "body": SIM_BODY})
    workers.start("w1")
    logs = [tmp_path / "beat-a.log", tmp_path / "beat-b.log"]
    beats = [start_beat(settings, log) for log in logs]

    def scheduled_runs():
        items = runs.list_runs(ctx, page=1, per_page=50)["items"]
        return [r for r in items if r["trigger"] == "schedule:weekly"]

    try:
        wait_for(scheduled_runs, timeout=90, interval=1)
        wait_for(lambda: scheduled_runs()[-1]["status"] == "success", timeout=30)
        time.sleep(6)  # both beats tick (every ≤ 5 s) after the fire time
    finally:
        for beat in beats:
            os.killpg(beat.pid, signal.SIGTERM)
        for beat in beats:
            beat.wait(timeout=20)

    def fired_slots():  # each fired slot's key names its run once the fire is done
        keys = ctx.redis.scan_iter("stocksync:schedule:fired:*")
        values = [ctx.redis.get(k).decode() for k in keys]
        return values if all(v.startswith("run:") for v in values) else None

    fired = wait_for(fired_slots, timeout=30)
    started = scheduled_runs()
    assert [r["status"] for r in started].count("skipped") == 0, started
    assert len(started) == len(fired) >= 1  # one run per fire time, none doubled
    assert sorted(fired) == sorted(f"run:{r['id']}" for r in started)
    texts = [log.read_text() for log in logs]
    senders = [t for t in texts if "Sending due task stocksync.weekly" in t]
    assert len(senders) == 1, texts
    assert sum("standing by" in t for t in texts) == 1, texts
