"""Celery tasks: convert arguments, call one stocksync service, return. Names are stable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import Task

from stocksync.config import get_settings
from stocksync.errors import StocksyncError
from stocksync.runs import control
from stocksync.runs import service as runs
from stocksync.runs.execution import (
    OUTAGE_ERRORS,
    RetryLater,
    ServiceOutage,
    backoff_seconds,
    run_unit,
)
from stocksync.schedules import firing as scheduling
from workers.app import app
from workers.dispatch import CeleryDispatcher
from workers.runtime import claimer, get_context, let_go


def outage_countdown(retries: int) -> float:
    """Seconds before a task interrupted by a PostgreSQL or Redis outage runs again: exponential
    with jitter, capped at the retry backoff cap (which settings keep below half the broker's
    visibility timeout, so the waiting message is never delivered twice)."""
    s = get_settings()
    cap = min(s.retry_backoff_max_s, s.visibility_timeout_s / 2)
    return max(0.1, backoff_seconds(retries + 1, s.retry_backoff_s, cap))


# The other tasks are retried declaratively through an outage (none of them counts attempts),
# never waiting as long as half the visibility timeout.
_OUTAGE_RETRY: dict[str, Any] = {
    "autoretry_for": OUTAGE_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": max(1, int(min(60, get_settings().visibility_timeout_s // 2))),
    "retry_jitter": True,
    "max_retries": 30,
}


@app.task(
    name="stocksync.sync_unit",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # stocksync counts attempts itself (sync_items.attempts)
)
def sync_unit(
    self: Task, item_id: int, run_id: int | None = None, attempt_owed: bool = False
) -> dict[str, Any]:
    """Run one unit of work of a run. ``run_id`` is informational (shown in Flower).

    Through a PostgreSQL or Redis outage the message is not dropped: the unit runs again with
    backoff, and an attempt its claim counted before the outage is not counted again
    (``attempt_owed``)."""
    args = {"item_id": item_id, "run_id": run_id}
    try:
        outcome = run_unit(
            get_context(),
            int(item_id),
            CeleryDispatcher(app),
            attempt_owed=bool(attempt_owed),
            claimer=claimer(),
        )
    except RetryLater as later:
        raise self.retry(countdown=later.countdown, exc=later, kwargs=args) from later
    except ServiceOutage as outage:
        owed = {**args, "attempt_owed": outage.attempt_owed}
        countdown = outage_countdown(self.request.retries)
        raise self.retry(countdown=countdown, exc=outage, kwargs=owed) from outage
    except OUTAGE_ERRORS as exc:  # before the unit started (building the context)
        owed = {**args, "attempt_owed": bool(attempt_owed)}
        countdown = outage_countdown(self.request.retries)
        raise self.retry(countdown=countdown, exc=exc, kwargs=owed) from exc
    finally:
        let_go(int(item_id))  # this message is done (a retry is a new one)
    return {"item_id": item_id, "outcome": outcome.outcome, "rows": outcome.rows}


@app.task(
    name="stocksync.retry_failed", acks_late=True, reject_on_worker_lost=True, **_OUTAGE_RETRY
)
def retry_failed(run_id: int) -> dict[str, Any]:
    """Re-run a run's failed units: ``celery -A workers call stocksync.retry_failed
    --args='[RUN_ID]'``."""
    outcome = control.retry_failed(get_context(), int(run_id), CeleryDispatcher(app))
    return {"run_id": run_id, "requeued": outcome["requeued"]}


@app.task(name="stocksync.resume_run", acks_late=True, reject_on_worker_lost=True, **_OUTAGE_RETRY)
def resume_run(run_id: int) -> dict[str, Any]:
    """Continue a paused or interrupted run."""
    outcome = control.resume(get_context(), int(run_id), CeleryDispatcher(app))
    return {"run_id": run_id, "requeued": outcome["requeued"]}


@app.task(
    name="stocksync.fire_schedule", acks_late=True, reject_on_worker_lost=True, **_OUTAGE_RETRY
)
def fire_schedule(name: str, slot: str) -> dict[str, Any]:
    """Start schedule ``name``'s run for fire time ``slot`` (ISO 8601, sent by beat); a slot
    already fired does nothing."""
    return scheduling.fire_schedule(
        get_context(), str(name), dt.datetime.fromisoformat(slot), CeleryDispatcher(app)
    )


@app.task(name="stocksync.plan_run", acks_late=True, reject_on_worker_lost=True, **_OUTAGE_RETRY)
def plan_run(run_id: int) -> dict[str, Any]:
    """Plan a run the API recorded as ``planning``: reference data, its units, dispatch. A plan
    that cannot be made is recorded on the run (failed, with the reason)."""
    try:
        created = runs.plan_started_run(get_context(), int(run_id), CeleryDispatcher(app))
    except StocksyncError as exc:
        return {"run_id": run_id, "outcome": "failed", "error": str(exc)}
    if created is None:
        return {"run_id": run_id, "outcome": "not planning"}
    return {"run_id": run_id, "outcome": "planned", "units": created.total}
