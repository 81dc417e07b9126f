"""Reference data: the securities list and the trading calendar, stored from a source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert

from stocksync.domain import Board, Exchange, Security
from stocksync.storage.schema import securities, trade_calendar

CALENDAR_EXCHANGE = "SSE"  # one A-share calendar: SH, SZ and BJ open on the same days


def upsert_securities(conn: Connection, items: Iterable[Security], *, source: str) -> int:
    """Insert or refresh securities; returns how many rows were sent."""
    rows = [
        {
            "code": s.code,
            "name": s.name,
            "exchange": s.exchange.value,
            "board": s.board.value,
            "list_date": s.list_date,
            "delist_date": s.delist_date,
            "status": s.status,
            "source": source,
        }
        for s in items
    ]
    if not rows:
        return 0
    stmt = insert(securities)
    stmt = stmt.on_conflict_do_update(
        index_elements=[securities.c.code],
        set_={
            c: stmt.excluded[c]
            for c in ("name", "exchange", "board", "list_date", "delist_date", "status", "source")
        }
        | {"updated_at": func.now()},
    )
    for start in range(0, len(rows), 2000):
        conn.execute(stmt, rows[start : start + 2000])
    return len(rows)


def load_securities(conn: Connection, codes: Sequence[str] | None = None) -> list[Security]:
    """Stored securities (all of them, or those in ``codes``), sorted by code."""
    query = select(securities).order_by(securities.c.code)
    if codes is not None:
        query = query.where(securities.c.code.in_(list(codes)))
    return [
        Security(
            code=r.code,
            name=r.name,
            exchange=Exchange(r.exchange),
            board=Board(r.board),
            list_date=r.list_date,
            delist_date=r.delist_date,
        )
        for r in conn.execute(query)
    ]


def count_securities(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(securities)).scalar_one())


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
