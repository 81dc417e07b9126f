"""The universe and the calendar a researcher builds on: the stocks listed on a date (or an
index's members then), and the trading days between two dates, from the stored securities
list, index members and calendar."""

from __future__ import annotations

import datetime as dt
from typing import Any

from stocksync.context import Context
from stocksync.datasets import securities, trade_calendar
from stocksync.datasets.index_members import members_on
from stocksync.datasets.profiles import profiles_on
from stocksync.errors import InvalidRequest
from stocksync.market.index_reading import find_index
from stocksync.runs.spec import parse_date

MAX_CALENDAR_DAYS = 366 * 40


def listed_on(ctx: Context, date: str | None, index: str | None = None) -> dict[str, Any]:
    """Every stored stock listed on ``date`` (not yet delisted then), by code; with ``index``,
    the members of that index on ``date`` (its latest stored snapshot on or before it)."""
    day = parse_date(date, "date")
    if index:
        return _members(ctx, find_index(index).code, day)
    with ctx.engine.connect() as conn:
        if securities.count_securities(conn) == 0:
            raise InvalidRequest(
                "no stock list is stored yet; run a sync first (it stores the list)", field="date"
            )
        codes = set(securities.codes_listed_on(conn, day, None))
        stocks = [s for s in securities.load_securities(conn) if s.code in codes]
        then = {p["code"]: p for p in profiles_on(conn, sorted(codes), day)}
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
                **_profile_then(then.get(s.code)),
            }
            for s in stocks
        ],
    }


def _profile_then(profile: dict[str, Any] | None) -> dict[str, Any]:
    """The name, ST status and industry a stored profile gives for the date (none: nothing)."""
    if profile is None:
        return {}
    return {"name_then": profile["name"], "is_st": profile["is_st"],
            "industry": profile["industry"]}  # fmt: skip


def _members(ctx: Context, index_code: str, day: dt.date) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        snapshot, members = members_on(conn, index_code, day)
        names = {s.code: s for s in securities.load_securities(conn, [c for c, _ in members])}
    if snapshot is None:
        raise InvalidRequest(
            f"no members of {index_code} are stored on or before {day}; sync them first "
            "(datasets: index_members)",
            field="index",
        )
    return {
        "date": day.isoformat(),
        "index": index_code,
        "snapshot": snapshot.isoformat(),
        "count": len(members),
        "stocks": [
            {"code": code, "name": names[code].name if code in names else None, "weight": weight}
            for code, weight in members
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
