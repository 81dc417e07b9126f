"""Creating a run, in two steps that keep sources off the request path.

1. :func:`start_run` decides a conflict first (409), checks the request against the stored
   reference data, records the run as ``planning`` and takes the active-run lock. It asks no
   source, so ``POST /api/v1/runs`` answers 202 at once.
2. :func:`plan_started_run` (the ``stocksync.plan_run`` task) fetches what reference data is
   missing — the securities list, the calendar — with no transaction open, then plans and
   writes every unit in one transaction, and dispatches them.

:func:`create_run` does both in the caller's process (the CLI, schedules); :func:`preview_run`
plans without recording anything.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from stocksync.context import Context
from stocksync.coordination import progress
from stocksync.coordination.lock import Heartbeat
from stocksync.datasets import FACT_DATASETS, securities, trade_calendar
from stocksync.datasets.bars import latest_bar_dates
from stocksync.datasets.index_bars import latest_index_bar_dates
from stocksync.datasets.indices import indices_within
from stocksync.datasets.refresh import (
    dates_by_period,
    ensure_calendars,
    ensure_securities,
    refresh_securities,
)
from stocksync.domain import RUN_ACTIVE_STATUSES, DatasetName, Period, RunStatus
from stocksync.errors import InvalidRequest, RunConflict, StocksyncError
from stocksync.runs import ledger
from stocksync.runs.coverage import Coverage
from stocksync.runs.dispatch import Dispatcher
from stocksync.runs.finalize import finalize_run
from stocksync.runs.finished_work import finished_coverage
from stocksync.runs.ledger import RunRecord
from stocksync.runs.planning import Plan, plan_run, planned_periods
from stocksync.runs.spec import RunSpec
from stocksync.runs.units import symbols_scope
from stocksync.sources.base import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedRun:
    run_id: int
    total: int
    pending: int
    skipped: int
    expected_calls: int
    eta_s: float
    status: str = RunStatus.RUNNING.value


def _usable(ctx: Context, spec: RunSpec) -> list[Source]:
    sources = [ctx.sources.get(name) for name in spec.sources]
    return [s for s in sources if not ctx.breaker.is_open(s.name)] or sources


def gather_reference(ctx: Context, spec: RunSpec) -> None:
    """Fetch the reference data ``spec`` needs and the store lacks (the securities list; the
    calendar over the range), asking sources with no transaction open."""
    usable = _usable(ctx, spec)
    if spec.wants(DatasetName.SECURITIES):
        refresh_securities(ctx.engine, usable)
    ensure_securities(ctx.engine, usable)
    periods = planned_periods(spec)
    if periods:
        ensure_calendars(ctx.engine, usable, periods, spec.start_date, spec.end_date)


def check_stored(conn: Connection, spec: RunSpec) -> None:
    """Refuse what the stored reference data already shows cannot run: unknown codes, a range
    without a trading day. (Nothing stored yet: planning decides.)"""
    if spec.symbols is not None and securities.count_securities(conn) > 0:
        _known_symbols(conn, spec)
    days = (spec.end_date - spec.start_date).days + 1
    known = trade_calendar.stored_calendar_days(conn, spec.start_date, spec.end_date) >= days
    if known and spec.kind == "range" and planned_periods(spec):
        dates = dates_by_period(conn, planned_periods(spec), spec.start_date, spec.end_date)
        if not any(dates.values()):
            _nothing_to_sync(spec)


def _known_symbols(conn: Connection, spec: RunSpec) -> list[Any]:
    assert spec.symbols is not None
    universe = securities.load_securities(conn, spec.symbols)
    missing = sorted(set(spec.symbols) - {s.code for s in universe})
    if missing:
        shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise InvalidRequest(f"unknown stock code(s): {shown}", field="symbols")
    return universe


def _nothing_to_sync(spec: RunSpec) -> None:
    raise InvalidRequest(
        f"nothing to sync: no trading days between {spec.start_date} and {spec.end_date}"
        " for the requested periods",
        field="start_date",
    )


def plan_units(ctx: Context, conn: Connection, spec: RunSpec) -> Plan:
    """Plan ``spec`` from the stored reference data and ledger (no source is asked)."""
    universe = _known_symbols(conn, spec) if spec.symbols else securities.load_securities(conn)
    periods = planned_periods(spec)
    period_dates = dates_by_period(conn, periods, spec.start_date, spec.end_date)
    indices = [(i.code, first, last) for i, first, last
               in indices_within(spec.start_date, spec.end_date)]  # fmt: skip
    starts: dict[Period, dict[str, dt.date]] = {}
    if spec.from_last_bar:
        for period in periods:
            latest = latest_bar_dates(conn, period.value, spec.symbols)
            latest |= latest_index_bar_dates(conn, period.value)
            starts[period] = {c: d + dt.timedelta(days=1) for c, d in latest.items()}

    def coverage(period: Period, dataset: DatasetName) -> Coverage:
        of_stocks = FACT_DATASETS[dataset].subjects == "stocks"
        return finished_coverage(
            conn, period=period, dataset=dataset, codes=spec.symbols if of_stocks else None,
            start=spec.start_date, end=spec.end_date, scope=symbols_scope(spec.symbols),
        )  # fmt: skip

    return plan_run(
        spec,
        period_dates=period_dates,
        universe=universe,
        sources=_usable(ctx, spec),
        parallelism=ctx.settings.worker_concurrency,
        stock_starts=starts,
        coverage=None if spec.force else coverage,
        indices=indices,
    )


def preview_run(ctx: Context, spec: RunSpec) -> dict[str, Any]:
    """What running ``spec`` would do: units, how many are already done, calls, an ETA, and
    which requested datasets no configured source serves."""
    gather_reference(ctx, spec)
    with ctx.engine.connect() as conn:
        plan = plan_units(ctx, conn, spec)
    return {
        "units": len(plan.units),
        "already_done": len(plan.covered),
        "expected_calls": plan.expected_calls,
        "eta_s": round(plan.eta_s, 1),
        "shapes": {p.value: s.value for p, s in plan.shapes.items()},
        "datasets": _planned_datasets(plan),
        "unserved": plan.unserved,
    }


def _planned_datasets(plan: Plan) -> dict[str, int]:
    """How many units still fetch each dataset."""
    counts: dict[str, int] = {}
    for unit in plan.units:
        if unit.unit_key in plan.covered:
            continue
        for name in unit.datasets:
            counts[name.value] = counts.get(name.value, 0) + 1
    return counts


def start_run(ctx: Context, spec: RunSpec, *, trigger: str = "api") -> int:
    """Record a run as ``planning`` and take the active-run lock, asking no source; returns
    its id. RunConflict (decided first) when another run is active; InvalidRequest when the
    stored reference data shows the request cannot run."""
    _refuse_if_active(ctx)
    with ctx.engine.begin() as conn:
        check_stored(conn, spec)
        fence = ctx.lock.next_fence(floor=ledger.max_fence(conn))
        run_id = ledger.insert_run(
            conn, spec, status=RunStatus.PLANNING, fence=fence, message="planning",
            trigger=trigger,
        )  # fmt: skip
        if not ctx.lock.acquire(run_id, fence):
            holder = ctx.lock.holder()
            raise RunConflict(holder.run_id if holder else None)  # rolls the run back
    return run_id


def _refuse_if_active(ctx: Context) -> None:
    """RunConflict when another run holds the lock, or is still active in the ledger although
    nobody holds it (its workers died, or it is paused): exactly one run may be active."""
    holder = ctx.lock.holder()
    if holder is not None:
        raise RunConflict(holder.run_id)
    with ctx.engine.connect() as conn:
        active = ledger.runs_with_status(conn, tuple(RUN_ACTIVE_STATUSES))
    if active:
        run = active[0]
        raise RunConflict(
            run.id,
            f"run {run.id} is still {run.status} but no worker is working on it (its workers "
            f"stopped, or it was paused): resume it (POST /api/v1/runs/{run.id}/resume, "
            f"stocksync resume {run.id}) or cancel it before starting another",
        )


def plan_started_run(ctx: Context, run_id: int, dispatcher: Dispatcher) -> CreatedRun | None:
    """Plan a run :func:`start_run` recorded: fetch missing reference data (no transaction
    open), write its units in one transaction, count them, dispatch the pending ones. A run
    no longer ``planning`` (cancelled, or planned by an earlier delivery) is left alone (None).
    A plan that fails marks the run failed, frees the lock and raises."""
    with ctx.engine.connect() as conn:
        run = ledger.get_run(conn, run_id)
    if run is None or run.status is not RunStatus.PLANNING or run.fence is None:
        return None
    try:
        with Heartbeat(ctx.lock, run.id, run.fence):
            gather_reference(ctx, run.spec)
            with ctx.engine.begin() as conn:
                plan = plan_units(ctx, conn, run.spec)
                if not plan.units and run.spec.kind == "range" and planned_periods(run.spec):
                    _nothing_to_sync(run.spec)
                if not _still_planning(conn, run):
                    return None
                ledger.insert_items(conn, run.id, plan.units, plan.covered)
                ledger.update_run(  # planned: a concurrent planner now leaves it alone
                    conn, run.id, fence=run.fence, status=RunStatus.PENDING.value,
                    total=len(plan.units), skipped_count=len(plan.covered),
                )  # fmt: skip
    except StocksyncError as exc:
        _stopped_planning(ctx, run, RunStatus.FAILED, f"planning failed: {exc}", error=str(exc))
        raise
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C or SIGTERM where it is being planned
        _stopped_planning(ctx, run, RunStatus.CANCELLED, "interrupted while planning")
        raise
    return _launch(ctx, run, plan, dispatcher)


def _still_planning(conn: Connection, run: RunRecord) -> bool:
    """Whether ``run`` is still ours to plan: planning, under the fence we read (the row is
    locked until the plan commits, so of two planners the second sees the first's plan)."""
    current = ledger.get_run(conn, run.id, for_update=True)
    return (
        current is not None and current.status is RunStatus.PLANNING and current.fence == run.fence
    )


def _launch(ctx: Context, run: RunRecord, plan: Plan, dispatcher: Dispatcher) -> CreatedRun:
    """Counters first, then the queue (never enqueue before the commit)."""
    done = len(plan.covered)
    progress.initialise(ctx.redis, run.id, total=len(plan.units), skipped=done)
    with ctx.engine.begin() as conn:
        pending = ledger.pending_item_ids(conn, run.id)
        not_synced = "; ".join(f"not synced: {name} ({why})" for name, why in plan.unserved.items())
        message = f"{len(pending)} units queued, {done} already synced" + (
            f"; {not_synced}" if not_synced else ""
        )
        ledger.update_run(
            conn, run.id, fence=run.fence, status=RunStatus.RUNNING.value,
            started_at=dt.datetime.now(dt.UTC), message=message,
        )  # fmt: skip
    if pending:
        dispatcher.dispatch(run.id, pending)
    else:
        finalize_run(ctx, run.id)
    return CreatedRun(
        run_id=run.id, total=len(plan.units), pending=len(pending), skipped=done,
        expected_calls=plan.expected_calls, eta_s=round(plan.eta_s, 1),
    )  # fmt: skip


def _stopped_planning(
    ctx: Context, run: RunRecord, status: RunStatus, message: str, *, error: str | None = None
) -> None:
    now = dt.datetime.now(dt.UTC)
    with ctx.engine.begin() as conn:
        ledger.update_run(
            conn, run.id, fence=run.fence, status=status.value, finished_at=now, error=error,
            message=message,
        )  # fmt: skip
    ctx.lock.release(run.id, run.fence or 0)
    log.warning("run %s: %s", run.id, message)


def create_run(
    ctx: Context, spec: RunSpec, dispatcher: Dispatcher, *, trigger: str = "api"
) -> CreatedRun:
    """Start and plan a run in this process: :func:`prepare_run`, then the run is recorded,
    planned and dispatched. RunConflict when another run is active, InvalidRequest for bad
    input."""
    prepare_run(ctx, spec)
    run_id = start_run(ctx, spec, trigger=trigger)
    created = plan_started_run(ctx, run_id, dispatcher)
    if created is None:  # cancelled while it was being planned
        return CreatedRun(run_id, 0, 0, 0, 0, 0.0, status=RunStatus.CANCELLED.value)
    return created


def prepare_run(ctx: Context, spec: RunSpec) -> None:
    """What a run started in this process checks before it is recorded: a conflict first, then
    the reference data is fetched and bad input refused (nothing is recorded if that fails)."""
    _refuse_if_active(ctx)
    gather_reference(ctx, spec)
    with ctx.engine.connect() as conn:  # refuse bad input before anything is recorded
        if spec.symbols:
            _known_symbols(conn, spec)
        if spec.kind == "range" and planned_periods(spec):
            dates = dates_by_period(conn, planned_periods(spec), spec.start_date, spec.end_date)
            if not any(dates.values()):
                _nothing_to_sync(spec)
