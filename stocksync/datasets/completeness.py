"""Whether a reply holds every row that should exist: completeness is measured, not assumed.

For one unit the calendar and the stocks' listings say which (code, trade date) keys should
exist (:class:`Expectation`). A reply is judged against them (:func:`judge`): rows on a key that
cannot exist (a closed day, outside the stock's listing) are rejected, and keys no row covers
are missing. A suspended day is no gap: sources that report suspended days do so in their bars
(``trade_status`` 0), and for a source that leaves them out (tushare, eastmoney) a gap between
two days the stock traded is taken for a suspension, as is a handful of stocks absent from a
whole-market day (:data:`MARKET_ABSENT_SHARE`). A gap at the start or end of a stock's range,
or a large share of the market absent, is missing data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stocksync.datasets.base import Dataset, Key, RejectedRow
from stocksync.domain import Period

MARKET_ABSENT_SHARE = 0.01  # of a whole-market day, this share may be absent (suspended) ...
MARKET_ABSENT_MIN = 5  # ... and at least this many stocks
MAX_NAMED = 8  # missing keys named in a message


@dataclass(frozen=True)
class Expectation:
    """The keys a unit's rows should cover. ``by_date``: a whole-market (or symbol subset) unit
    of one date. ``known_codes``: every code the securities list knows (a row of a code it does
    not know yet is kept, not rejected: the list lags new listings)."""

    keys: frozenset[Key]
    by_date: bool
    known_codes: frozenset[str] = frozenset()
    suspended: frozenset[Key] = frozenset()  # keys a reply in this unit reported suspended


@dataclass
class Verdict:
    """A reply judged: the rows to store, the rejected ones, and the keys still missing."""

    good: list[Any]
    rejected: list[RejectedRow] = field(default_factory=list)
    missing: list[Key] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.rejected

    def describe_missing(self) -> str:
        """The missing keys for a person: dates of one stock, or codes of one date."""
        return describe_keys(self.missing)


def describe_keys(keys: Sequence[Key]) -> str:
    if not keys:
        return ""
    ordered = sorted(keys)
    codes = {c for c, _ in ordered}
    days = {d for _, d in ordered}
    if len(codes) == 1:
        shown = ", ".join(d.isoformat() for _, d in ordered[:MAX_NAMED])
        what = f"{next(iter(codes))} on {shown}"
    elif len(days) == 1:
        shown = ", ".join(c for c, _ in ordered[:MAX_NAMED])
        what = f"{shown} on {next(iter(days)).isoformat()}"
    else:
        what = ", ".join(f"{c} {d.isoformat()}" for c, d in ordered[:MAX_NAMED])
    more = f" (+{len(ordered) - MAX_NAMED} more)" if len(ordered) > MAX_NAMED else ""
    return f"{len(ordered)} missing: {what}{more}"


def judge(
    dataset: Dataset[Any],
    rows: Sequence[Any],
    period: Period,
    expected: Expectation,
    *,
    omits_suspended: bool,
) -> Verdict:
    """Check ``rows`` and measure them against ``expected`` (see the module docstring)."""
    good, rejected = dataset.check(rows, period)
    if dataset.events:  # irregular dates only the source knows: its reply is the whole answer
        return Verdict(good, rejected, [])
    kept: list[Any] = []
    for row in good:
        key = dataset.key(row)
        if key in expected.keys or (expected.by_date and key[0] not in expected.known_codes):
            kept.append(row)
        else:
            reason = "no such row can exist: a closed day or outside the stock's listing"
            rejected.append(dataset.reject(row, reason, period))
    have = {dataset.key(row) for row in kept}
    missing = set(expected.keys - have)
    if omits_suspended or period in (Period.WEEKLY, Period.MONTHLY):
        missing -= expected.suspended
        missing = _unexplained(missing, have, expected)
    return Verdict(kept, rejected, sorted(missing))


def _unexplained(missing: set[Key], have: set[Key], expected: Expectation) -> set[Key]:
    """``missing`` less the absences a source that omits suspended days would show."""
    if not missing:
        return missing
    if expected.by_date:
        allowed = max(MARKET_ABSENT_MIN, int(len(expected.keys) * MARKET_ABSENT_SHARE))
        return set() if len(missing) <= allowed and have else missing
    traded: dict[str, list[dt.date]] = {}
    for code, day in have:
        traded.setdefault(code, []).append(day)
    bounds = {code: (min(days), max(days)) for code, days in traded.items()}
    return {
        (code, day)
        for code, day in missing
        if code not in bounds or not bounds[code][0] < day < bounds[code][1]
    }
