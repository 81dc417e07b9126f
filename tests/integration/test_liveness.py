"""Worker liveness on real Redis, and the recovery of units a dead process left running."""

from __future__ import annotations

import dataclasses
import time

from sqlalchemy import select

from stocksync.coordination.liveness import Liveness, ProcessBeat
from stocksync.runs import claims, control, ledger
from stocksync.runs import service as runs
from stocksync.runs.execution import run_unit
from stocksync.runs.recovery import recover
from stocksync.storage.schema import sync_items

BODY = {"start_date": "2025-03-03", "end_date": "2025-03-07"}
TTL_S = 4  # lock TTL of these tests: a liveness TTL of 2 s


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def plan(self, run_id):
        raise AssertionError("nothing is planned here")

    def dispatch(self, run_id, item_ids):
        self.sent.extend(item_ids)


def quick(ctx):
    """The same services with a 4 s lock TTL (so a 2 s liveness TTL)."""
    return dataclasses.replace(ctx, settings=ctx.settings.with_overrides(lock_ttl_s=TTL_S))


def item(ctx, item_id):
    with ctx.engine.connect() as conn:
        row = conn.execute(select(sync_items).where(sync_items.c.id == item_id)).one()
    return row._mapping


def claim(ctx, item_id, by):
    with ctx.engine.begin() as conn:
        assert ledger.claim_item(conn, item_id, claimed_by=by) is not None


def test_a_process_is_dead_once_its_key_expires_and_only_then(ctx):
    alive = Liveness(ctx.redis, ttl_s=1)
    beating = ProcessBeat(alive).start()
    try:
        alive.beat("ghost")  # beats once, then dies
        assert alive.dead_among(["ghost", beating.identity]) is None  # Redis just lost its keys
        time.sleep(1.5)  # one TTL: warmed up; the ghost's key expired, the beating one renewed
        assert alive.dead_among(["ghost", beating.identity]) == {"ghost"}
        assert alive.dead_members() == {"ghost"}
        alive.forget({"ghost"})
        assert alive.dead_members() == set()
    finally:
        beating.stop()
    assert beating.identity not in alive.dead_members()  # a clean exit is forgotten
    ctx.redis.flushdb()  # Redis loses its data: nobody is judged until a TTL has passed
    alive.beat("other")
    assert alive.dead_among(["ghost"]) is None


def test_units_of_a_dead_process_run_again_at_once_while_others_keep_working(ctx):
    fast = quick(ctx)
    created = runs.create_run(fast, runs.parse_spec(fast, BODY), Recorder())
    first, second, third, fourth, *_ = sorted(ledger_ids(fast, created.run_id))
    live = ProcessBeat(fast.liveness).start()
    try:
        fast.liveness.beat("host:1:dead")
        claim(fast, first, "host:1:dead")
        claim(fast, second, live.identity)
        fast.liveness.beat("host:0:dead")  # a dead worker's main process, holding messages:
        for held in (third, fourth, fourth, second):
            fast.liveness.hold("host:0:dead", held, for_s=60)
        fast.liveness.let_go("host:0:dead", fourth)  # one of the two was done (retried)
        assert recover(fast, Recorder()).requeued == []  # nobody is dead yet
        time.sleep(fast.settings.liveness_ttl_s + 0.5)
        again = Recorder()
        done = recover(fast, again)
        assert done.dead == ["host:0:dead", "host:1:dead"]
        # its claim, and the pending units whose messages died (not the one running elsewhere)
        assert done.requeued == again.sent == [first, third, fourth]
        assert done.resumed == [] and fast.lock.holder().run_id == created.run_id
        row = item(fast, first)
        assert (row["status"], row["attempts"], row["interruptions"]) == ("pending", 0, 1)
        assert "host:1:dead died" in row["error"]
        assert item(fast, second)["status"] == "running"  # its process is alive
        assert recover(fast, Recorder()).requeued == []  # dealt with once
        outcome = run_unit(fast, first, claimer=live.identity)
        assert outcome.outcome == "success" and item(fast, first)["attempts"] == 1
    finally:
        live.stop()


def test_only_the_first_interruption_is_free(ctx):
    created = runs.create_run(ctx, runs.parse_spec(ctx, BODY), Recorder())
    unit = min(ledger_ids(ctx, created.run_id))
    for expected_attempts in (0, 1, 2):
        claim(ctx, unit, "host:2:dies")
        with ctx.engine.begin() as conn:
            assert claims.release_dead_claims(conn, created.run_id, {"host:2:dies"}) == [unit]
        assert item(ctx, unit)["attempts"] == expected_attempts
    claim(ctx, unit, "host:3:took-over")  # a claim taken over since is not released
    with ctx.engine.begin() as conn:
        assert claims.release_dead_claims(conn, created.run_id, {"host:2:dies"}) == []


def test_resuming_a_run_whose_workers_all_died_refunds_their_claims(ctx):
    fast = quick(ctx)
    created = runs.create_run(fast, runs.parse_spec(fast, BODY), Recorder())
    ids = sorted(ledger_ids(fast, created.run_id))
    fast.liveness.beat("host:4:dead")
    claim(fast, ids[0], "host:4:dead")
    claim(fast, ids[1], None)  # claimed by no known process: claimed again, as before
    holder = fast.lock.holder()
    fast.lock.release(holder.run_id, holder.fence)  # the lock lapsed
    time.sleep(fast.settings.liveness_ttl_s + 0.5)
    again = Recorder()
    assert recover(fast, again).resumed == [created.run_id]
    assert sorted(again.sent) == ids
    assert (item(fast, ids[0])["status"], item(fast, ids[0])["attempts"]) == ("pending", 0)
    assert (item(fast, ids[1])["status"], item(fast, ids[1])["attempts"]) == ("running", 1)
    control.pause(fast, created.run_id)  # tidy: nothing else runs it


def ledger_ids(ctx, run_id):
    with ctx.engine.connect() as conn:
        return ledger.unfinished_item_ids(conn, run_id)
