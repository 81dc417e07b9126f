"""Executing one unit of work, with failover across sources, and finishing a run.

``run_unit`` is what the ``stocksync.sync_unit`` task calls. It is idempotent: a redelivered
message for a finished item does nothing but make sure the item is counted; a message for an
item whose worker died mid-way runs it again (bars are upserted, so nothing doubles).

Sources are tried in the run's priority order, skipping those whose circuit breaker is open or
that cannot serve the unit. A transient failure, a ban, a fatal error (bad token), "no data" or
a reply with invalid rows moves on to the next source at once; when every source failed
transiently the unit is retried later with backoff, bounded by ``max_attempts``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import redis

from stocksync.context import Context
from stocksync.coordination import progress
from stocksync.coordination.lock import Heartbeat
from stocksync.datasets.bars import write_bars
from stocksync.datasets.factors import sound_factors, write_factors, write_valuations
from stocksync.datasets.quarantine import quarantine_rows
from stocksync.datasets.validation import RejectedRow, validate_bars
from stocksync.domain import (
    AdjFactor,
    Bar,
    ItemStatus,
    Period,
    RunStatus,
    Valuation,
)
from stocksync.runs import ledger
from stocksync.runs.dispatch import Dispatcher
from stocksync.runs.finalize import finalize_run
from stocksync.runs.ledger import ItemRecord, RunRecord
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    Shape,
    Source,
    filter_codes,
)

log = logging.getLogger(__name__)
C = TypeVar("C", AdjFactor, Valuation)
MAX_REJECTS_SHOWN = 5
BAN_WAIT_S = 300.0  # a rate-limit wait longer than this is a ban: skip the source meanwhile
FATAL_COOLDOWN_S = 3600.0


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


@dataclass
class _Attempt:
    """What the sources said during one attempt at a unit."""

    notes: list[str] = field(default_factory=list)
    transient: bool = False
    rate_wait: float | None = None
    no_data: bool = False
    breaker_wait: float | None = None  # every usable source is cooling down this long
    best: tuple[Source, _Reply, list[RejectedRow]] | None = None


def backoff_seconds(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with jitter: about base·2^(attempt−1), capped at ``max_s``."""
    cap = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return round(cap / 2 + random.uniform(0, cap / 2), 2)


def run_unit(ctx: Context, item_id: int, dispatcher: Dispatcher | None = None) -> UnitOutcome:
    """Run one item: pick a source → fetch → validate → write bars → mark → count.

    Raises :class:`RetryLater` when every usable source failed transiently or is rate-limited.
    ``dispatcher`` enqueues per-stock units when a per-date unit must be split for a source that
    can only serve one stock at a time.
    """
    with ctx.engine.begin() as conn:
        item = ledger.claim_item(conn, item_id)
        existing = item or ledger.get_item(conn, item_id)
        run = ledger.get_run(conn, existing.run_id) if existing else None
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


def _candidates(ctx: Context, run: RunRecord, item: ItemRecord, attempt: _Attempt) -> list[Source]:
    usable = []
    for name in run.spec.sources:
        source = ctx.sources.get(name)
        if item.period not in source.periods:
            continue
        if item.code is not None and (
            Shape.STOCK_BY_RANGE not in source.shapes or not source.covers(item.code)
        ):
            continue
        state = ctx.breaker.state(name)
        if state.open and state.until is not None:
            attempt.notes.append(f"{name} skipped: circuit {state.describe()}")
            left = state.until - time.time()
            attempt.breaker_wait = min(attempt.breaker_wait or left, left)
            continue
        usable.append(source)
    if usable:
        attempt.breaker_wait = None
    return usable


@dataclass
class _Reply:
    """What one source returned for a unit: bars, and for daily units the adjustment factors
    and daily valuations (empty when the source has none)."""

    bars: list[Bar]
    factors: list[AdjFactor] = field(default_factory=list)
    valuations: list[Valuation] = field(default_factory=list)


def _fetch(source: Source, run: RunRecord, item: ItemRecord) -> _Reply:
    symbols = frozenset(run.spec.symbols) if run.spec.symbols is not None else None
    bars: list[Bar] = []
    if run.spec.wants("bars") and item.code is not None:
        bars = source.stock_bars(item.code, item.period, item.start_date, item.end_date)
    elif run.spec.wants("bars"):
        assert item.trade_date is not None
        bars = filter_codes(source.market_bars(item.period, item.trade_date), symbols)
    if item.period is not Period.DAILY:
        return _Reply(bars)
    reply = _Reply(bars)
    if run.spec.wants("adj_factors"):
        reply.factors = _companion(item, symbols, source.adj_factors, source.market_adj_factors)
    if run.spec.wants("valuations"):
        reply.valuations = _companion(
            item, symbols, source.stock_valuations, source.market_valuations
        )
    return reply


def _companion(
    item: ItemRecord,
    symbols: frozenset[str] | None,
    per_stock: Callable[[str, dt.date, dt.date], list[C]],
    per_date: Callable[[dt.date], list[C]],
) -> list[C]:
    """A daily unit's factors or valuations, fetched in the unit's shape; [] when the source
    does not serve that dataset (it still serves bars)."""
    try:
        if item.code is not None:
            return per_stock(item.code, item.start_date, item.end_date)
        assert item.trade_date is not None
        return [x for x in per_date(item.trade_date) if symbols is None or x.code in symbols]
    except NotImplementedError:
        return []


def _work(
    ctx: Context, run: RunRecord, item: ItemRecord, dispatcher: Dispatcher | None
) -> UnitOutcome:
    attempt = _Attempt()
    for source in _candidates(ctx, run, item, attempt):
        if item.code is None and Shape.MARKET_BY_DATE not in source.shapes:
            if dispatcher is None:
                attempt.notes.append(f"{source.name} serves one stock at a time; cannot split")
                continue
            return _split(ctx, run, item, source, dispatcher)
        reply = _try(ctx, source, run, item, attempt)
        if reply is None:
            continue
        good, rejected = validate_bars(reply.bars)
        if not run.spec.wants("bars") and not (reply.factors or reply.valuations):
            attempt.no_data = True
            attempt.notes.append(f"{source.name}: none of {', '.join(run.spec.datasets)}")
            continue
        if not good and item.code is None and run.spec.wants("bars"):
            attempt.notes.append(f"{source.name}: no bars for the whole market on {item.label}")
            attempt.transient = True
            continue
        if rejected:
            attempt.notes.append(f"{source.name}: {len(rejected)} invalid row(s)")
            if attempt.best is None:
                attempt.best = (source, replace(reply, bars=good), rejected)
            continue
        ctx.breaker.record_success(source.name)
        return _store(
            ctx, run, item, source, replace(reply, bars=good), [], note=_joined(attempt.notes)
        )
    return _exhausted(ctx, run, item, attempt)


def _try(
    ctx: Context, source: Source, run: RunRecord, item: ItemRecord, attempt: _Attempt
) -> _Reply | None:
    """One call to one source; None when it failed (and why is noted in ``attempt``)."""
    name = source.name
    try:
        return _fetch(source, run, item)
    except RateLimitedError as exc:
        if exc.limit_per_minute:
            ctx.quota.tighten(exc.bucket or name, exc.limit_per_minute)
        if exc.wait_s > BAN_WAIT_S:
            ctx.breaker.trip(name, f"banned or out of quota: {exc.message}", exc.wait_s)
            attempt.notes.append(f"{name} banned for {exc.wait_s:.0f} s: {exc.message}")
        else:
            attempt.rate_wait = min(attempt.rate_wait or exc.wait_s, exc.wait_s)
            attempt.notes.append(f"{name} rate-limited: {exc.message}")
    except FatalSourceError as exc:
        ctx.breaker.trip(name, exc.message, FATAL_COOLDOWN_S)
        attempt.notes.append(f"{name} failed: {exc.message}")
    except NoDataError as exc:
        attempt.no_data = True
        attempt.notes.append(f"{name}: no data ({exc.message})")
    except NotImplementedError as exc:
        attempt.notes.append(f"{name}: {exc}")
    except Exception as exc:  # transient by contract, or unexpected: bounded retries
        attempt.transient = True
        ctx.breaker.record_failure(name, f"{type(exc).__name__}: {exc}")
        attempt.notes.append(f"{name}: {type(exc).__name__}: {exc}")
    return None


def _exhausted(ctx: Context, run: RunRecord, item: ItemRecord, attempt: _Attempt) -> UnitOutcome:
    """Every candidate source failed: retry later, or finish the item as well as it can be."""
    notes = _joined(attempt.notes) or "no configured source can serve this unit"
    if attempt.best is None and attempt.rate_wait is not None:
        _release(ctx, item, notes, refund=True)  # waiting for quota is free
        raise _waiting(ctx, run, _bounded(ctx, attempt.rate_wait), notes)
    if attempt.best is None and attempt.breaker_wait is not None:
        # every source is cooling down: wait it out, spending an attempt so that a source
        # that stays down fails the unit in the end instead of holding the run forever
        if item.attempts < ctx.settings.max_attempts:
            _release(ctx, item, notes, refund=False)
            raise _waiting(ctx, run, _bounded(ctx, attempt.breaker_wait), notes)
        return _fail(ctx, run, item, f"failed after {item.attempts} attempts: {notes}")
    if attempt.transient and item.attempts < ctx.settings.max_attempts:
        _release(ctx, item, notes, refund=False)
        delay = backoff_seconds(
            item.attempts, ctx.settings.retry_backoff_s, ctx.settings.retry_backoff_max_s
        )
        raise _waiting(ctx, run, delay, notes)
    if attempt.best is not None:
        source, reply, rejected = attempt.best
        return _store(ctx, run, item, source, reply, rejected, note=notes)
    if attempt.no_data and not attempt.transient and item.code is not None:
        return _store(ctx, run, item, None, _Reply([]), [], note=f"no data: {notes}")
    if attempt.transient:
        notes = f"failed after {item.attempts} attempts: {notes}"
    return _fail(ctx, run, item, notes)


def _store(
    ctx: Context,
    run: RunRecord,
    item: ItemRecord,
    source: Source | None,
    reply: _Reply,
    rejected: list[RejectedRow],
    note: str,
) -> UnitOutcome:
    good = reply.bars
    status, error = ItemStatus.SUCCESS, (note or None)
    name = source.name if source else None
    if rejected:
        status = ItemStatus.FAILED
        shown = "; ".join(str(r) for r in rejected[:MAX_REJECTS_SHOWN])
        more = f" (+{len(rejected) - MAX_REJECTS_SHOWN} more)" if len(rejected) > 5 else ""
        error = f"{len(rejected)} invalid row(s) quarantined, not stored: {shown}{more}"
        if note:
            error += f" [{note}]"
    with ctx.engine.begin() as conn:
        if name is not None:
            write_bars(conn, good, source=name)
            write_factors(conn, sound_factors(reply.factors), source=name)
            write_valuations(conn, reply.valuations, source=name)
            quarantine_rows(conn, rejected, run_id=run.id, item_id=item.id, source=name)
        rows = len(good) if run.spec.wants("bars") else len(reply.factors) + len(reply.valuations)
        ledger.finish_item(conn, item.id, status=status, rows=rows, source=name, error=error)
    _count(ctx, run, replace(item, status=status, rows=rows))
    return UnitOutcome(status.value, rows=rows, message=error or "", source=name)


def _split(
    ctx: Context, run: RunRecord, item: ItemRecord, source: Source, dispatcher: Dispatcher
) -> UnitOutcome:
    """Replace a per-date unit by one per-stock unit per stock listed that day."""
    assert item.trade_date is not None
    with ctx.engine.begin() as conn:
        codes = ledger.codes_listed_on(conn, item.trade_date, run.spec.symbols)
        child_ids = ledger.insert_children(conn, item, codes)
        message = f"split into {len(codes)} per-stock units for {source.name}"
        ledger.finish_item(conn, item.id, status=ItemStatus.SUCCESS, source=None, error=message)
    progress.add_units(ctx.redis, run.id, len(child_ids))
    if child_ids:
        dispatcher.dispatch(run.id, child_ids)
    _count(ctx, run, replace(item, status=ItemStatus.SUCCESS, rows=0))
    return UnitOutcome("split", message=message, source=source.name)


def _waiting(ctx: Context, run: RunRecord, countdown: float, reason: str) -> RetryLater:
    """A RetryLater, with the run's lock held through the wait: a run whose units all wait
    out a quota or a backoff is not abandoned, so the recovery sweep leaves it alone."""
    if run.fence is not None:
        try:
            ctx.lock.keep_alive(run.id, run.fence, for_s=countdown + ctx.settings.lock_ttl_s)
        except redis.RedisError:
            log.warning("could not extend run %s's lock through a %.0f s wait", run.id, countdown)
    return RetryLater(countdown, reason)


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
