"""Steering runs: resume, retry failed units, reset failed units, pause and cancel.

A run that is taken back up (resume, retry) takes the active-run lock with a new fencing
number, so any worker still acting for its previous incarnation cannot write its state.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stocksync.context import Context
from stocksync.coordination import progress
from stocksync.domain import RUN_ACTIVE_STATUSES, ItemStatus, RunStatus
from stocksync.errors import InvalidRequest, RunConflict
from stocksync.runs import claims, ledger
from stocksync.runs.dispatch import Dispatcher
from stocksync.runs.finalize import finalize_run
from stocksync.runs.ledger import RunRecord
from stocksync.runs.service import get_run, rebuild_counters, run_view


def _take_lock(ctx: Context, run: RunRecord, *, take_over: bool = True) -> int:
    """The lock for ``run`` with a new fence; RunConflict when another run holds it, or when
    ``run`` itself still holds it and ``take_over`` is false (a live process works on it)."""
    holder = ctx.lock.holder()
    if holder is not None and (holder.run_id != run.id or not take_over):
        raise RunConflict(holder.run_id)
    with ctx.engine.connect() as conn:
        floor = ledger.max_fence(conn)
    fence = ctx.lock.next_fence(floor=floor)
    if holder is not None:
        ctx.lock.release(holder.run_id, holder.fence)
    if not ctx.lock.acquire(run.id, fence):
        current = ctx.lock.holder()
        raise RunConflict(current.run_id if current else None)
    return fence


def _restart(
    ctx: Context,
    run: RunRecord,
    dispatcher: Dispatcher,
    *,
    retry_failed: bool,
    message: str,
    take_over: bool = True,
) -> dict[str, Any]:
    fence = _take_lock(ctx, run, take_over=take_over)
    if run.status is RunStatus.PLANNING:  # its planner died: plan it again
        with ctx.engine.begin() as conn:
            ledger.update_run(conn, run.id, fence_value=fence, message="planning again")
        dispatcher.plan(run.id)
        return {"run_id": run.id, "requeued": 0, "reset_failed": 0, "run": run_view(ctx, run.id)}
    try:
        dead = _dead_claimers(ctx, run.id)
        with ctx.engine.begin() as conn:
            claims.release_dead_claims(conn, run.id, dead)
            reset = ledger.reset_failed_items(conn, run.id) if retry_failed else 0
            ledger.update_run(
                conn, run.id, status=RunStatus.RUNNING.value, finished_at=None, error=None,
                message=message.format(reset=reset), fence_value=fence,
            )  # fmt: skip
            queued = ledger.unfinished_item_ids(conn, run.id)
    except BaseException:
        ctx.lock.release(run.id, fence)
        raise
    fresh = get_run(ctx, run.id)
    rebuild_counters(ctx, fresh)
    if queued:
        dispatcher.dispatch(run.id, queued)
    else:
        finalize_run(ctx, run.id)
    return {
        "run_id": run.id,
        "requeued": len(queued),
        "reset_failed": reset,
        "run": run_view(ctx, run.id),
    }


def _dead_claimers(ctx: Context, run_id: int) -> set[str]:
    """The processes known dead that claimed units of the run still running (none when their
    liveness cannot be judged: their units are then claimed again like any other)."""
    with ctx.engine.connect() as conn:
        claimers = claims.running_claimers(conn, run_id)
    return (ctx.liveness.dead_among(claimers) or set()) if claimers else set()


def resume(
    ctx: Context, run_id: int, dispatcher: Dispatcher, *, take_over: bool = True
) -> dict[str, Any]:
    """Continue a paused or interrupted run: re-enqueue every unit not yet finished (units a
    dead worker left running included: back to pending, the first such interruption costing
    them no attempt). A finished or cancelled run cannot be resumed. Without ``take_over``
    a run whose lock is held (a live process works on it) is left alone (RunConflict)."""
    run = get_run(ctx, run_id)
    if run.status not in RUN_ACTIVE_STATUSES:
        raise InvalidRequest(
            f"run {run_id} is {run.status}; only a pending, running or paused run resumes "
            "(use retry-failed to redo its failed units)"
        )
    return _restart(
        ctx, run, dispatcher, retry_failed=False, message="resumed", take_over=take_over
    )


def retry_failed(ctx: Context, run_id: int, dispatcher: Dispatcher) -> dict[str, Any]:
    """Put the run's failed units back to pending with a fresh attempt budget and run them."""
    run = get_run(ctx, run_id)
    if run.status is RunStatus.CANCELLED:
        raise InvalidRequest(f"run {run_id} was cancelled; start a new run instead")
    if run.status is RunStatus.SKIPPED:  # a schedule's record of a fire that started nothing
        raise InvalidRequest(f"run {run_id} was skipped and has no units; start a new run")
    return _restart(
        ctx, run, dispatcher, retry_failed=True, message="retrying {reset} failed unit(s)"
    )


def reset_failed(ctx: Context, run_id: int) -> int:
    """Failed units back to pending without running them (the seeds' reset-failed)."""
    run = get_run(ctx, run_id)
    with ctx.engine.begin() as conn:
        count = ledger.reset_failed_items(conn, run.id)
    if run.status in RUN_ACTIVE_STATUSES:
        rebuild_counters(ctx, get_run(ctx, run.id))
    return count


def pause(ctx: Context, run_id: int) -> dict[str, Any]:
    """Stop dispatching: workers put the run's queued units back to pending; resume continues."""
    return _stop(ctx, run_id, RunStatus.PAUSED, release_lock=False)


def cancel(ctx: Context, run_id: int) -> dict[str, Any]:
    """Stop the run for good: queued units are dropped (left pending), running ones finish and
    their writes stay; the lock is released."""
    return _stop(ctx, run_id, RunStatus.CANCELLED, release_lock=True)


def _stop(ctx: Context, run_id: int, status: RunStatus, *, release_lock: bool) -> dict[str, Any]:
    run = get_run(ctx, run_id)
    if run.status not in RUN_ACTIVE_STATUSES:
        raise InvalidRequest(f"run {run_id} is already {run.status}")
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = {"status": status.value, "message": f"{status.value} by request"}
    if status is RunStatus.CANCELLED:
        started = run.started_at or run.created_at
        values |= {"finished_at": now, "duration_s": round((now - started).total_seconds(), 3)}
    with ctx.engine.begin() as conn:
        counts = ledger.item_status_counts(conn, run.id)
        values |= {
            "total": sum(counts.values()),
            "success_count": counts[ItemStatus.SUCCESS],
            "failed_count": counts[ItemStatus.FAILED],
            "skipped_count": counts[ItemStatus.SKIPPED],
            "rows_written": ledger.rows_written(conn, run.id),
        }
        ledger.update_run(conn, run.id, **values)
    if release_lock and run.fence is not None:
        ctx.lock.release(run.id, run.fence)
    return run_view(ctx, run.id)


def recover_stale_runs(ctx: Context, dispatcher: Dispatcher) -> list[int]:
    """Resume the newest run left pending or running whose lock lapsed (every process working
    on it died); returns the ids resumed. Part of :func:`stocksync.runs.recovery.recover`."""
    if ctx.lock.holder() is not None:
        return []  # a live run holds the lock
    with ctx.engine.connect() as conn:
        stale = ledger.runs_with_status(
            conn, (RunStatus.PLANNING, RunStatus.PENDING, RunStatus.RUNNING)
        )
    for run in stale[:1]:  # one active run at a time: the newest one
        try:
            resume(ctx, run.id, dispatcher, take_over=False)  # its lock may be back: leave it
        except RunConflict:
            return []
        return [run.id]
    return []


def clear(ctx: Context, run_id: int) -> dict[str, Any]:
    """Delete a finished run's ledger (the seeds' clear): stored bars stay, and a later run does
    the cleared units again instead of skipping them. An active run must be cancelled first."""
    run = get_run(ctx, run_id)
    if run.status in RUN_ACTIVE_STATUSES:
        raise RunConflict(run.id, f"run {run.id} is {run.status}; cancel it before clearing it")
    with ctx.engine.begin() as conn:
        deleted = ledger.delete_run(conn, run.id)
    progress.forget(ctx.redis, run.id)
    return {"run_id": run.id, "deleted_items": deleted}
