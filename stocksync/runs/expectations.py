"""What a unit's rows should cover, from the stored calendar and securities list (see
:mod:`stocksync.datasets.completeness`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from stocksync.calendar import calendar_horizon, period_end_dates
from stocksync.datasets import securities, trade_calendar
from stocksync.datasets.completeness import Expectation
from stocksync.domain import Period
from stocksync.runs.ledger import ItemRecord


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
        )
    last = item.end_date if item.period is Period.DAILY else calendar_horizon(item.end_date)
    days = trade_calendar.load_trading_days(conn, item.start_date, last)
    dates = period_end_dates(days, item.period, item.start_date, item.end_date)  # as planned
    return Expectation(frozenset((item.code, d) for d in dates), by_date=False)
