"""Run services: parse a request, create a run (see :mod:`stocksync.runs.creation`), and
report on runs."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import redis

from stocksync.context import Context
from stocksync.coordination import progress
from stocksync.datasets.bars import latest_bar_date, latest_bar_dates
from stocksync.domain import RUN_ACTIVE_STATUSES, ItemStatus, Period
from stocksync.errors import InvalidRequest, NotFound
from stocksync.runs import ledger, ledger_views
from stocksync.runs.creation import (
    CreatedRun,
    create_run,
    plan_started_run,
    prepare_run,
    preview_run,
    start_run,
)
from stocksync.runs.ledger import RunRecord
from stocksync.runs.spec import RunSpec, parse_run_request

log = logging.getLogger(__name__)

__all__ = [
    "CreatedRun", "create_run", "get_run", "list_items", "list_runs", "parse_spec",
    "plan_started_run", "prepare_run", "preview_run", "run_view", "start_run",
]  # fmt: skip


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
    """A run's status and live progress, as the API and CLI show it, and the store it is in."""
    run = get_run(ctx, run_id)
    counters = live_counters(ctx, run)
    return {**describe(run, counters), "store": ctx.store}


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
    return {"items": items, "page": page, "per_page": per_page, "total": total, "store": ctx.store}


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
