"""baostock's minute k-data: ``query_history_k_data_plus`` at frequency 5, 15, 30 or 60 →
canonical :class:`~stocksync.domain.MinuteBar` (yuan, shares, yuan).

At a minute frequency baostock has ten fields only (``date, time, code, open, high, low, close,
volume, amount, adjustflag``): asking for ``turn``, ``pctChg``, ``preclose``… is refused with
10004012, so :data:`FIELDS` is all the adapter ever asks for. ``time`` is
``YYYYMMDDHHMMSSsss`` (``20240102093500000``), the minute the bar ENDS in Beijing time, which
is :attr:`MinuteBar.bar_time` as it is. Stocks only (no index, nothing of Beijing); suspended
days have no bars. A year of 5-minute bars is ~12,000 rows: six or seven 2,000-row pages of one
query, fetched by the client's ``next()``.
"""

from __future__ import annotations

import datetime as dt

from stocksync.domain import MINUTE_PERIODS, MinuteBar, Period
from stocksync.sources.baostock import rows as wire
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    Offer,
    Shape,
    TransientSourceError,
)

NAME = wire.NAME
FIELDS = "date,time,code,open,high,low,close,volume,amount,adjustflag"
FREQUENCY = {Period.MIN5: "5", Period.MIN15: "15", Period.MIN30: "30", Period.MIN60: "60"}
# what BaostockSource declares: per stock over a range, suspended days left out
OFFER = Offer(frozenset({Shape.STOCK_BY_RANGE}), MINUTE_PERIODS, omits_suspended=True)
_TIME_DIGITS = 17  # YYYYMMDDHHMMSSsss


def frequency_of(period: Period) -> Period:
    """``period`` when baostock has minute bars of it, else FatalSourceError."""
    period = Period(period)
    if period not in FREQUENCY:
        raise FatalSourceError(NAME, f"baostock has no {period} minute bars (5/15/30/60min)")
    return period


def parse_time(text: str, date: str) -> dt.datetime:
    """``20240102093500000`` (of the row dated ``2024-01-02``) -> 2024-01-02 09:35, the bar's
    end; ValueError when it is not 17 digits, not a whole minute or not on the row's date."""
    if len(text) != _TIME_DIGITS or not text.isdigit():
        raise ValueError(f"time {text!r} is not YYYYMMDDHHMMSSsss")
    when = dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S")
    if when.second or text[14:] != "000":
        raise ValueError(f"time {text!r} is not a whole minute")
    if when.date() != wire.parse_date(date):
        raise ValueError(f"time {text!r} is not on the row's date {date}")
    return when


def minute_bar(code: str, period: Period, r: dict[str, str]) -> MinuteBar:
    """One row of :data:`FIELDS` as a MinuteBar (amount to the cent)."""
    return MinuteBar(
        code=code,
        period=period,
        bar_time=parse_time(r["time"], r["date"]),
        open=wire.number(r["open"]),
        high=wire.number(r["high"]),
        low=wire.number(r["low"]),
        close=wire.number(r["close"]),
        volume=round(wire.number(r["volume"] or "0")),
        amount=round(wire.number(r["amount"] or "0"), 2),
    )


def minute_bars(
    code: str, period: Period, start: dt.date, end: dt.date, rows: list[dict[str, str]]
) -> list[MinuteBar]:
    """The bars of ``rows`` sorted by time; NoDataError when there are none (no such stock, or
    suspended throughout), TransientSourceError when one cannot be read or comes twice."""
    if not rows:
        raise NoDataError(NAME, f"no {period} bars of {code} from {start} to {end}")
    try:
        bars = [minute_bar(code, period, r) for r in rows]
    except (ValueError, ArithmeticError) as exc:
        raise TransientSourceError(NAME, f"unreadable {period} bar of {code}: {exc!r}") from exc
    if len({b.bar_time for b in bars}) != len(bars):
        raise TransientSourceError(NAME, f"{period} bars of {code}: a bar time comes twice")
    return sorted(bars, key=lambda b: b.bar_time)
