"""The simulated market's trading calendar: the real XSHG sessions from 2005 to 2026.

Trading days are addressed by their *session index* ``g`` (0 = 2005-01-04), which is what the
price model is keyed on.
"""

from __future__ import annotations

import bisect
import datetime as dt
import warnings
from dataclasses import dataclass
from functools import cache

from stocksync.domain import Period

CALENDAR_START = dt.date(2005, 1, 1)
CALENDAR_END = dt.date(2026, 12, 31)


@dataclass(frozen=True)
class SessionCalendar:
    """The XSHG sessions as a tuple of dates plus a date -> session-index map."""

    days: tuple[dt.date, ...]
    index: dict[dt.date, int]

    def __len__(self) -> int:
        return len(self.days)

    def check_end(self, end: dt.date) -> None:
        """Raise ``ValueError`` when ``end`` lies past the last day the calendar knows."""
        if end > CALENDAR_END:
            raise ValueError(
                f"the XSHG calendar is only known up to {CALENDAR_END.isoformat()}; "
                f"cannot go to {end.isoformat()}"
            )

    def first_at_or_after(self, day: dt.date) -> int:
        """Index of the first session on or after ``day`` (``len(self)`` when none)."""
        return bisect.bisect_left(self.days, day)

    def last_at_or_before(self, day: dt.date) -> int:
        """Index of the last session on or before ``day`` (-1 when none)."""
        return bisect.bisect_right(self.days, day) - 1

    def span(self, start: dt.date, end: dt.date) -> tuple[int, int]:
        """Session indexes ``[lo, hi)`` of the sessions between ``start`` and ``end`` inclusive.

        Raises ``ValueError`` when ``end`` is past the calendar's end.
        """
        self.check_end(end)
        lo = self.first_at_or_after(start)
        hi = self.last_at_or_before(end) + 1
        return lo, max(lo, hi)


@cache
def xshg() -> SessionCalendar:
    """The XSHG session calendar, built once per process."""
    import exchange_calendars as xcals  # type: ignore[import-untyped]

    with warnings.catch_warnings():  # pandas deprecation noise from inside exchange_calendars
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar(
            "XSHG", start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat()
        )
        days = tuple(ts.date() for ts in cal.sessions)
    return SessionCalendar(days=days, index={d: i for i, d in enumerate(days)})


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """XSHG sessions between ``start`` and ``end`` inclusive (none before 2005-01-04).

    Raises ``ValueError`` when ``end`` is after 2026-12-31, the last day the calendar knows.
    """
    cal = xshg()
    lo, hi = cal.span(start, end)
    return list(cal.days[lo:hi])


def _period_key(day: dt.date, period: Period) -> tuple[int, int]:
    if period is Period.WEEKLY:
        iso = day.isocalendar()
        return (iso.year, iso.week)
    return (day.year, day.month)


def period_end_indexes(period: Period, start: dt.date, end: dt.date) -> list[int]:
    """Session indexes of the period-end days within ``[start, end]`` (see period_end_dates)."""
    cal = xshg()
    lo, hi = cal.span(start, end)
    if period is Period.DAILY or period.intraday:
        return list(range(lo, hi))
    ends: list[int] = []
    for g in range(lo, hi):
        nxt = g + 1
        if nxt >= len(cal) or _period_key(cal.days[nxt], period) != _period_key(
            cal.days[g], period
        ):
            ends.append(g)
    return ends


def period_end_dates(period: Period, start: dt.date, end: dt.date) -> list[dt.date]:
    """The dates bars of ``period`` are stamped with, within ``[start, end]``.

    DAILY: every trading day. WEEKLY: the last trading day of each calendar week (Mon-Sun).
    MONTHLY: the last trading day of each calendar month. Raises ``ValueError`` past 2026-12-31.
    """
    days = xshg().days
    return [days[g] for g in period_end_indexes(period, start, end)]


def period_start_index(period: Period, g_end: int) -> int:
    """Session index of the first trading day of the period that ends at session ``g_end``."""
    cal = xshg()
    if period is Period.DAILY or period.intraday:
        return g_end
    key = _period_key(cal.days[g_end], period)
    g = g_end
    while g > 0 and _period_key(cal.days[g - 1], period) == key:
        g -= 1
    return g
