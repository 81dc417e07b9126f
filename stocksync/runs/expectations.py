"""What a unit's rows should cover, from the stored calendar and securities list (see
:mod:`stocksync.datasets.completeness`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, select

from stocksync.calendar import calendar_horizon, period_end_dates
from stocksync.datasets import securities, trade_calendar
from stocksync.datasets.completeness import Expectation
from stocksync.domain import Period
from stocksync.runs.ledger import ItemRecord
from stocksync.storage.schema import bars


def expectation_for(
    conn: Connection, item: ItemRecord, symbols: Sequence[str] | None
) -> Expectation:
    """The keys ``item``'s rows should cover: for a per-date unit, every stock listed on its
    date (of ``symbols`` when given); for a per-stock unit, its code on every trade date of
    the period in its range (which the planner kept within the stock's listing)."""
    if item.code is None:
        assert item.trade_date is not None
        day = item.trade_date
        codes = securities.codes_listed_on(conn, day, symbols)
        return Expectation(
            frozenset((code, day) for code in codes),
            by_date=True,
            known_codes=securities.known_codes(conn),
            suspended=_suspended(conn, item, None, day, day),
        )
    daily_like = item.period is Period.DAILY or item.period.intraday
    last = item.end_date if daily_like else calendar_horizon(item.end_date)
    days = trade_calendar.load_trading_days(conn, item.start_date, last)
    dates = period_end_dates(days, item.period, item.start_date, item.end_date)  # as planned
    return Expectation(
        frozenset((item.code, d) for d in dates),
        by_date=False,
        suspended=_suspended(conn, item, item.code, item.start_date, item.end_date),
    )


def _suspended(
    conn: Connection, item: ItemRecord, code: str | None, start: dt.date, end: dt.date
) -> frozenset[tuple[str, dt.date]]:
    """For minute bars, the (stock, day)s whose stored daily bar says suspended: a day without
    trading has no intraday bars to miss."""
    if not item.period.intraday:
        return frozenset()
    query = select(bars.c.code, bars.c.trade_date).where(
        bars.c.period == "daily", bars.c.trade_status == 0, bars.c.trade_date.between(start, end)
    )
    if code is not None:
        query = query.where(bars.c.code == code)
    return frozenset((c, d) for c, d in conn.execute(query))
