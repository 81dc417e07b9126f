"""One unit's datasets from one source: which sources may serve a unit, and asking one of them
for each dataset it serves, each reply judged for completeness.

Only SourceErrors come out of a source (its call gate, :meth:`Source.fetch`); here each kind
decides what the unit does next: a rate limit waits, a ban or a fatal error opens the source's
breaker, a transient error counts against it, and a bug in the adapter (:class:`SourceBug`)
fails the unit without touching the breaker or retrying.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from stocksync.context import Context
from stocksync.datasets import dataset
from stocksync.datasets.completeness import Expectation, Verdict, judge
from stocksync.domain import Bar, DatasetName
from stocksync.runs.ledger import ItemRecord, RunRecord
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    Shape,
    Source,
    SourceBug,
    SourceError,
)

BAN_WAIT_S = 300.0  # a rate-limit wait longer than this is a ban: skip the source meanwhile
FATAL_COOLDOWN_S = 3600.0


@dataclass
class Attempt:
    """What the sources said during one attempt at a unit."""

    notes: list[str] = field(default_factory=list)
    transient: bool = False
    rate_wait: float | None = None
    breaker_wait: float | None = None  # every usable source is cooling down this long
    bug: str | None = None  # an adapter raised something that is not a SourceError


@dataclass(frozen=True)
class Fetched:
    """One dataset's reply from one source, judged."""

    dataset: DatasetName
    source: str
    received: int
    verdict: Verdict


def candidates(
    ctx: Context, run: RunRecord, item: ItemRecord, wanted: list[DatasetName], attempt: Attempt
) -> list[Source]:
    """The run's sources, in its order, that serve one of ``wanted`` for this unit (a per-date
    unit also accepts a per-stock source: the unit is then split) and whose breaker is closed."""
    usable = []
    for name in run.spec.sources:
        source = ctx.sources.get(name)
        shapes = (Shape.STOCK_BY_RANGE,) if item.code is not None else tuple(Shape)
        if not any(source.offers(d, s, item.period) for d in wanted for s in shapes):
            continue
        if item.code is not None and not any(source.covers_dataset(d, item.code) for d in wanted):
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


def fetch_from(
    ctx: Context,
    source: Source,
    run: RunRecord,
    item: ItemRecord,
    wanted: list[DatasetName],
    expected: Expectation,
    attempt: Attempt,
) -> dict[DatasetName, Fetched]:
    """Ask ``source`` for each of ``wanted`` (bars first: their suspended days explain gaps in
    the others); stops at the source's first failure, keeping what it already answered."""
    found: dict[DatasetName, Fetched] = {}
    symbols = frozenset(run.spec.symbols) if run.spec.symbols is not None else None
    suspended = set(expected.suspended)
    for name in wanted:
        ds = dataset(name)
        try:
            rows = source.fetch(
                ds, item.period, day=item.trade_date, code=item.code,
                start=item.start_date, end=item.end_date,
            )  # fmt: skip
        except NoDataError as exc:
            attempt.notes.append(f"{source.name}: no {name} ({exc.message})")
            rows = []
        except SourceError as exc:
            _failed(ctx, source, name, exc, attempt)
            break
        if item.code is None and symbols is not None:
            rows = [r for r in rows if ds.key(r)[0] in symbols]
        if name is DatasetName.BARS:
            suspended |= {(b.code, b.trade_date) for b in rows if isinstance(b, Bar)
                          and b.trade_status == 0}  # fmt: skip
        verdict = judge(
            ds, rows, item.period, replace(expected, suspended=frozenset(suspended)),
            omits_suspended=source.omits_suspended(name),
        )  # fmt: skip
        found[name] = Fetched(name, source.name, len(rows), verdict)
        if not verdict.complete:
            attempt.notes.append(f"{source.name}: {name} {_shortfall(verdict)}")
    else:
        ctx.breaker.record_success(source.name)
    return found


def _shortfall(verdict: Verdict) -> str:
    parts = []
    if verdict.rejected:
        parts.append(f"{len(verdict.rejected)} invalid row(s)")
    if verdict.missing:
        parts.append(verdict.describe_missing())
    return "; ".join(parts)


def _failed(
    ctx: Context, source: Source, name: DatasetName, exc: SourceError, attempt: Attempt
) -> None:
    """Note a failed call and act on its kind (the one place execution reads SourceErrors)."""
    who = source.name
    if isinstance(exc, SourceBug):
        attempt.bug = f"{who}: {name}: {exc.message}"
        attempt.notes.append(attempt.bug)
    elif isinstance(exc, RateLimitedError):
        if exc.limit_per_minute:
            ctx.quota.tighten(exc.bucket or who, exc.limit_per_minute)
        if exc.wait_s > BAN_WAIT_S:
            ctx.breaker.trip(who, f"banned or out of quota: {exc.message}", exc.wait_s)
            attempt.notes.append(f"{who} banned for {exc.wait_s:.0f} s: {exc.message}")
        else:
            attempt.rate_wait = min(attempt.rate_wait or exc.wait_s, exc.wait_s)
            attempt.notes.append(f"{who} rate-limited: {exc.message}")
    elif isinstance(exc, FatalSourceError):
        ctx.breaker.trip(who, exc.message, FATAL_COOLDOWN_S)
        attempt.notes.append(f"{who} failed: {exc.message}")
    else:  # transient by contract
        attempt.transient = True
        ctx.breaker.record_failure(who, exc.message)
        attempt.notes.append(f"{who}: {exc.message}")
