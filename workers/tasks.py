"""Celery tasks: convert arguments, call one stocksync service, return. Names are stable."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import Task

from stocksync.runs import control
from stocksync.runs.execution import RetryLater, run_unit
from stocksync.schedules import firing as scheduling
from workers.app import app
from workers.dispatch import CeleryDispatcher
from workers.runtime import get_context


@app.task(
    name="stocksync.sync_unit",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # stocksync counts attempts itself (sync_items.attempts)
)
def sync_unit(self: Task, item_id: int, run_id: int | None = None) -> dict[str, Any]:
    """Run one unit of work of a run. ``run_id`` is informational (shown in Flower)."""
    try:
        outcome = run_unit(get_context(), int(item_id), CeleryDispatcher(app))
    except RetryLater as later:
        raise self.retry(countdown=later.countdown, exc=later, max_retries=None) from later
    return {"item_id": item_id, "outcome": outcome.outcome, "rows": outcome.rows}


@app.task(name="stocksync.retry_failed", acks_late=True, reject_on_worker_lost=True)
def retry_failed(run_id: int) -> dict[str, Any]:
    """Re-run a run's failed units: ``celery -A workers call stocksync.retry_failed
    --args='[RUN_ID]'``."""
    outcome = control.retry_failed(get_context(), int(run_id), CeleryDispatcher(app))
    return {"run_id": run_id, "requeued": outcome["requeued"]}


@app.task(name="stocksync.resume_run", acks_late=True, reject_on_worker_lost=True)
def resume_run(run_id: int) -> dict[str, Any]:
    """Continue a paused or interrupted run."""
    outcome = control.resume(get_context(), int(run_id), CeleryDispatcher(app))
    return {"run_id": run_id, "requeued": outcome["requeued"]}


@app.task(name="stocksync.fire_schedule", acks_late=True, reject_on_worker_lost=True)
def fire_schedule(name: str, slot: str) -> dict[str, Any]:
    """Start schedule ``name``'s run for fire time ``slot`` (ISO 8601, sent by beat); a slot
    already fired does nothing."""
    return scheduling.fire_schedule(
        get_context(), str(name), dt.datetime.fromisoformat(slot), CeleryDispatcher(app)
    )
