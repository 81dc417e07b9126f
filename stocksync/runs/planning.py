"""Turn a run's spec into units of work, and preview the cost before running.

A per-date unit asks a source for the whole market on one trade date; a per-stock unit asks for
one stock over the run's range. The planner picks whichever needs fewer source calls among the
shapes the source can serve. Non-trading days are never planned.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from stocksync.domain import Period, Security
from stocksync.runs.coverage import Coverage
from stocksync.runs.spec import RunSpec
from stocksync.sources.base import Shape, Source

DATASET_BARS = "bars"


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """One unit of work: a (period, trade date) for the whole market or a symbol subset, or a
    (period, code) over a range. ``unit_key`` identifies the same work across runs."""

    unit_key: str
    period: Period
    start_date: dt.date
    end_date: dt.date
    trade_date: dt.date | None = None
    code: str | None = None
    dataset: str = DATASET_BARS

    @property
    def shape(self) -> Shape:
        return Shape.MARKET_BY_DATE if self.code is None else Shape.STOCK_BY_RANGE

    @property
    def label(self) -> str:
        """What progress displays as the unit's 'current date'."""
        return (self.trade_date or self.end_date).isoformat()


@dataclass(frozen=True)
class Plan:
    """Units to run and what running them is expected to cost."""

    units: list[WorkUnit]
    shapes: dict[Period, Shape]
    expected_calls: int
    eta_s: float
    covered: set[str] = field(default_factory=set)  # keys whose work earlier runs finished


def symbols_scope(symbols: Sequence[str] | None) -> str:
    """A short stable tag for a symbol subset ('' for the whole market)."""
    if symbols is None:
        return ""
    digest = hashlib.sha1(",".join(sorted(symbols)).encode()).hexdigest()[:12]
    return f"@{digest}"


def choose_shape(source: Source, period: Period, n_dates: int, n_codes: int) -> Shape:
    """The shape needing fewer calls among those ``source`` serves for ``period``."""
    by_date = source.can_serve(Shape.MARKET_BY_DATE, period)
    by_stock = source.can_serve(Shape.STOCK_BY_RANGE, period)
    if not by_date and not by_stock:
        raise ValueError(f"source {source.name} cannot serve {period} bars")
    if by_date and (not by_stock or n_dates <= n_codes):
        return Shape.MARKET_BY_DATE
    return Shape.STOCK_BY_RANGE


def _listed_within(security: Security, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    first = max(start, security.list_date)
    last = end
    if security.delist_date is not None:
        last = min(end, security.delist_date - dt.timedelta(days=1))
    return first, last


def plan_run(
    spec: RunSpec,
    *,
    period_dates: Mapping[Period, Sequence[dt.date]],
    universe: Sequence[Security],
    source: Source,
    parallelism: int = 1,
    stock_starts: Mapping[Period, Mapping[str, dt.date]] | None = None,
    coverage: Callable[[Period], Coverage] | None = None,
) -> Plan:
    """Plan ``spec`` against the trading dates of each period and the securities universe.

    ``universe`` holds the securities the run covers (the requested symbols, or every stock).
    Stocks not listed at any point in the range are not planned. ``stock_starts`` moves a
    per-stock unit's start later (an incremental run starts after each stock's last bar).
    ``coverage(period)`` tells what earlier runs finished: a per-stock unit shrinks to the dates
    still open, and one with none open is planned as already done (``Plan.covered``).
    """
    units: list[WorkUnit] = []
    covered: set[str] = set()
    shapes: dict[Period, Shape] = {}
    scope = symbols_scope(spec.symbols)
    tag = spec.dataset_tag
    for period in planned_periods(spec):
        dates = list(period_dates.get(period, ()))
        if not dates:
            continue
        shape = choose_shape(source, period, len(dates), len(universe))
        shapes[period] = shape
        if shape is Shape.MARKET_BY_DATE:
            for day in dates:
                units.append(
                    WorkUnit(
                        unit_key=f"{tag}:{period.value}:{day.isoformat()}{scope}",
                        period=period,
                        start_date=day,
                        end_date=day,
                        trade_date=day,
                        dataset=tag,
                    )
                )
            continue
        starts = (stock_starts or {}).get(period, {})
        finished = coverage(period) if coverage is not None else None
        open_dates = finished.open_dates(dates) if finished is not None else dates
        for security in universe:
            first, last = _listed_within(security, spec.start_date, spec.end_date)
            first = max(first, starts.get(security.code, first))
            if bisect.bisect_left(dates, first) >= bisect.bisect_right(dates, last):
                continue  # no trade date of the period while listed
            span = finished.open_span(security.code, open_dates, first, last) if finished else None
            if finished is not None and span is None:
                covered.add(_stock_key(tag, period, security.code, first, last))
            elif span is not None:
                first, last = span
            units.append(
                WorkUnit(
                    unit_key=_stock_key(tag, period, security.code, first, last),
                    period=period,
                    start_date=first,
                    end_date=last,
                    code=security.code,
                    dataset=tag,
                )
            )
    calls = len(units) - len(covered)
    plan = Plan(units, shapes, calls, estimate_seconds(calls, source, parallelism))
    plan.covered.update(covered)
    return plan


def _stock_key(tag: str, period: Period, code: str, first: dt.date, last: dt.date) -> str:
    return f"{tag}:{period.value}:{code}:{first.isoformat()}:{last.isoformat()}"


def planned_periods(spec: RunSpec) -> tuple[Period, ...]:
    """The periods with work: adjustment factors and valuations are daily facts, so a run
    without bars has only daily units; a run for the securities list alone has none."""
    if spec.wants(DATASET_BARS):
        return spec.periods
    if spec.wants("adj_factors") or spec.wants("valuations"):
        return (Period.DAILY,)
    return ()


def covering_key(unit_key: str) -> str:
    """The key of the same unit with every dataset: its success covers a subset's unit too."""
    tag, rest = unit_key.split(":", 1)
    return unit_key if tag == DATASET_BARS else f"{DATASET_BARS}:{rest}"


def estimate_seconds(calls: int, source: Source, parallelism: int) -> float:
    """Seconds to make ``calls`` at the source's latency across ``parallelism`` workers,
    never faster than its per-minute quota allows."""
    by_latency = calls * source.expected_latency_s / max(1, parallelism)
    quota = source.calls_per_minute
    by_quota = calls * 60.0 / quota if quota else 0.0
    return max(by_latency, by_quota)
