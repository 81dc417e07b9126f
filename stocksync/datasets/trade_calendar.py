"""Reference dataset ``trade_calendar``: every calendar day of the A-share market, open or
closed (one calendar: SH, SZ and BJ open on the same days)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from stocksync.storage.schema import trade_calendar

CALENDAR_EXCHANGE = "SSE"


def store_trading_days(
    conn: Connection, start: dt.date, end: dt.date, open_days: Iterable[dt.date]
) -> None:
    """Record every calendar day in [start, end] as open or closed."""
    opened = set(open_days)
    rows = []
    day = start
    while day <= end:
        rows.append({"exchange": CALENDAR_EXCHANGE, "cal_date": day, "is_open": day in opened})
        day += dt.timedelta(days=1)
    if not rows:
        return
    stmt = insert(trade_calendar)
    stmt = stmt.on_conflict_do_update(
        index_elements=[trade_calendar.c.exchange, trade_calendar.c.cal_date],
        set_={"is_open": stmt.excluded.is_open},
    )
    conn.execute(stmt, rows)


def stored_calendar_days(conn: Connection, start: dt.date, end: dt.date) -> int:
    """How many calendar days in [start, end] the stored calendar knows about."""
    query = select(func.count()).where(
        trade_calendar.c.exchange == CALENDAR_EXCHANGE,
        trade_calendar.c.cal_date.between(start, end),
    )
    return int(conn.execute(query).scalar_one())


def load_trading_days(conn: Connection, start: dt.date, end: dt.date) -> list[dt.date]:
    """Open days in [start, end] from the stored calendar, ascending."""
    query = (
        select(trade_calendar.c.cal_date)
        .where(
            trade_calendar.c.exchange == CALENDAR_EXCHANGE,
            trade_calendar.c.cal_date.between(start, end),
            trade_calendar.c.is_open.is_(True),
        )
        .order_by(trade_calendar.c.cal_date)
    )
    return list(conn.execute(query).scalars())
