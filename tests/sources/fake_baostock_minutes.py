"""The fake baostock server's minute-frequency k-data: ``query_history_k_data_plus`` with
``frequency`` 5, 15, 30 or 60 (:mod:`fake_baostock` dispatches those requests here and frames the
replies: type 96, zlib-compressed, 2,000 rows a page, like every k-data reply).

What baostock documents for minute bars (wiki "A股K线数据"; /work/shared/SOURCES-DATASETS.md §6):

- only ten fields exist at a minute frequency: ``date, time, code, open, high, low, close,
  volume, amount, adjustflag``. Any other (``turn``, ``pctChg``, ``preclose``, ``tradestatus``…)
  is refused with 10004012 无效的指标, as the fake refuses a daily-only field on weekly bars;
- ``time`` is ``YYYYMMDDHHMMSSsss`` (``20240102093500000``): the bar's END, Beijing time, 5-min
  bars 09:35 … 11:30 and 13:05 … 15:00 (48 a day);
- prices as 4-decimal strings, volume in shares (an integer string), amount in yuan with 4
  decimals; ``adjustflag`` 3 is the raw series, 1 (hfq) multiplies each day's bars by that day's
  factor, 2 (qfq) divides that by the stock's latest factor;
- stocks only, from 1999-07-26: an index (``sh.000300``), a Beijing code or an unknown code
  answers an empty result, not an error (unverified live: the wiki says only "分钟线不包含指数");
  suspended days have no bars;
- rows are sorted by time, one stock per request; the reply echoes the request.

``garbage`` corrupts rows like the daily fake (high below low, volume in lots); ``answer_with``
serves another stock's bars whatever the request asks for.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING

import fake_baostock as wire  # type: ignore[import-not-found]

from stocksync.domain import MinuteBar, Period

if TYPE_CHECKING:
    from fake_baostock import FakeBaostockServer, Request  # type: ignore[import-not-found]

FREQUENCIES = {"5": Period.MIN5, "15": Period.MIN15, "30": Period.MIN30, "60": Period.MIN60}
FIELDS = ("date", "time", "code", "open", "high", "low", "close", "volume", "amount",
          "adjustflag")  # fmt: skip
HISTORY_START = dt.date(1999, 7, 26)  # baostock's minute bars begin here


def bar_time(when: dt.datetime) -> str:
    """``2024-01-02 09:35`` -> ``20240102093500000`` (milliseconds always 000)."""
    return when.strftime("%Y%m%d%H%M%S") + "000"


def k_data(server: FakeBaostockServer, request: Request, reply_type: str, garbage: bool) -> bytes:
    """One page of a minute-frequency ``query_history_k_data_plus`` request."""
    _, user, page, size, code, fields, start, end, frequency, adjustflag = request.fields
    period = FREQUENCIES[frequency]
    if adjustflag not in ("1", "2", "3"):
        raise wire.Refused(wire.PARAM_ERR, "参数错误")
    names = [name.strip() for name in fields.split(",")]
    if not names or any(name not in FIELDS for name in names):
        raise wire.Refused(wire.INDICATOR_INVALID, "无效的指标")
    first, last = wire._dates(start, end)
    served = server.answer_with or code
    values = _values(server, served, first, last, period, adjustflag)
    rows = []
    for i, row in enumerate(values):
        row = dict(row)
        if garbage and i % 3 == 0:
            row["high"] = f"{float(row['low']) - 0.01:.4f}"  # high below low
        if garbage and i % 3 == 1:
            row["volume"] = str(int(row["volume"]) // 100)  # lots instead of shares
        rows.append([row[name] for name in names])
    return wire._page(
        reply_type, "query_history_k_data_plus", user, page, size, rows,
        [served, fields, start, end, frequency, adjustflag],
    )  # fmt: skip


def _values(
    server: FakeBaostockServer, code: str, first: dt.date, last: dt.date, period: Period,
    adjustflag: str,
) -> tuple[dict[str, str], ...]:  # fmt: skip
    """Every field of the minute rows of ``code``: empty for an index, a Beijing or an unknown
    code, and before baostock's minute history."""
    if code[:3] not in ("sh.", "sz.") or code in wire.INDICES:
        return ()
    key = wire.canonical(code)
    if not server._knows(key) or last < HISTORY_START:
        return ()
    return _rows(server, code, max(first, HISTORY_START), last, period, adjustflag)


@functools.cache
def _rows(
    server: FakeBaostockServer, code: str, first: dt.date, last: dt.date, period: Period,
    adjustflag: str,
) -> tuple[dict[str, str], ...]:  # fmt: skip
    """Cached: a paged request asks for the same rows once per page."""
    key = wire.canonical(code)
    try:
        bars = server.market.minute_bars(key, period, first, last)
    except ValueError as exc:
        raise wire.Refused(wire.BEYOND_DATES, f"超出日期支持范围: {exc}") from exc
    scale = _scales(server, key, bars, adjustflag)
    return tuple(_row(code, bar, scale[bar.bar_time.date()], adjustflag) for bar in bars)


def _scales(
    server: FakeBaostockServer, code: str, bars: list[MinuteBar], adjustflag: str
) -> dict[dt.date, float]:
    days = sorted({b.bar_time.date() for b in bars})
    if adjustflag == "3" or not days:
        return dict.fromkeys(days, 1.0)
    factors = server._factors(code, days[0], days[-1])
    latest = 1.0 if adjustflag == "1" else server._latest_factor(code)
    return {day: factors[day] / latest for day in days}


def _row(code: str, bar: MinuteBar, scale: float, adjustflag: str) -> dict[str, str]:
    def price(value: float) -> str:
        return f"{value * scale:.4f}"

    return {
        "date": bar.bar_time.date().isoformat(), "time": bar_time(bar.bar_time), "code": code,
        "open": price(bar.open), "high": price(bar.high), "low": price(bar.low),
        "close": price(bar.close), "volume": str(bar.volume), "amount": f"{bar.amount:.4f}",
        "adjustflag": adjustflag,
    }  # fmt: skip
