"""Executing one unit of work, and finishing a run when its last unit ends.

``run_unit`` is what the ``stocksync.sync_unit`` task calls. It is idempotent: a redelivered
message for a finished item does nothing but make sure the item is counted; a message for an
item whose worker died mid-way runs it again (bars are upserted, so nothing doubles).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass

from stocksync import progress
from stocksync.context import Context
from stocksync.domain import RUN_ACTIVE_STATUSES, Bar, ItemStatus, RunStatus
from stocksync.locking import Heartbeat
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    Source,
    filter_codes,
)
from stocksync.storage import ledger
from stocksync.storage.bars import write_bars
from stocksync.storage.ledger import ItemRecord, RunRecord
from stocksync.validation import validate_bars

log = logging.getLogger(__name__)
MAX_REJECTS_SHOWN = 5


class RetryLater(Exception):
    """The unit should run again after ``countdown`` seconds (a transient failure)."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(reason)
        self.countdown = countdown
        self.reason = reason


@dataclass(frozen=True)
class UnitOutcome:
    """What happened to a unit: 'success', 'failed', 'already_done', 'run_inactive' or
    'lock_lost' (the run lost its lock to a newer run; the item stays pending for a resume)."""

    outcome: str
    rows: int = 0
    message: str = ""


def backoff_seconds(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with jitter: about base·2^(attempt−1), capped at ``max_s``."""
    cap = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return round(cap / 2 + random.uniform(0, cap / 2), 2)


def _fetch(source: Source, run: RunRecord, item: ItemRecord) -> list[Bar]:
    if item.code is not None:
        return source.stock_bars(item.code, item.period, item.start_date, item.end_date)
    assert item.trade_date is not None
    bars = source.market_bars(item.period, item.trade_date)
    symbols = run.spec.symbols
    return filter_codes(bars, frozenset(symbols) if symbols is not None else None)


def run_unit(ctx: Context, item_id: int) -> UnitOutcome:
    """Run one item: fetch → validate → write bars → mark the item → count it.

    Raises :class:`RetryLater` for a transient or rate-limit failure that should be retried.
    """
    with ctx.engine.begin() as conn:
        item = ledger.claim_item(conn, item_id)
        if item is None:
            existing = ledger.get_item(conn, item_id)
            run = ledger.get_run(conn, existing.run_id) if existing else None
        else:
            run = ledger.get_run(conn, item.run_id)
    if item is None:
        if existing is None or run is None:
            return UnitOutcome("already_done", message=f"item {item_id} does not exist")
        _count(ctx, run, existing)
        return UnitOutcome("already_done", rows=existing.rows)
    assert run is not None

    if run.status not in RUN_ACTIVE_STATUSES:
        _release(ctx, item, f"run {run.id} is {run.status}", refund=True)
        return UnitOutcome("run_inactive", message=f"run {run.id} is {run.status}")
    if run.fence is None or not ctx.lock.keep_alive(run.id, run.fence):
        _release(ctx, item, "the run lost its lock to a newer run", refund=True)
        return UnitOutcome("lock_lost", message="the run lost its lock to a newer run")

    max_attempts = ctx.settings.max_attempts
    if item.attempts > max_attempts:
        return _fail(ctx, run, item, f"gave up after {max_attempts} attempts: {item.error}")

    source = ctx.sources.get(run.spec.sources[0])
    with Heartbeat(ctx.lock, run.id, run.fence):
        return _fetch_and_store(ctx, run, item, source)


def _fetch_and_store(ctx: Context, run: RunRecord, item: ItemRecord, source: Source) -> UnitOutcome:
    max_attempts = ctx.settings.max_attempts
    try:
        fetched = _fetch(source, run, item)
    except RateLimitedError as exc:
        _release(ctx, item, str(exc), refund=True)
        # a wait past the broker's visibility timeout would deliver the message twice
        wait = min(exc.wait_s + random.uniform(0, 1), ctx.settings.visibility_timeout_s / 2)
        raise RetryLater(wait, str(exc)) from exc
    except (FatalSourceError, NoDataError, NotImplementedError) as exc:
        return _fail(ctx, run, item, str(exc))
    except Exception as exc:  # transient by contract, or an unexpected error: retry, bounded
        reason = f"{type(exc).__name__}: {exc}"
        if item.attempts >= max_attempts:
            return _fail(ctx, run, item, f"failed after {item.attempts} attempts: {reason}")
        _release(ctx, item, reason, refund=False)
        delay = backoff_seconds(
            item.attempts, ctx.settings.retry_backoff_s, ctx.settings.retry_backoff_max_s
        )
        raise RetryLater(delay, reason) from exc

    good, rejected = validate_bars(fetched)
    error = None
    status = ItemStatus.SUCCESS
    if rejected:
        status = ItemStatus.FAILED
        shown = "; ".join(str(r) for r in rejected[:MAX_REJECTS_SHOWN])
        more = f" (+{len(rejected) - MAX_REJECTS_SHOWN} more)" if len(rejected) > 5 else ""
        error = f"{len(rejected)} invalid row(s) not stored: {shown}{more}"
    elif not good and item.code is None:
        status = ItemStatus.FAILED
        error = f"{source.name} returned no bars for the whole market on {item.label}"
    with ctx.engine.begin() as conn:
        write_bars(conn, good, source=source.name)
        ledger.finish_item(
            conn, item.id, status=status, rows=len(good), source=source.name, error=error
        )
    finished = _replace(item, status=status, rows=len(good))
    _count(ctx, run, finished)
    return UnitOutcome(status.value, rows=len(good), message=error or "")


def _replace(item: ItemRecord, *, status: ItemStatus, rows: int) -> ItemRecord:
    from dataclasses import replace

    return replace(item, status=status, rows=rows)


def _release(ctx: Context, item: ItemRecord, error: str, *, refund: bool) -> None:
    with ctx.engine.begin() as conn:
        ledger.release_item(conn, item.id, error=error, refund_attempt=refund)


def _fail(ctx: Context, run: RunRecord, item: ItemRecord, error: str) -> UnitOutcome:
    with ctx.engine.begin() as conn:
        ledger.finish_item(conn, item.id, status=ItemStatus.FAILED, error=error)
    _count(ctx, run, _replace(item, status=ItemStatus.FAILED, rows=0))
    log.warning("item %s of run %s failed: %s", item.id, run.id, error)
    return UnitOutcome("failed", message=error)


def _count(ctx: Context, run: RunRecord, item: ItemRecord) -> None:
    """Count a finished item in the live progress, and finish the run if it was the last."""
    if item.status not in (ItemStatus.SUCCESS, ItemStatus.FAILED, ItemStatus.SKIPPED):
        return
    counters = progress.count_finished(
        ctx.redis, run.id, item.id, item.status, rows=item.rows, label=item.label
    )
    if counters is None or counters.complete:
        finalize_run(ctx, run.id)


def finalize_run(ctx: Context, run_id: int) -> RunStatus | None:
    """Finish the run if none of its items is pending or running; returns the final status, or
    None when the run is not finished (or is not this process's to finish)."""
    with ctx.engine.begin() as conn:
        run = ledger.get_run(conn, run_id)
        if run is None or run.status not in RUN_ACTIVE_STATUSES:
            return None
        counts = ledger.item_status_counts(conn, run_id)
        if counts[ItemStatus.PENDING] or counts[ItemStatus.RUNNING]:
            return None
        failed, success = counts[ItemStatus.FAILED], counts[ItemStatus.SUCCESS]
        if failed == 0:
            status = RunStatus.SUCCESS
        elif success == 0 and counts[ItemStatus.SKIPPED] == 0:
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
            success_count=success,
            failed_count=failed,
            skipped_count=counts[ItemStatus.SKIPPED],
            rows_written=rows,
            finished_at=now,
            duration_s=round((now - started).total_seconds(), 3),
            message=(
                f"{success} succeeded, {failed} failed, {counts[ItemStatus.SKIPPED]} skipped; "
                f"{rows} rows written"
            ),
            error=f"{failed} unit(s) failed; see the run's failed items" if failed else None,
        )
    if not changed:
        return None
    if run.fence is not None:
        ctx.lock.release(run_id, run.fence)
    log.info("run %s finished: %s", run_id, status)
    return status
