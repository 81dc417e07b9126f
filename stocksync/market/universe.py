"""The universe and the calendar a researcher builds on: the stocks listed on a date, and the
trading days between two dates, from the stored securities list and calendar."""

from __future__ import annotations

from typing import Any

from stocksync.context import Context
from stocksync.datasets import securities, trade_calendar
from stocksync.errors import InvalidRequest
from stocksync.runs.spec import parse_date

MAX_CALENDAR_DAYS = 366 * 40


def listed_on(ctx: Context, date: str | None) -> dict[str, Any]:
    """Every stored stock listed on ``date`` (not yet delisted then), by code."""
    day = parse_date(date, "date")
    with ctx.engine.connect() as conn:
        if securities.count_securities(conn) == 0:
            raise InvalidRequest(
                "no stock list is stored yet; run a sync first (it stores the list)", field="date"
            )
        codes = set(securities.codes_listed_on(conn, day, None))
        stocks = [s for s in securities.load_securities(conn) if s.code in codes]
    return {
        "date": day.isoformat(),
        "count": len(stocks),
        "stocks": [
            {
                "code": s.code,
                "name": s.name,
                "exchange": s.exchange.value,
                "board": s.board.value,
                "list_date": s.list_date.isoformat(),
            }
            for s in stocks
        ],
    }


def trading_days(ctx: Context, start: str | None, end: str | None) -> dict[str, Any]:
    """The open days in [start, end] of the stored calendar; InvalidRequest when the stored
    calendar does not cover the whole range (a sync over it stores it)."""
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if first > last:
        raise InvalidRequest(f"start {first} is after end {last}", field="start")
    span = (last - first).days + 1
    if span > MAX_CALENDAR_DAYS:
        raise InvalidRequest(f"ask for at most {MAX_CALENDAR_DAYS} days", field="end")
    with ctx.engine.connect() as conn:
        known = trade_calendar.stored_calendar_days(conn, first, last)
        if known < span:
            raise InvalidRequest(
                f"the stored calendar knows {known} of the {span} days from {first} to {last}; "
                "run a sync over that range first (it stores the calendar)",
                field="start",
            )
        days = trade_calendar.load_trading_days(conn, first, last)
    return {
        "start": first.isoformat(),
        "end": last.isoformat(),
        "count": len(days),
        "trading_days": [d.isoformat() for d in days],
    }
