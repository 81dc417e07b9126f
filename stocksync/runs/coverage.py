"""What earlier runs already finished, as the planner needs it: per stock, the date ranges of
its successful per-stock units; for the whole market, the dates of successful per-date units.

A per-stock unit is trimmed to the dates nobody finished yet (from the first to the last such
date), and recorded as skipped when none is left, so an all-history run (the monthly gap check)
fetches only the gaps, whatever shape earlier runs had.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


def _merged(spans: Iterable[tuple[dt.date, dt.date]]) -> list[tuple[dt.date, dt.date]]:
    merged: list[tuple[dt.date, dt.date]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class Coverage:
    """Finished work of one period: ``ranges`` per stock, ``market_dates`` for every stock."""

    ranges: Mapping[str, Sequence[tuple[dt.date, dt.date]]] = field(default_factory=dict)
    market_dates: frozenset[dt.date] = frozenset()

    def open_dates(self, dates: Sequence[dt.date]) -> list[dt.date]:
        """``dates`` (sorted) that no finished market-wide unit covers."""
        return [d for d in dates if d not in self.market_dates]

    def open_span(
        self, code: str, open_dates: Sequence[dt.date], first: dt.date, last: dt.date
    ) -> tuple[dt.date, dt.date] | None:
        """The first and last of ``open_dates`` (see :meth:`open_dates`) within [first, last]
        that no finished per-stock unit of ``code`` covers; None when every one is covered."""
        lo = bisect.bisect_left(open_dates, first)
        hi = bisect.bisect_right(open_dates, last)
        if lo >= hi:
            return None
        spans = _merged(self.ranges.get(code, ()))
        gaps = _complement(spans, first, last)
        found = [
            (open_dates[i], open_dates[j - 1])
            for a, b in gaps
            if (i := bisect.bisect_left(open_dates, a, lo, hi))
            < (j := bisect.bisect_right(open_dates, b, lo, hi))
        ]
        return (found[0][0], found[-1][1]) if found else None


def _complement(
    spans: Sequence[tuple[dt.date, dt.date]], first: dt.date, last: dt.date
) -> list[tuple[dt.date, dt.date]]:
    """The parts of [first, last] outside the merged, sorted ``spans``."""
    gaps, cursor = [], first
    for start, end in spans:
        if end < cursor:
            continue
        if start > last:
            break
        if start > cursor:
            gaps.append((cursor, start - dt.timedelta(days=1)))
        cursor = max(cursor, end + dt.timedelta(days=1))
    if cursor <= last:
        gaps.append((cursor, last))
    return gaps
