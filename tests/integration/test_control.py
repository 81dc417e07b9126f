"""Steering runs on real services: pause, resume, cancel, retry failed, reset failed."""

from __future__ import annotations

import dataclasses

import pytest
from inprocess_runs import run_through_retries  # type: ignore[import-not-found]

from stocksync.context import build_context
from stocksync.errors import InvalidRequest, RunConflict
from stocksync.runs import control
from stocksync.runs import service as runs
from stocksync.runs.execution import run_unit

BODY = {"start_date": "2025-03-03", "end_date": "2025-03-07"}


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, run_id, item_ids):
        self.sent.extend(item_ids)


def start(ctx, body=BODY):
    recorder = Recorder()
    created = runs.create_run(ctx, runs.parse_spec(ctx, body), recorder)
    return created.run_id, recorder


def test_pause_holds_units_and_resume_requeues_them(ctx, oracle):
    run_id, recorder = start(ctx)
    first, *rest = recorder.sent
    assert run_unit(ctx, first).outcome == "success"
    assert control.pause(ctx, run_id)["status"] == "paused"
    assert run_unit(ctx, rest[0]).outcome == "run_inactive"  # a queued message is dropped
    again = Recorder()
    resumed = control.resume(ctx, run_id, again)
    assert resumed["requeued"] == len(rest) and sorted(again.sent) == sorted(rest)
    assert resumed["run"]["status"] == "running" and resumed["run"]["success"] == 1
    for item in again.sent:
        run_unit(ctx, item)
    view = runs.run_view(ctx, run_id)
    assert (view["status"], view["success"]) == ("success", 5)


def test_resume_after_the_workers_died_redoes_what_they_left_running(ctx):
    run_id, recorder = start(ctx)
    from stocksync.runs import ledger

    with ctx.engine.begin() as conn:  # a worker claimed two units, then died
        for item in recorder.sent[:2]:
            ledger.claim_item(conn, item)
    ctx.redis.flushdb()  # and Redis lost the lock and the counters
    again = Recorder()
    resumed = control.resume(ctx, run_id, again)
    assert sorted(again.sent) == sorted(recorder.sent)
    assert resumed["run"]["pending"] == 5  # counters rebuilt from the ledger
    assert ctx.lock.holder().run_id == run_id


def test_retry_failed_gives_failed_units_a_fresh_budget(ctx, make_flaky):
    run_id, recorder = start(ctx, BODY | {"end_date": "2025-03-04"})
    broken = make_flaky(garbage_rate=1.0)
    for item in recorder.sent:
        run_through_retries(broken, item)
    assert runs.run_view(ctx, run_id)["status"] == "failed"
    again = Recorder()
    retried = control.retry_failed(ctx, run_id, again)
    assert retried["reset_failed"] == 2 and sorted(again.sent) == sorted(recorder.sent)
    for item in again.sent:
        assert run_unit(ctx, item).outcome == "success"
    view = runs.run_view(ctx, run_id)
    assert (view["status"], view["success"], view["failed"]) == ("success", 2, 0)


def test_a_retried_unit_counts_its_rows_once_in_redis_and_the_ledger(ctx, make_flaky, oracle):
    """Found by the chaos matrix: a failed unit that kept its good bars went back to pending
    with its rows, the counters rebuilt from the ledger counted them, and its success added
    them again in Redis. A failed unit's rows are the good bars it kept, not its other datasets'."""
    from stocksync.coordination import progress
    from stocksync.runs import ledger

    run_id, recorder = start(ctx, BODY | {"end_date": "2025-03-04"})
    broken = make_flaky(garbage_rate=1.0)  # a corrupted row in every bar reply
    for item in recorder.sent:
        run_through_retries(broken, item)
    with ctx.engine.connect() as conn:
        failed_rows = ledger.rows_written(conn, run_id)
    kept_bars = len(oracle.stored(ctx.engine))
    assert 0 < failed_rows == kept_bars  # the good bars, not factors + valuations
    again = Recorder()
    control.retry_failed(ctx, run_id, again)
    for item in again.sent:
        assert run_unit(ctx, item).outcome == "success"
    with ctx.engine.connect() as conn:
        rows = ledger.rows_written(conn, run_id)
    counters = progress.read(ctx.redis, run_id)
    assert counters is not None and counters.rows == rows == len(oracle.stored(ctx.engine))
    assert runs.run_view(ctx, run_id)["rows_written"] == rows


def test_reset_failed_does_not_run_anything(ctx, make_flaky):
    run_id, recorder = start(ctx, BODY | {"end_date": "2025-03-03"})
    run_through_retries(make_flaky(garbage_rate=1.0), recorder.sent[0])
    assert control.reset_failed(ctx, run_id) == 1
    assert runs.run_view(ctx, run_id)["status"] == "failed"  # still finished: nothing queued


def test_cancel_frees_the_lock_drops_queued_units_and_is_final(ctx):
    run_id, recorder = start(ctx)
    run_unit(ctx, recorder.sent[0])
    view = control.cancel(ctx, run_id)
    assert (view["status"], view["success"], view["pending"]) == ("cancelled", 1, 4)
    assert ctx.lock.holder() is None
    assert run_unit(ctx, recorder.sent[1]).outcome == "run_inactive"
    with pytest.raises(InvalidRequest, match="cancelled"):
        control.resume(ctx, run_id, Recorder())
    other, _ = start(ctx, BODY | {"force": True})  # another run may start now
    assert other != run_id


def test_a_run_left_active_without_its_lock_still_blocks_a_new_one(ctx):
    first, _ = start(ctx)
    control.pause(ctx, first)
    holder = ctx.lock.holder()
    ctx.lock.release(holder.run_id, holder.fence)  # the paused run's lock lapsed
    with pytest.raises(RunConflict) as info:  # exactly one active run, lock or no lock
        start(ctx, BODY | {"force": True})
    assert info.value.active_run_id == first
    assert f"resume it (POST /api/v1/runs/{first}/resume" in str(info.value)
    control.cancel(ctx, first)
    second, _ = start(ctx, BODY | {"force": True})
    with pytest.raises(InvalidRequest):  # and the cancelled one is not taken back beside it
        control.resume(ctx, first, Recorder())
    assert ctx.lock.holder().run_id == second


@pytest.fixture
def make_flaky(ctx, settings):
    made = []

    def build(**sim_changes):
        other = build_context(
            settings.with_overrides(sim=dataclasses.replace(settings.sim, **sim_changes))
        )
        made.append(other)
        return other

    yield build
    for other in made:
        other.close()
