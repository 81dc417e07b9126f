"""Period-end trade dates: weekly and monthly bars are dated on the last trading day of their
week (Monday–Sunday) or month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from stocksync.domain import Period


def _bucket(day: dt.date, period: Period) -> tuple[int, int]:
    if period is Period.WEEKLY:
        iso = day.isocalendar()
        return iso.year, iso.week
    return day.year, day.month


def period_end_dates(
    trading_days: Sequence[dt.date], period: Period, start: dt.date, end: dt.date
) -> list[dt.date]:
    """The dates bars of ``period`` carry within [start, end].

    ``trading_days`` must cover every day through the end of the week or month containing
    ``end``; a week or month whose last trading day falls after ``end`` is not finished and is
    left out.
    """
    days = sorted(trading_days)
    if period is Period.DAILY or period.intraday:  # minute bars: every trading day
        return [d for d in days if start <= d <= end]
    last_of: dict[tuple[int, int], dt.date] = {}
    for day in days:
        last_of[_bucket(day, period)] = day
    return sorted(d for d in last_of.values() if start <= d <= end)


def calendar_horizon(end: dt.date) -> dt.date:
    """How far past ``end`` the calendar must be known to find the period ends up to ``end``."""
    return end + dt.timedelta(days=31)


XSHG_LAST_KNOWN = dt.date(2026, 12, 31)


def xshg_trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Open days from the offline XSHG calendar (``exchange_calendars``), which records the
    exchange's holidays only up to 2026-12-31: asking beyond that is an error, not a guess."""
    if end > XSHG_LAST_KNOWN:
        raise ValueError(
            f"the offline XSHG calendar only knows holidays up to {XSHG_LAST_KNOWN}; "
            f"{end} is beyond it (a source's own calendar is needed)"
        )
    import warnings

    import exchange_calendars

    with warnings.catch_warnings():  # pandas deprecation chatter from inside the library
        warnings.simplefilter("ignore")
        first = max(start, dt.date(1990, 12, 19))
        calendar = exchange_calendars.get_calendar("XSHG", start=first)
        sessions = calendar.sessions_in_range(start.isoformat(), end.isoformat())
    return [ts.date() for ts in sessions]
