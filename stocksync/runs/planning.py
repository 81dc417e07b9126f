"""Turn a run's spec into units of work, and preview the cost before running.

Each requested dataset is planned only where some configured source serves it; one that no
source serves (or that has none of the requested periods) is named in :attr:`Plan.unserved`,
never silently left out. A per-date unit asks a source for the whole market on one trade date;
a per-stock unit asks for one stock over the run's range. The planner picks, per period,
whichever needs fewer calls among the shapes the first source serving that period offers.
Non-trading days and stocks not listed in the range are never planned; datasets earlier runs
stored (see :mod:`stocksync.runs.finished_work`) are left out of a unit, and a unit with none
left is planned as already done.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from stocksync.datasets import FACT_DATASETS, datasets_of_period
from stocksync.domain import DatasetName, Period, Security
from stocksync.runs.coverage import Coverage
from stocksync.runs.spec import RunSpec
from stocksync.runs.units import WorkUnit, symbols_scope
from stocksync.sources.base import Shape, Source

CoverageOf = Callable[[Period, DatasetName], Coverage]


@dataclass(frozen=True)
class Plan:
    """Units to run, what running them is expected to cost, and what cannot be planned."""

    units: list[WorkUnit]
    shapes: dict[Period, Shape]
    expected_calls: int
    eta_s: float
    covered: set[str] = field(default_factory=set)  # keys of units earlier runs finished
    unserved: dict[str, str] = field(default_factory=dict)  # dataset -> why it is not planned


def choose_shape(
    source: Source, period: Period, datasets: Sequence[DatasetName], n_dates: int, n_codes: int
) -> Shape:
    """The shape needing fewer calls among those ``source`` serves ``datasets`` of ``period``
    in (per date only when it serves every one of them it has by date)."""
    served = [d for d in datasets if any(source.offers(d, s, period) for s in Shape)]
    if not served:
        raise ValueError(f"source {source.name} serves none of {', '.join(datasets)}")
    by_date = all(source.offers(d, Shape.MARKET_BY_DATE, period) for d in served)
    by_stock = all(source.offers(d, Shape.STOCK_BY_RANGE, period) for d in served)
    if by_date and (not by_stock or n_dates <= n_codes):
        return Shape.MARKET_BY_DATE
    return Shape.STOCK_BY_RANGE


def _listed_within(security: Security, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    first = max(start, security.list_date)
    last = end
    if security.delist_date is not None:
        last = min(end, security.delist_date - dt.timedelta(days=1))
    return first, last


def planned_periods(spec: RunSpec) -> tuple[Period, ...]:
    """The periods with work: adjustment factors and valuations are daily facts, so a run
    without bars has only daily units; a run for the securities list alone has none."""
    found: list[Period] = []
    if any(spec.wants(d) for d in (DatasetName.BARS, DatasetName.INDEX_BARS,
                                   DatasetName.MINUTE_BARS)):  # fmt: skip
        found = list(spec.periods)
    elif any(spec.wants(d) and ds.sampled is None for d, ds in FACT_DATASETS.items()):
        found = [Period.DAILY]
    for name, ds in FACT_DATASETS.items():  # index members: a snapshot a month, whatever else
        if spec.wants(name) and ds.sampled is not None and ds.sampled not in found:
            found.append(ds.sampled)
    return tuple(found)


def unserved_datasets(spec: RunSpec, sources: Sequence[Source]) -> dict[str, str]:
    """Requested fact datasets that no configured source serves for any planned period, or
    that the planned periods do not have, each with the reason a user reads."""
    periods = planned_periods(spec)
    names = ", ".join(s.name for s in sources) or "none"
    found: dict[str, str] = {}
    for name, ds in FACT_DATASETS.items():
        if not spec.wants(name):
            continue
        wanted = [p for p in periods if p in ds.periods]
        if not wanted:
            have = ", ".join(p.value for p in Period if p in ds.periods)
            found[name.value] = f"{name} are {have} facts; add {have} to periods to sync them"
        elif not any(s.offers(name, sh, p) for s in sources for sh in Shape for p in wanted):
            found[name.value] = f"no configured source ({names}) serves {name}"
    return found


def plan_run(
    spec: RunSpec,
    *,
    period_dates: Mapping[Period, Sequence[dt.date]],
    universe: Sequence[Security],
    sources: Sequence[Source],
    parallelism: int = 1,
    stock_starts: Mapping[Period, Mapping[str, dt.date]] | None = None,
    coverage: CoverageOf | None = None,
    indices: Sequence[tuple[str, dt.date, dt.date]] = (),
) -> Plan:
    """Plan ``spec`` against the trading dates of each period, the securities universe and
    the indices.

    ``sources`` are the usable sources in priority order. ``universe`` holds the securities the
    run covers (the requested symbols, or every stock); ``indices`` the (code, first, last) of
    each index the run covers. ``stock_starts`` moves a per-stock (or per-index) unit's start
    later (an incremental run starts after each one's last bar). ``coverage(period, dataset)``
    tells where earlier runs stored a dataset (None: ``force``).
    """
    plan = _Planning(spec, sources, coverage)
    for period in planned_periods(spec):
        dates = list(period_dates.get(period, ()))
        wanted = [
            d
            for d in datasets_of_period(spec.datasets, period)
            if any(s.offers(d, sh, period) for s in sources for sh in Shape)
            and (period in spec.periods or FACT_DATASETS[d].sampled is period)
        ]
        if not dates or not wanted:
            continue
        starts = (stock_starts or {}).get(period, {})
        of_stocks = [d for d in wanted if FACT_DATASETS[d].subjects == "stocks"]
        events = [d for d in of_stocks if FACT_DATASETS[d].events]
        of_indices = [d for d in wanted if FACT_DATASETS[d].subjects == "indices"]
        if bars_like := [d for d in of_stocks if d not in events]:
            plan.stocks(period, bars_like, dates, universe, starts)
        if events:
            plan.events(period, events, dates, universe)
        if of_indices:
            had = plan.covered_by_a_source(period, of_indices, indices)
            spans = [(code, max(first, starts.get(code, first)), last)
                     for code, first, last in indices if code in had]  # fmt: skip
            plan.by_range(period, of_indices, dates, spans, had)
    eta = estimate_seconds(plan.calls, sources[0], parallelism) if sources else 0.0
    unserved = unserved_datasets(spec, sources) | plan.uncovered
    return Plan(plan.units, plan.shapes, plan.calls, eta, plan.covered, unserved)


class _Planning:
    """The units of one plan as they are made, per period and group of datasets."""

    def __init__(
        self, spec: RunSpec, sources: Sequence[Source], coverage: CoverageOf | None
    ) -> None:
        self.spec, self.sources, self.coverage = spec, sources, coverage
        self.units: list[WorkUnit] = []
        self.covered: set[str] = set()
        self.shapes: dict[Period, Shape] = {}
        self.calls = 0
        self.scope = symbols_scope(spec.symbols)
        self.uncovered: dict[str, str] = {}  # "<dataset> of <code>" -> why it is not planned

    def covered_by_a_source(
        self,
        period: Period,
        wanted: list[DatasetName],
        spans: Sequence[tuple[str, dt.date, dt.date]],
    ) -> dict[str, list[DatasetName]]:
        """For each code of ``spans``, those of ``wanted`` some source serving them has for it
        (baostock has no Beijing index, and the members of three indices only); what no source
        has is named in :attr:`uncovered`, never planned to fail."""
        kept: dict[str, list[DatasetName]] = {}
        for code, _, _ in spans:
            for name in wanted:
                serving = [s for s in self.sources if any(s.offers(name, sh, period)
                                                          for sh in Shape)]  # fmt: skip
                if any(s.covers_dataset(name, code) for s in serving):
                    kept.setdefault(code, []).append(name)
                    continue
                names = ", ".join(s.name for s in serving)
                self.uncovered[f"{name} of {code}"] = f"no configured source ({names}) has {code}"
        return kept

    def stocks(
        self,
        period: Period,
        wanted: list[DatasetName],
        dates: list[dt.date],
        universe: Sequence[Security],
        starts: Mapping[str, dt.date],
    ) -> None:
        """The stock datasets of ``period``: per date or per stock, whichever needs fewer
        calls on the first source that serves them."""
        primary = next(s for s in self.sources if any(s.offers(d, sh, period) for d in wanted
                                                       for sh in Shape))  # fmt: skip
        shape = choose_shape(primary, period, wanted, len(dates), len(universe))
        self.shapes[period] = shape
        if shape is Shape.MARKET_BY_DATE:
            self.by_date(period, wanted, dates)
            return
        spans = []
        for security in universe:
            first, last = _listed_within(security, self.spec.start_date, self.spec.end_date)
            spans.append((security.code, max(first, starts.get(security.code, first)), last))
        self.by_range(period, wanted, dates, spans)

    def events(
        self,
        period: Period,
        wanted: list[DatasetName],
        dates: list[dt.date],
        universe: Sequence[Security],
    ) -> None:
        """The stocks' event datasets: one unit per stock over its listed part of the run's
        range (events are not where the bars are: an incremental run's bar starts do not move
        them; the ledger's finished ranges do). Events fall on closed days too (a report out
        on a Saturday), so a unit reaches over the closed days around its trading days: back
        to the day after the previous trading day, on to the day before the next one (within
        the run's range), and consecutive units leave no day out."""
        spans = [(s.code, *_listed_within(s, self.spec.start_date, self.spec.end_date))
                 for s in universe]  # fmt: skip

        def widen(first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
            lo, hi = bisect.bisect_left(dates, first), bisect.bisect_right(dates, last)
            one = dt.timedelta(days=1)
            start = dates[lo - 1] + one if lo > 0 else min(first, self.spec.start_date)
            end = dates[hi] - one if hi < len(dates) else max(last, self.spec.end_date)
            return min(start, first), max(end, last)

        self.by_range(period, wanted, dates, spans, widen=widen)

    def by_date(self, period: Period, wanted: list[DatasetName], dates: list[dt.date]) -> None:
        found = self._found(period, wanted)
        for day in dates:
            left = tuple(d for d in wanted if found is None or day not in found[d].market_dates)
            unit = WorkUnit.for_date(period, left or tuple(wanted), day, self.scope)
            self.units.append(unit)
            if left:
                self.calls += len(left)
            else:
                self.covered.add(unit.unit_key)

    def by_range(
        self,
        period: Period,
        wanted: list[DatasetName],
        dates: list[dt.date],
        spans: Sequence[tuple[str, dt.date, dt.date]],
        datasets_of: Mapping[str, list[DatasetName]] | None = None,
        widen: Callable[[dt.date, dt.date], tuple[dt.date, dt.date]] | None = None,
    ) -> None:
        """One unit per (code, first, last) of ``spans`` with a trade date of the period, of
        ``wanted`` (or the code's own ``datasets_of``), shrunk to what earlier runs left open
        (and then ``widen``-ed when given)."""
        found = self._found(period, wanted)
        open_dates = {d: c.open_dates(dates) for d, c in found.items()} if found else {}
        for code, first, last in spans:
            if bisect.bisect_left(dates, first) >= bisect.bisect_right(dates, last):
                continue  # no trade date of the period in the span
            own = datasets_of[code] if datasets_of is not None else wanted
            left = {d: (first, last) for d in own}
            if found is not None:
                left = {
                    d: span
                    for d in own
                    if (span := found[d].open_span(code, open_dates[d], first, last))
                }
            if not left:
                lo, hi = widen(first, last) if widen else (first, last)
                unit = WorkUnit.for_stock(period, tuple(own), code, lo, hi)
                self.covered.add(unit.unit_key)
            else:
                lo = min(s[0] for s in left.values())
                hi = max(s[1] for s in left.values())
                lo, hi = widen(lo, hi) if widen else (lo, hi)
                unit = WorkUnit.for_stock(period, tuple(left), code, lo, hi)
                self.calls += len(left)
            self.units.append(unit)

    def _found(
        self, period: Period, wanted: list[DatasetName]
    ) -> dict[DatasetName, Coverage] | None:
        """Where earlier runs stored each of ``wanted`` (None: ``force``, nothing counts)."""
        if self.coverage is None:
            return None
        return {d: self.coverage(period, d) for d in wanted}


def estimate_seconds(calls: int, source: Source, parallelism: int) -> float:
    """Seconds to make ``calls`` at the source's latency across ``parallelism`` workers,
    never faster than its per-minute quota allows."""
    by_latency = calls * source.expected_latency_s / max(1, parallelism)
    quota = source.calls_per_minute
    by_quota = calls * 60.0 / quota if quota else 0.0
    return max(by_latency, by_quota)
