"""Finishing a run: once none of its units is pending or running, record the final status,
counts, rows and duration (fenced), and free the active-run lock."""

from __future__ import annotations

import datetime as dt
import logging

from stocksync.context import Context
from stocksync.domain import RUN_ACTIVE_STATUSES, ItemStatus, RunStatus
from stocksync.runs import ledger

log = logging.getLogger(__name__)


def finalize_run(ctx: Context, run_id: int) -> RunStatus | None:
    """Finish the run if none of its items is pending or running; returns the final status, or
    None when the run is not finished (or is not this process's to finish)."""
    with ctx.engine.begin() as conn:
        run = ledger.get_run(conn, run_id)
        if run is None or run.status not in RUN_ACTIVE_STATUSES:
            return None
        if run.status is RunStatus.PLANNING:  # its units are not written yet
            return None
        counts = ledger.item_status_counts(conn, run_id)
        if counts[ItemStatus.PENDING] or counts[ItemStatus.RUNNING]:
            return None
        failed, success = counts[ItemStatus.FAILED], counts[ItemStatus.SUCCESS]
        skipped = counts[ItemStatus.SKIPPED]
        if failed == 0:
            status = RunStatus.SUCCESS
        elif success == 0 and skipped == 0:
            status = RunStatus.FAILED
        else:
            status = RunStatus.SUCCESS_WITH_ERRORS
        now = dt.datetime.now(dt.UTC)
        started = run.started_at or run.created_at
        rows = ledger.rows_written(conn, run_id)
        changed = ledger.update_run(
            conn,
            run_id,
            fence=run.fence,
            status=status.value,
            total=sum(counts.values()),
            success_count=success,
            failed_count=failed,
            skipped_count=skipped,
            rows_written=rows,
            finished_at=now,
            duration_s=round((now - started).total_seconds(), 3),
            message=f"{success} succeeded, {failed} failed, {skipped} skipped; {rows} rows written",
            error=f"{failed} unit(s) failed; see the run's failed items" if failed else None,
        )
    if not changed:
        return None
    if run.fence is not None:
        ctx.lock.release(run_id, run.fence)
    log.info("run %s finished: %s", run_id, status)
    return status
