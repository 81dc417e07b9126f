"""Keep the stored securities list and trading calendar filled from the primary source."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from stocksync.calendar import calendar_horizon, period_end_dates
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.sources.base import Source
from stocksync.storage import reference

CALENDAR_LIMIT = dt.date(2026, 12, 31)


def ensure_securities(conn: Connection, source: Source) -> None:
    """Fill the securities table from ``source`` when it is empty."""
    if reference.count_securities(conn) == 0:
        reference.upsert_securities(conn, source.securities(), source=source.name)


def ensure_calendar(conn: Connection, source: Source, start: dt.date, end: dt.date) -> None:
    """Make sure the stored calendar covers [start, end]."""
    wanted = (end - start).days + 1
    if reference.stored_calendar_days(conn, start, end) >= wanted:
        return
    try:
        days = source.trading_days(start, end)
    except ValueError as exc:  # a calendar that does not reach that far
        raise InvalidRequest(str(exc), field="end_date") from exc
    reference.store_trading_days(conn, start, end, days)


def dates_by_period(
    conn: Connection, source: Source, periods: tuple[Period, ...], start: dt.date, end: dt.date
) -> dict[Period, list[dt.date]]:
    """The trade dates each period's bars carry within [start, end]."""
    if end > CALENDAR_LIMIT:
        raise InvalidRequest(
            f"the trading calendar is only known up to {CALENDAR_LIMIT}; "
            f"end_date {end} is beyond it",
            field="end_date",
        )
    horizon = min(calendar_horizon(end), CALENDAR_LIMIT)
    need_horizon = any(p is not Period.DAILY for p in periods)
    last = horizon if need_horizon else end
    ensure_calendar(conn, source, start, last)
    days = reference.load_trading_days(conn, start, last)
    return {p: period_end_dates(days, p, start, end) for p in periods}
