"""Runs played unit by unit in this process, on the real services (no Celery)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from stocksync.errors import StocksyncError
from stocksync.runs import service as runs
from stocksync.runs.execution import RetryLater, run_unit
from stocksync.storage.schema import securities, sync_items


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, run_id, item_ids):
        self.sent.extend(item_ids)


class PlanHere:
    """A dispatcher that plans a run at once in this process — the work of the
    ``stocksync.plan_run`` task — and hands its units to ``units`` (real messages, or a
    recorder)."""

    def __init__(self, ctx, units) -> None:
        self.ctx, self.units = ctx, units

    def plan(self, run_id):
        try:
            runs.plan_started_run(self.ctx, run_id, self)
        except StocksyncError:
            pass  # recorded on the run, as the task does

    def dispatch(self, run_id, item_ids):
        self.units.dispatch(run_id, item_ids)


def run_through_retries(ctx, item_id, dispatcher=None, *, at_most=10):
    """Run one unit as a worker would, retrying (without the wait) until it ends."""
    for _ in range(at_most):
        try:
            return run_unit(ctx, item_id, dispatcher)
        except RetryLater:
            continue
    raise AssertionError(f"unit {item_id} still retrying after {at_most} attempts")


def run_to_end(ctx, body):
    """Create a run from ``body`` and play every dispatched unit; returns (created, spec)."""
    spec = runs.parse_spec(ctx, {"sources": ["sim"], **body})
    recorder = Recorder()
    created = runs.create_run(ctx, spec, recorder)
    while recorder.sent:
        item = recorder.sent.pop(0)
        assert run_unit(ctx, item, recorder).outcome in ("success", "split", "already_done")
    return created, spec


def units(ctx, run_id):
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(sync_items).where(sync_items.c.run_id == run_id).order_by(sync_items.c.id)
        ).all()
    return rows


def oracle_codes(ctx):
    runs.preview_run(
        ctx, runs.parse_spec(ctx, {"start_date": "2025-03-03", "end_date": "2025-03-03"})
    )  # fills the securities list
    with ctx.engine.connect() as conn:
        return list(
            conn.execute(
                select(securities.c.code).where(
                    securities.c.list_date < dt.date(2024, 1, 1),
                    securities.c.delist_date.is_(None),
                )
            ).scalars()
        )
