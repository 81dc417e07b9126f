"""Run services: create a run (validate → plan → lock → ledger → dispatch) and report on runs."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

import redis

from stocksync.context import Context
from stocksync.coordination import progress
from stocksync.datasets import securities as reference
from stocksync.datasets.bars import latest_bar_date, latest_bar_dates
from stocksync.datasets.refresh import dates_by_period, ensure_securities, refresh_securities
from stocksync.domain import RUN_ACTIVE_STATUSES, DatasetName, ItemStatus, Period, RunStatus
from stocksync.errors import InvalidRequest, NotFound, RunConflict
from stocksync.runs import ledger, ledger_views
from stocksync.runs.coverage import Coverage
from stocksync.runs.dispatch import Dispatcher
from stocksync.runs.finalize import finalize_run
from stocksync.runs.finished_work import finished_coverage
from stocksync.runs.ledger import RunRecord
from stocksync.runs.planning import Plan, plan_run, planned_periods
from stocksync.runs.spec import RunSpec, parse_run_request
from stocksync.runs.units import symbols_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedRun:
    run_id: int
    total: int
    pending: int
    skipped: int
    expected_calls: int
    eta_s: float


def parse_spec(ctx: Context, body: object) -> RunSpec:
    """Validate a run request body against the configured sources, today's date, the range cap
    and (for incremental runs) the newest stored bars."""

    def latest_stored(periods: tuple[Period, ...], symbols: tuple[str, ...] | None) -> Any:
        """The whole market: its newest stored bar. Chosen stocks: the oldest of their own
        newest bars (each stock then starts after its own, see _plan)."""
        with ctx.engine.connect() as conn:
            if symbols is None:
                dates = [latest_bar_date(conn, p.value) for p in periods]
            else:
                per_code = [latest_bar_dates(conn, p.value, symbols) for p in periods]
                dates = [min(found.values()) if found else None for found in per_code]
        return None if any(d is None for d in dates) else min(dates)  # type: ignore[type-var]

    return parse_run_request(
        body,
        known_sources=ctx.sources.known,
        default_sources=ctx.sources.names,
        today=ctx.today(),
        max_range_days=ctx.settings.max_range_days,
        latest_stored=latest_stored,
        incremental_default_days=ctx.settings.incremental_default_days,
    )


def _plan(ctx: Context, conn: Any, spec: RunSpec) -> Plan:
    sources = [ctx.sources.get(name) for name in spec.sources]
    usable = [s for s in sources if not ctx.breaker.is_open(s.name)] or sources
    if spec.wants("securities"):
        refresh_securities(conn, usable)
    ensure_securities(conn, usable)
    if spec.symbols is not None:
        universe = reference.load_securities(conn, spec.symbols)
        missing = sorted(set(spec.symbols) - {s.code for s in universe})
        if missing:
            shown = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
            raise InvalidRequest(f"unknown stock code(s): {shown}", field="symbols")
    else:
        universe = reference.load_securities(conn)
    periods = planned_periods(spec)
    period_dates = dates_by_period(conn, usable, periods, spec.start_date, spec.end_date)
    starts: dict[Period, dict[str, dt.date]] = {}
    if spec.from_last_bar:
        codes = spec.symbols
        for period in periods:
            latest = latest_bar_dates(conn, period.value, codes)
            starts[period] = {c: d + dt.timedelta(days=1) for c, d in latest.items()}

    def coverage(period: Period, dataset: DatasetName) -> Coverage:
        return finished_coverage(
            conn, period=period, dataset=dataset, codes=spec.symbols, start=spec.start_date,
            end=spec.end_date, scope=symbols_scope(spec.symbols),
        )  # fmt: skip

    return plan_run(
        spec,
        period_dates=period_dates,
        universe=universe,
        sources=usable,
        parallelism=ctx.settings.worker_concurrency,
        stock_starts=starts,
        coverage=None if spec.force else coverage,
    )


def done_unit_keys(conn: Any, spec: RunSpec, plan: Plan) -> set[str]:
    """Keys of the plan's units whose every dataset earlier runs stored (none when
    ``force``)."""
    return set() if spec.force else set(plan.covered)


def preview_run(ctx: Context, spec: RunSpec) -> dict[str, Any]:
    """What running ``spec`` would do: units, how many are already done, calls, an ETA, and
    which requested datasets no configured source serves."""
    with ctx.engine.begin() as conn:
        plan = _plan(ctx, conn, spec)
        done = done_unit_keys(conn, spec, plan)
    return {
        "units": len(plan.units),
        "already_done": len(done),
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


def plan_keys(plan: Plan) -> list[str]:
    return [u.unit_key for u in plan.units]


def create_run(
    ctx: Context, spec: RunSpec, dispatcher: Dispatcher, *, trigger: str = "api"
) -> CreatedRun:
    """Plan ``spec``, take the active-run lock, record the run and its items, and dispatch the
    pending ones. Raises RunConflict when another run is active, InvalidRequest for bad input.
    ``trigger`` records what started the run ("api", "cli", "schedule:daily")."""
    with ctx.engine.begin() as conn:
        plan = _plan(ctx, conn, spec)
        if not plan.units and spec.kind == "range" and planned_periods(spec):
            raise InvalidRequest(
                f"nothing to sync: no trading days between {spec.start_date} and {spec.end_date}"
                " for the requested periods",
                field="start_date",
            )
        done = done_unit_keys(conn, spec, plan)
        fence = ctx.lock.next_fence(floor=ledger.max_fence(conn))
        run_id = ledger.insert_run(
            conn, spec, status=RunStatus.PENDING, fence=fence, message="planned", trigger=trigger
        )
        if not ctx.lock.acquire(run_id, fence):
            holder = ctx.lock.holder()
            raise RunConflict(holder.run_id if holder else None)
        try:
            ledger.insert_items(conn, run_id, plan.units, done)
            ledger.update_run(conn, run_id, total=len(plan.units), skipped_count=len(done))
        except BaseException:
            ctx.lock.release(run_id, fence)
            raise
    # Committed: now the counters, then the queue (never enqueue before the commit).
    progress.initialise(ctx.redis, run_id, total=len(plan.units), skipped=len(done))
    with ctx.engine.begin() as conn:
        pending = ledger.pending_item_ids(conn, run_id)
        ledger.update_run(
            conn,
            run_id,
            fence=fence,
            status=RunStatus.RUNNING.value,
            started_at=dt.datetime.now(dt.UTC),
            message=f"{len(pending)} units queued, {len(done)} already synced",
        )
    if pending:
        dispatcher.dispatch(run_id, pending)
    else:
        finalize_run(ctx, run_id)
    return CreatedRun(
        run_id=run_id,
        total=len(plan.units),
        pending=len(pending),
        skipped=len(done),
        expected_calls=plan.expected_calls,
        eta_s=round(plan.eta_s, 1),
    )


def get_run(ctx: Context, run_id: int) -> RunRecord:
    with ctx.engine.connect() as conn:
        run = ledger.get_run(conn, run_id)
    if run is None:
        raise NotFound(f"run {run_id} does not exist")
    return run


def live_counters(ctx: Context, run: RunRecord) -> progress.Counters:
    """The run's counters from Redis, rebuilt from the ledger if Redis lost them. A finished
    run reports its stored totals."""
    if run.status not in RUN_ACTIVE_STATUSES:
        started = run.started_at.timestamp() if run.started_at else None
        return progress.Counters(
            total=run.total,
            success=run.success_count,
            failed=run.failed_count,
            skipped=run.skipped_count,
            rows=run.rows_written,
            current_date=None,
            started_at=started,
            updated_at=run.finished_at.timestamp() if run.finished_at else None,
        )
    try:
        counters = progress.read(ctx.redis, run.id)
        if counters is not None:
            return counters
        return rebuild_counters(ctx, run)
    except redis.RedisError as exc:  # Redis down or restarting: the ledger still knows
        log.warning("progress of run %s read from the database: %s", run.id, exc)
        return ledger_counters(ctx, run)


def ledger_counters(ctx: Context, run: RunRecord) -> progress.Counters:
    """The run's counters computed from the ledger alone (without touching Redis)."""
    with ctx.engine.connect() as conn:
        counts = ledger.item_status_counts(conn, run.id)
        rows = ledger.rows_written(conn, run.id)
    return progress.Counters(
        total=sum(counts.values()),
        success=counts[ItemStatus.SUCCESS],
        failed=counts[ItemStatus.FAILED],
        skipped=counts[ItemStatus.SKIPPED],
        rows=rows,
        current_date=None,
        started_at=run.started_at.timestamp() if run.started_at else None,
        updated_at=time.time(),
    )


def rebuild_counters(ctx: Context, run: RunRecord) -> progress.Counters:
    """Recreate the run's live counters from the ledger."""
    with ctx.engine.connect() as conn:
        counts = ledger.item_status_counts(conn, run.id)
        finished = ledger.finished_item_ids(conn, run.id)
        rows = ledger.rows_written(conn, run.id)
    return progress.rebuild(
        ctx.redis,
        run.id,
        counts=counts,
        finished_ids=finished,
        rows=rows,
        started_at=run.started_at.timestamp() if run.started_at else None,
    )


def run_view(ctx: Context, run_id: int) -> dict[str, Any]:
    """A run's status and live progress, as the API and CLI show it."""
    run = get_run(ctx, run_id)
    counters = live_counters(ctx, run)
    return describe(run, counters)


def describe(run: RunRecord, counters: progress.Counters) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status.value,
        "spec": run.spec.to_json(),
        "total": counters.total,
        "done": counters.done,
        "success": counters.success,
        "failed": counters.failed,
        "skipped": counters.skipped,
        "pending": counters.pending,
        "percent": counters.percent,
        "current_date": counters.current_date,
        "eta_s": counters.eta_s(time.time()),
        "rows_written": counters.rows,
        "message": run.message,
        "error": run.error,
        "trigger": run.trigger,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_s": run.duration_s,
    }


def list_runs(ctx: Context, *, page: int, per_page: int) -> dict[str, Any]:
    """A page of runs, newest first, with their stored (not live) counts."""
    if page < 1 or not 1 <= per_page <= 200:
        raise InvalidRequest("page must be ≥ 1 and per_page between 1 and 200", field="page")
    with ctx.engine.connect() as conn:
        runs, total = ledger_views.list_runs(conn, limit=per_page, offset=(page - 1) * per_page)
    items = []
    for run in runs:
        items.append(
            {
                "id": run.id,
                "kind": run.kind,
                "status": run.status.value,
                "start_date": run.spec.start_date.isoformat(),
                "end_date": run.spec.end_date.isoformat(),
                "total": run.total,
                "success": run.success_count,
                "failed": run.failed_count,
                "skipped": run.skipped_count,
                "rows_written": run.rows_written,
                "created_at": run.created_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                "duration_s": run.duration_s,
                "message": run.message,
                "trigger": run.trigger,
            }
        )
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def list_items(
    ctx: Context, run_id: int, *, status: str | None, page: int, per_page: int
) -> dict[str, Any]:
    """A page of a run's units — e.g. its failed ones with their errors and attempts."""
    get_run(ctx, run_id)
    if page < 1 or not 1 <= per_page <= 500:
        raise InvalidRequest("page must be ≥ 1 and per_page between 1 and 500", field="page")
    try:
        wanted = ItemStatus(status) if status else None
    except ValueError:
        names = ", ".join(s.value for s in ItemStatus)
        raise InvalidRequest(
            f"unknown status {status!r}; use one of {names}", field="status"
        ) from None
    with ctx.engine.connect() as conn:
        items, total = ledger_views.list_items(
            conn, run_id, status=wanted, limit=per_page, offset=(page - 1) * per_page
        )
    return {
        "items": [
            {
                "id": i.id,
                "unit": i.unit_key,
                "period": i.period.value,
                "trade_date": i.trade_date.isoformat() if i.trade_date else None,
                "code": i.code,
                "start_date": i.start_date.isoformat(),
                "end_date": i.end_date.isoformat(),
                "status": i.status.value,
                "attempts": i.attempts,
                "source": i.source,
                "rows": i.rows,
                "error": i.error,
            }
            for i in items
        ],
        "page": page,
        "per_page": per_page,
        "total": total,
    }


def date_summary(ctx: Context, run_id: int) -> dict[str, Any]:
    """The run's progress per trade date (the seeds' ``sync_progress_summary``)."""
    get_run(ctx, run_id)
    with ctx.engine.connect() as conn:
        rows = ledger_views.date_summary(conn, run_id)
    dates = []
    for row in rows:
        finished = row["success"] + row["failed"] + row["skipped"]
        dates.append(
            {
                "period": row["period"],
                "date": row["day"].isoformat() if row["day"] else None,
                "total": row["total"],
                "success": row["success"],
                "failed": row["failed"],
                "skipped": row["skipped"],
                "pending": row["pending"] + row["running"],
                "success_rate": round(100.0 * (row["success"] + row["skipped"]) / row["total"], 2)
                if finished
                else None,
                "first_at": row["first_at"].isoformat() if row["first_at"] else None,
                "last_at": row["last_at"].isoformat() if row["last_at"] else None,
            }
        )
    return {"run_id": run_id, "dates": dates}
