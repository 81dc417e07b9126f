"""Recovery sweeps: taking back up work that died with the processes doing it.

Each sweep costs a few Redis reads while all is well. It does one of two things:

- nobody holds the active-run lock, yet a run is left planning, pending or running (every
  process working on it died, or Redis lost its data): resume that run
  (:func:`stocksync.runs.control.recover_stale_runs`);
- the lock is held, and a worker process that claimed units is known dead (its liveness key
  expired, :mod:`stocksync.coordination.liveness`): put the units it left running back to pending
  and enqueue them again, with the never-claimed units whose messages a dead worker held
  (received, not yet run), while the other workers carry on. Without this such a unit would wait
  for the broker to deliver its message again (the visibility timeout, an hour by default).

Running a unit twice is harmless — rows are upserts, the ledger records per dataset what was
stored, a claim on a finished item does nothing — so a process wrongly judged dead costs only
duplicate work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stocksync.config import Settings
from stocksync.context import Context
from stocksync.domain import RunStatus
from stocksync.runs import claims, ledger
from stocksync.runs.control import recover_stale_runs
from stocksync.runs.dispatch import Dispatcher


@dataclass(frozen=True)
class Recovered:
    """What a sweep did: runs resumed, and units re-enqueued because their process died."""

    resumed: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    run_id: int | None = None  # the run whose units were re-enqueued


def sweep_interval_s(settings: Settings) -> float:
    """How often a worker sweeps: three times per liveness TTL (and so per lock TTL)."""
    return max(0.5, min(settings.lock_ttl_s, settings.liveness_ttl_s) / 3)


def recover(ctx: Context, dispatcher: Dispatcher) -> Recovered:
    """One sweep: resume a run whose lock lapsed, or re-enqueue the active run's units left
    running by processes known dead."""
    holder = ctx.lock.holder()
    if holder is None:
        return Recovered(resumed=recover_stale_runs(ctx, dispatcher))
    dead = ctx.liveness.dead_members()
    if not dead:
        return Recovered()
    requeued = requeue_dead_claims(ctx, holder.run_id, dead, dispatcher)
    ctx.liveness.forget(dead)  # their other runs' claims, if any, are judged again on resume
    return Recovered(requeued=requeued, dead=sorted(dead), run_id=holder.run_id)


def requeue_dead_claims(
    ctx: Context, run_id: int, dead: set[str], dispatcher: Dispatcher
) -> list[int]:
    """Put the units of ``run_id`` (pending or running) that ``dead`` processes left running back
    to pending and enqueue them, with its never-claimed units whose messages they held (a unit
    waiting out a retry countdown is left to the lapsed-lock sweep); returns their ids. A paused
    run's are left to its resume."""
    held = ctx.liveness.held(dead)
    with ctx.engine.begin() as conn:
        run = ledger.get_run(conn, run_id)
        if run is None or run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            return []
        orphans = claims.unclaimed_among(conn, run_id, held)  # their messages died unrun
        requeued = sorted(set(claims.release_dead_claims(conn, run_id, dead)) | set(orphans))
    if requeued:
        dispatcher.dispatch(run_id, requeued)  # after the commit the tasks need
    return requeued
