"""Executing one unit of work, dataset by dataset, with failover across sources.

``run_unit`` is what the ``stocksync.sync_unit`` task calls. It is idempotent: a redelivered
message for a finished item does nothing but make sure the item is counted; a message for an
item whose worker died mid-way runs it again (rows are upserted, so nothing doubles).

A unit is done for a dataset only when that dataset's rows arrived complete (see
:mod:`stocksync.datasets.completeness`) and were stored; the ledger records it per dataset, and
a retry fetches only the datasets still open. Sources are tried in the run's order for each
dataset they serve: a dataset that one source answers incompletely (an empty table for a
listed stock, days missing, invalid rows) is asked of the next. When every source failed
transiently the unit is retried with backoff, bounded by ``max_attempts``; otherwise it ends
``failed`` naming what is missing, with what did arrive stored.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace

import redis
from sqlalchemy.exc import InterfaceError, OperationalError

from stocksync.context import Context
from stocksync.coordination import progress
from stocksync.coordination.lock import Heartbeat
from stocksync.domain import DatasetName, ItemStatus, RunStatus
from stocksync.runs import dataset_ledger, ledger
from stocksync.runs.dataset_ledger import STORED
from stocksync.runs.dispatch import Dispatcher
from stocksync.runs.expectations import expectation_for
from stocksync.runs.fetching import Attempt, Fetched, candidates, fetch_from
from stocksync.runs.finalize import finalize_run
from stocksync.runs.ledger import ItemRecord, RunRecord
from stocksync.runs.storing import UnitResult, store_unit
from stocksync.sources.base import Shape, Source, unit_calls

log = logging.getLogger(__name__)


# PostgreSQL or Redis out of reach (connection refused or cut, server shutting down, a timeout):
# no fault of the unit, which is to run again once the service is back.
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
)


class ServiceOutage(Exception):
    """PostgreSQL or Redis could not be reached while running a unit. The unit is to run again
    later; ``attempt_owed`` says whether a committed claim counted an attempt that the outage,
    not the unit, spent — the next claim then counts none."""

    def __init__(self, item_id: int, cause: BaseException, *, attempt_owed: bool) -> None:
        super().__init__(f"item {item_id}: {type(cause).__name__}: {str(cause).strip()[:300]}")
        self.item_id = item_id
        self.attempt_owed = attempt_owed


class RetryLater(Exception):
    """The unit should run again after ``countdown`` seconds (a transient failure)."""

    def __init__(self, countdown: float, reason: str) -> None:
        super().__init__(reason)
        self.countdown = countdown
        self.reason = reason


@dataclass(frozen=True)
class UnitOutcome:
    """What happened to a unit: 'success', 'failed', 'split', 'already_done', 'run_inactive'
    or 'lock_lost' (the run lost its lock to a newer run; the item stays pending)."""

    outcome: str
    rows: int = 0
    message: str = ""
    source: str | None = None


def backoff_seconds(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with jitter: about base·2^(attempt−1), capped at ``max_s``."""
    cap = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return round(cap / 2 + random.uniform(0, cap / 2), 2)


def run_unit(
    ctx: Context,
    item_id: int,
    dispatcher: Dispatcher | None = None,
    *,
    attempt_owed: bool = False,
    claimer: str | None = None,
) -> UnitOutcome:
    """Run one item: per dataset, pick a source → fetch → judge → store → mark → count.

    Raises :class:`RetryLater` when what is still open failed transiently or is rate-limited,
    and :class:`ServiceOutage` when PostgreSQL or Redis dropped out (nothing half-written: the
    unit's writes are one transaction). ``attempt_owed`` (from an earlier ServiceOutage) claims
    the item without counting an attempt. ``claimer`` names this process on the claim (its
    liveness key must be kept alive while it works). ``dispatcher`` enqueues per-stock units when a
    per-date unit must be split for a source that can only serve one stock at a time.
    """
    claimed = False
    try:
        with ctx.engine.begin() as conn:
            item = ledger.claim_item(
                conn, item_id, count_attempt=not attempt_owed, claimed_by=claimer
            )
            existing = item or ledger.get_item(conn, item_id)
            run = ledger.get_run(conn, existing.run_id) if existing else None
        claimed = item is not None
        return _run_claimed(ctx, item_id, item, existing, run, dispatcher)
    except OUTAGE_ERRORS as exc:
        log.warning("item %s: PostgreSQL or Redis out of reach (%s)", item_id, type(exc).__name__)
        raise ServiceOutage(item_id, exc, attempt_owed=attempt_owed or claimed) from exc


def _run_claimed(
    ctx: Context,
    item_id: int,
    item: ItemRecord | None,
    existing: ItemRecord | None,
    run: RunRecord | None,
    dispatcher: Dispatcher | None,
) -> UnitOutcome:
    if existing is None or run is None:
        return UnitOutcome("already_done", message=f"item {item_id} does not exist")
    if item is None:
        _count(ctx, run, existing)
        return UnitOutcome("already_done", rows=existing.rows)

    if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):  # paused, cancelled, finished
        _release(ctx, item, f"run {run.id} is {run.status}", refund=True)
        return UnitOutcome("run_inactive", message=f"run {run.id} is {run.status}")
    if run.fence is None or not ctx.lock.keep_alive(run.id, run.fence):
        _release(ctx, item, "the run lost its lock to a newer run", refund=True)
        return UnitOutcome("lock_lost", message="the run lost its lock to a newer run")
    if item.attempts > ctx.settings.max_attempts:
        return _fail(
            ctx, run, item, f"gave up after {ctx.settings.max_attempts} attempts: {item.error}"
        )
    with Heartbeat(ctx.lock, run.id, run.fence):
        return _work(ctx, run, item, dispatcher)


def _work(
    ctx: Context, run: RunRecord, item: ItemRecord, dispatcher: Dispatcher | None
) -> UnitOutcome:
    with ctx.engine.connect() as conn:
        earlier = dataset_ledger.dataset_records(conn, item.id)
        expected = expectation_for(conn, item, run.spec.symbols)
    wanted = [d for d in item.datasets if d not in earlier or earlier[d].status != STORED]
    attempt = Attempt()
    result = UnitResult(earlier=earlier)
    with unit_calls():  # once a call is spent, quota waits are slept through, not re-queued
        for source in candidates(ctx, run, item, wanted, attempt):
            todo = [d for d in wanted if d not in result.complete]
            if not todo:
                break
            if item.code is None and not any(
                source.offers(d, Shape.MARKET_BY_DATE, item.period) for d in todo
            ):
                if dispatcher is None:
                    attempt.notes.append(f"{source.name} serves one stock at a time; cannot split")
                    continue
                return _split(ctx, run, item, source, todo, result, dispatcher)
            serve = [d for d in todo if source.offers(d, item.shape, item.period)
                     and (item.code is None or source.covers_dataset(d, item.code))]  # fmt: skip
            result.add(fetch_from(ctx, source, run, item, serve, expected, attempt))
    left = [d for d in wanted if d not in result.complete]
    if not left:
        return _finish(ctx, run, item, result, ItemStatus.SUCCESS, _joined(attempt.notes))
    return _unfinished(ctx, run, item, result, left, attempt)


def _unfinished(
    ctx: Context,
    run: RunRecord,
    item: ItemRecord,
    result: UnitResult,
    left: list[DatasetName],
    attempt: Attempt,
) -> UnitOutcome:
    """Some datasets are still open: store what is complete, then retry later or fail."""
    notes = _joined(attempt.notes) or "no configured source serves " + ", ".join(left)
    retries_left = item.attempts < ctx.settings.max_attempts
    if attempt.bug is None:
        wait: float | None = None
        refund = False
        if attempt.rate_wait is not None and not result.partial:
            wait = _bounded(ctx, attempt.rate_wait)  # waiting for quota is free
            refund = True
        elif attempt.breaker_wait is not None and not result.partial and retries_left:
            # every source is cooling down: wait it out, spending an attempt so that a source
            # that stays down fails the unit in the end instead of holding the run forever
            wait, refund = _bounded(ctx, attempt.breaker_wait), False
        elif retries_left and (attempt.transient or _garbled_first_time(item, result, left)):
            wait, refund = _backoff(ctx, item), False
        if wait is not None:
            if result.complete:
                store_unit(ctx, run, item, result, status=None, error=notes)
            _release(ctx, item, notes, refund=refund)
            raise _waiting(ctx, run, wait, notes)
    if attempt.transient and attempt.bug is None:
        notes = f"failed after {item.attempts} attempts: {notes}"
    return _finish(ctx, run, item, result, ItemStatus.FAILED, _missing_message(result, left, notes))


def _garbled_first_time(item: ItemRecord, result: UnitResult, left: list[DatasetName]) -> bool:
    """A reply with invalid rows is often a transient corruption: retry such a unit once."""
    return item.attempts == 1 and any(
        result.partial.get(d) and result.partial[d].verdict.rejected for d in left
    )


def _missing_message(result: UnitResult, left: list[DatasetName], notes: str) -> str:
    parts = []
    for name in left:
        best = result.partial.get(name)
        if best is None:
            parts.append(f"{name}: no source answered")
        elif best.verdict.rejected:
            shown = "; ".join(str(r) for r in best.verdict.rejected[:5])
            more = len(best.verdict.rejected) - 5
            extra = f" (+{more} more)" if more > 0 else ""
            parts.append(
                f"{name}: {len(best.verdict.rejected)} invalid row(s) quarantined, not stored: "
                f"{shown}{extra}"
                + (f"; {best.verdict.describe_missing()}" if best.verdict.missing else "")
            )
        else:
            parts.append(f"{name} incomplete from {best.source}: {best.verdict.describe_missing()}")
    return "; ".join(parts) + (f" [{notes}]" if notes else "")


def _finish(
    ctx: Context,
    run: RunRecord,
    item: ItemRecord,
    result: UnitResult,
    status: ItemStatus,
    error: str,
) -> UnitOutcome:
    rows, source = store_unit(ctx, run, item, result, status=status, error=error or None)
    _count(ctx, run, replace(item, status=status, rows=rows))
    if status is ItemStatus.FAILED:
        log.warning("item %s of run %s failed: %s", item.id, run.id, error)
    return UnitOutcome(status.value, rows=rows, message=error, source=source)


def _split(
    ctx: Context,
    run: RunRecord,
    item: ItemRecord,
    source: Source,
    datasets: list[DatasetName],
    result: UnitResult,
    dispatcher: Dispatcher,
) -> UnitOutcome:
    """Hand ``datasets`` of a per-date unit to one per-stock unit per stock listed that day
    (what is already complete is stored by the parent)."""
    assert item.trade_date is not None
    from stocksync.datasets.securities import codes_listed_on

    message = f"split into per-stock units for {source.name}"
    store_unit(ctx, run, item, result, status=None, error=None)
    with ctx.engine.begin() as conn:
        codes = codes_listed_on(conn, item.trade_date, run.spec.symbols)
        child_ids = ledger.insert_children(conn, item, codes, tuple(datasets))
        ledger.finish_item(conn, item.id, status=ItemStatus.SUCCESS, source=None, error=message)
    progress.add_units(ctx.redis, run.id, len(child_ids))
    if child_ids:
        dispatcher.dispatch(run.id, child_ids)
    _count(ctx, run, replace(item, status=ItemStatus.SUCCESS, rows=0))
    return UnitOutcome("split", message=f"{message} ({len(codes)})", source=source.name)


def _waiting(ctx: Context, run: RunRecord, countdown: float, reason: str) -> RetryLater:
    """A RetryLater, with the run's lock held through the wait: a run whose units all wait
    out a quota or a backoff is not abandoned, so the recovery sweep leaves it alone."""
    if run.fence is not None:
        try:
            ctx.lock.keep_alive(run.id, run.fence, for_s=countdown + ctx.settings.lock_ttl_s)
        except redis.RedisError:
            log.warning("could not extend run %s's lock through a %.0f s wait", run.id, countdown)
    return RetryLater(countdown, reason)


def _backoff(ctx: Context, item: ItemRecord) -> float:
    s = ctx.settings
    return backoff_seconds(item.attempts, s.retry_backoff_s, s.retry_backoff_max_s)


def _bounded(ctx: Context, wait_s: float) -> float:
    """A retry delay with jitter, kept below half the broker's visibility timeout (a longer
    one would have the message delivered twice)."""
    return min(wait_s + random.uniform(0, 1), ctx.settings.visibility_timeout_s / 2)


def _joined(notes: list[str]) -> str:
    return "; ".join(notes)


def _release(ctx: Context, item: ItemRecord, error: str, *, refund: bool) -> None:
    with ctx.engine.begin() as conn:
        ledger.release_item(conn, item.id, error=error, refund_attempt=refund)


def _fail(ctx: Context, run: RunRecord, item: ItemRecord, error: str) -> UnitOutcome:
    with ctx.engine.begin() as conn:
        ledger.finish_item(conn, item.id, status=ItemStatus.FAILED, error=error)
    _count(ctx, run, replace(item, status=ItemStatus.FAILED, rows=0))
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


__all__ = [
    "OUTAGE_ERRORS",
    "Fetched",
    "RetryLater",
    "ServiceOutage",
    "UnitOutcome",
    "backoff_seconds",
    "run_unit",
]
