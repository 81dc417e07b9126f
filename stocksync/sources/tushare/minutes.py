"""tushare's minute bars (``stk_mins``) as canonical :class:`MinuteBar` rows.

Facts this relies on (SOURCES-DATASETS.md, sections 0 and 6; tushare.pro/document/2?doc_id=370):

- ``stk_mins(ts_code, freq, start_date, end_date)``: one stock per call; ``freq`` ``1min`` /
  ``5min`` / ``15min`` / ``30min`` / ``60min`` (stocksync asks for the last four only); dates are
  moments ``YYYY-MM-DD HH:MM:SS``, so a day range is asked from its first day's 09:00:00 to its
  last day's 15:00:00. Without dates tushare answers the last 10 calendar days: every call here
  names both.
- Fields ``ts_code, trade_time, open, close, high, low, vol, amount``; ``trade_time``
  (``2023-08-25 15:00:00``) is the bar's **end**: 09:35 … 11:30 and 13:05 … 15:00 for 5-minute
  bars. ``vol`` is in **shares** (股) and ``amount`` in **yuan** (元) — unlike ``daily``'s lots
  and thousands, so nothing is scaled here (a reply in lots fails the dataset's VWAP check).
- Rows newest first; suspended days absent; at most 8,000 rows a call, silently truncated, so
  every call names ``limit``/``offset`` and a full page is followed (a year of 5-minute bars is
  ~11,700 rows: two calls; 8,000 rows hold ~166 trading days of 5-minute bars, ~500 of 15).
- A separate minute permission (bought apart from points): a token without it gets tushare's
  没有访问该接口的权限 reply, which the client gate classifies as FatalSourceError.
- Its own per-minute limit (unverified): the calls go through the ``tushare.stk_mins`` bucket.

1-minute quirks, which do not apply to the periods stocksync asks for: 241 bars a day, the first
(09:30) holding the opening auction, then (t-1, t] intervals with none at 13:00; the 5-, 15-, 30-
and 60-minute bars tile the 240 trading minutes exactly (48, 16, 8 and 4 a day).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from stocksync.domain import MINUTE_PERIODS, MinuteBar, Period
from stocksync.sources.base import FatalSourceError, TransientSourceError
from stocksync.sources.tushare.client import SOURCE, TushareClient
from stocksync.sources.tushare.rows import Row, number

MINUTE_API = "stk_mins"
MINUTE_FIELDS = ("ts_code", "trade_time", "open", "close", "high", "low", "vol", "amount")
MINUTE_PAGE_ROWS = 8000  # stk_mins' documented per-call maximum
DAY_OPENS = dt.time(9, 0)  # the range asked of tushare: first day's 09:00 ...
DAY_CLOSES = dt.time(15, 0)  # ... to the last day's 15:00
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def freq(period: Period) -> str:
    """tushare's ``freq`` for an intraday period; FatalSourceError for another one."""
    if period not in MINUTE_PERIODS:
        raise FatalSourceError(SOURCE, f"{period} is not an intraday period")
    return period.value  # "5min" … "60min": tushare's own spelling


def fetch_minute_rows(
    client: TushareClient,
    code: str,
    period: Period,
    start: dt.date,
    end: dt.date,
    page_rows: int = MINUTE_PAGE_ROWS,
) -> list[Row]:
    """The wire rows of ``code``'s ``period`` bars on the days ``[start, end]``, every page:
    each call names ``limit`` and ``offset``, and a full page is followed. Offset paging of
    ``stk_mins`` is documented for every API but unverified for this one, so a full page that
    reaches no further back than the pages before it (a server ignoring ``offset``) is a
    TransientSourceError, never an endless loop."""
    asked: dict[str, Any] = {
        "ts_code": code,
        "freq": freq(period),
        "start_date": dt.datetime.combine(start, DAY_OPENS).strftime(_TIME_FORMAT),
        "end_date": dt.datetime.combine(end, DAY_CLOSES).strftime(_TIME_FORMAT),
    }
    rows: list[Row] = []
    oldest: str | None = None
    while True:
        frame = client.query(MINUTE_API, MINUTE_FIELDS, limit=page_rows, offset=len(rows), **asked)
        page = list(frame[list(MINUTE_FIELDS)].itertuples(index=False, name=None))
        rows.extend(page)
        if len(page) < page_rows:
            return rows
        reached = min(str(row[1]) for row in page)  # YYYY-MM-DD HH:MM:SS sorts by time
        if oldest is not None and reached >= oldest:
            raise TransientSourceError(
                SOURCE, f"{MINUTE_API}: a full page reached no further back (offset ignored?)"
            )
        oldest = reached


def parse_time(value: object) -> dt.datetime:
    """A ``trade_time`` (``2023-08-25 15:00:00``) as a naive Beijing moment; ValueError else."""
    text = str(value)
    if len(text) != 19:
        raise ValueError(f"not a YYYY-MM-DD HH:MM:SS time: {text[:30]!r}")
    return dt.datetime.strptime(text, _TIME_FORMAT)


def minute_bar(period: Period, row: Row) -> MinuteBar:
    """One ``MINUTE_FIELDS`` row: shares and yuan as they come. A row whose volume or amount is
    missing keeps ``amount`` NaN, so validation rejects its day rather than storing volume 0."""
    code, when, o, c, h, lo, vol, amount = row
    shares, yuan = number(vol), number(amount)
    sound = math.isfinite(shares) and math.isfinite(yuan)
    return MinuteBar(
        code=str(code),
        period=period,
        bar_time=parse_time(when),
        open=number(o),
        high=number(h),
        low=number(lo),
        close=number(c),
        volume=round(shares) if sound else 0,
        amount=round(yuan, 2) if sound else math.nan,
    )


def minute_bars(
    code: str, period: Period, rows: Iterable[Row], start: dt.date, end: dt.date
) -> list[MinuteBar]:
    """The wire rows as ``code``'s bars on the days ``[start, end]``, oldest first, one per
    moment (a row repeated across two pages, when bars landed between the calls, counts once)."""
    found: dict[dt.datetime, MinuteBar] = {}
    for row in rows:
        bar = minute_bar(period, row)
        if bar.code == code and start <= bar.trade_date <= end:
            found.setdefault(bar.bar_time, bar)
    return [found[moment] for moment in sorted(found)]
