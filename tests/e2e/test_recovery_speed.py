"""Recovery within one lock TTL: a unit a SIGKILLed worker left running is run again as soon as
its processes' liveness keys expire (while the other workers carry on), and a run whose every
worker died is finished by a new one within about a lock TTL of the kill — never after the
broker's hour-long visibility timeout."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import requests
from e2e_support import Workers, start_api, stop_api, wait_for  # type: ignore[import-not-found]
from sqlalchemy import select

from stocksync.storage.schema import sync_items

pytestmark = pytest.mark.e2e

START, END = dt.date(2025, 1, 2), dt.date(2025, 2, 14)
# Slow units (so a kill lands mid-run); the production visibility timeout (an hour), so only
# the recovery sweep — not a redelivery — can finish the run in time.
SLOW = {"STOCKSYNC_SIM_LATENCY_MS": "500"}
ACTIVE = ("planning", "running", "pending")


def process_group(pgid: int) -> set[int]:
    """The pids of the processes in group ``pgid`` (a worker and its pool children)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after the name: state, ppid, pgrp
            pids.add(int(stat.parent.name))
    return pids


class Cluster:
    """Workers and the API on settings with a short lock TTL."""

    def __init__(self, settings, tmp_path: Path, lock_ttl_s: int) -> None:
        self.settings = settings.with_overrides(lock_ttl_s=lock_ttl_s)
        self.workers = Workers(self.settings, tmp_path)
        self.url, self.api = start_api(self.settings, tmp_path)

    def start_run(self) -> int:
        body = {"start_date": START.isoformat(), "end_date": END.isoformat()}
        return requests.post(f"{self.url}/api/v1/runs", json=body, timeout=60).json()["run_id"]

    def view(self, run_id: int) -> dict:
        return requests.get(f"{self.url}/api/v1/runs/{run_id}", timeout=10).json()

    def wait_finished(self, run_id: int, timeout: float) -> dict:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (v := self.view(run_id))["status"] not in ACTIVE and v, timeout=timeout
        )

    def close(self) -> None:
        self.workers.stop_all()
        stop_api(self.api)


@pytest.fixture
def cluster_factory(settings, tmp_path):
    made: list[Cluster] = []

    def build(lock_ttl_s: int) -> Cluster:
        made.append(Cluster(settings, tmp_path, lock_ttl_s))
        return made[-1]

    yield build
    for cluster in made:
        cluster.close()


def requeued_at(log: Path) -> float:
    """When the worker logging to ``log`` re-enqueued a dead process's units (epoch seconds)."""
    line = next(x for x in log.read_text().splitlines() if "requeued" in x)
    stamp = line[1 : line.index(": ")]  # "[2026-12-01 22:58:24,759: WARNING/…"
    return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time


def items(ctx) -> list[dict]:
    with ctx.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(sync_items))]


def test_a_killed_workers_running_units_are_rerun_at_once_while_others_work(
    ctx, cluster_factory, oracle, tmp_path
):
    lock_ttl = 10  # liveness TTL 2.5 s
    cluster = cluster_factory(lock_ttl)
    cluster.workers.start("survivor", **SLOW)
    victim = cluster.workers.start("victim", **SLOW)
    run_id = cluster.start_run()
    days = oracle.trading_days(START, END)
    wait_for(lambda: cluster.view(run_id)["done"] >= 6, timeout=90)
    victim_pids = process_group(victim.pid)
    cluster.workers.kill(victim)
    killed_at = dt.datetime.now(dt.UTC)
    started, killed_epoch = time.monotonic(), time.time()
    in_flight = {
        i["id"]
        for i in items(ctx)
        if i["status"] == "running" and int(i["claimed_by"].split(":")[1]) in victim_pids
    }
    assert in_flight, "the victim died holding no unit"

    final = cluster.wait_finished(run_id, timeout=lock_ttl + 30)
    took = time.monotonic() - started
    assert final["status"] == "success", final
    assert (final["success"], final["failed"]) == (len(days), 0)
    stored = oracle.stored(ctx.engine)
    assert len(stored) == len(oracle.expected(days)) and set(stored) == oracle.expected(days)
    by_id = {i["id"]: i for i in items(ctx)}
    for item_id in in_flight:  # run again by the survivor, at no attempt's cost
        redone = by_id[item_id]
        assert (redone["status"], redone["attempts"], redone["interruptions"]) == ("success", 1, 1)
        assert int(redone["claimed_by"].split(":")[1]) not in victim_pids
        rerun_after = (redone["finished_at"] - killed_at).total_seconds()
        assert rerun_after < lock_ttl + 30, rerun_after  # not the visibility timeout (1 h)
    assert max(i["attempts"] for i in by_id.values()) == 1
    requeued_after = requeued_at(tmp_path / "survivor.log") - killed_epoch
    # known dead one liveness TTL after the kill, noticed by the next sweep
    assert requeued_after < cluster.settings.liveness_ttl_s + 3, requeued_after
    print(
        f"\none of two workers killed: its units requeued {requeued_after:.1f} s and the run "
        f"finished {took:.1f} s after the kill"
    )


@pytest.mark.parametrize("lock_ttl", [20, 60])
def test_every_worker_killed_a_new_one_finishes_within_a_lock_ttl(
    ctx, cluster_factory, oracle, lock_ttl
):
    cluster = cluster_factory(lock_ttl)
    first = [
        cluster.workers.start("a", **SLOW),
        cluster.workers.start("b", concurrency=1, **SLOW),
    ]
    run_id = cluster.start_run()
    wait_for(lambda: cluster.view(run_id)["done"] >= 4, timeout=90)
    for proc in first:
        cluster.workers.kill(proc)
    started = time.monotonic()
    with ctx.engine.connect() as conn:
        left_running = conn.execute(
            select(sync_items.c.id).where(sync_items.c.status == "running")
        ).all()
    assert left_running  # they died holding work

    cluster.workers.start("c", **SLOW)
    final = cluster.wait_finished(run_id, timeout=lock_ttl + 30)
    took = time.monotonic() - started
    assert final["status"] == "success", final
    days = oracle.trading_days(START, END)
    stored = oracle.stored(ctx.engine)
    assert len(stored) == len(oracle.expected(days)) and set(stored) == oracle.expected(days)
    assert max(i["attempts"] for i in items(ctx)) == 1  # the dead workers' claims cost nothing
    print(f"\nall workers killed (lock TTL {lock_ttl} s): run finished {took:.1f} s after the kill")
