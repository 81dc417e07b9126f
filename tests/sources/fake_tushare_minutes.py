"""The minute-bar endpoint of the fake tushare server (see ``fake_tushare.py``): ``stk_mins``,
the simulated market's intraday bars in tushare's wire form.

- ``stk_mins(ts_code, freq, start_date, end_date)``: one stock per call; ``freq`` ``5min`` /
  ``15min`` / ``30min`` / ``60min`` (``1min`` exists at tushare but the simulated market has no
  1-minute bars: it is answered with an error reply, so a test asking for it notices);
  ``start_date`` / ``end_date`` are ``YYYY-MM-DD HH:MM:SS`` moments, both inclusive, compared
  with each bar's ``trade_time`` (a bare ``YYYY-MM-DD`` or ``YYYYMMDD`` is read as that day's
  midnight); without dates the last 10 calendar days up to :attr:`MinuteWire.today`.
- Rows ``ts_code, trade_time, open, close, high, low, vol, amount``: ``trade_time``
  ``2023-08-25 15:00:00``, the bar's **end**; ``vol`` in **shares** (股) and ``amount`` in
  **yuan** (元), unlike ``daily``'s lots and thousands; newest first; suspended days absent; an
  unknown ``ts_code`` gets an empty table.
- At most 8,000 rows a call (:data:`MINUTE_CAPS`, applied with ``limit``/``offset`` by the
  server's dispatch), over-cap replies silently truncated.
- A separate permission: while :attr:`MinuteWire.permission` is False the token lacks it, and the
  dispatch answers tushare's 没有访问该接口的权限 reply (czsc #10: pro_bar minute bars without it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from stocksync.domain import MinuteBar, Period
from stocksync.sim import SimMarket

MINUTE_API = "stk_mins"
MINUTE_FIELDS = ["ts_code", "trade_time", "open", "close", "high", "low", "vol", "amount"]
MINUTE_CAPS = {MINUTE_API: 8000}
FREQS = {p.value: p for p in (Period.MIN5, Period.MIN15, Period.MIN30, Period.MIN60)}
DEFAULT_DAYS = 10  # no dates: the last 10 calendar days
LAST_DAY = dt.date(2026, 12, 31)  # the simulated calendar's end
BEIJING = dt.timezone(dt.timedelta(hours=8))

Handler = Callable[[dict[str, Any]], tuple[list[dict[str, Any]], list[str]]]


class FreqNotSimulated(ValueError):
    """A ``freq`` tushare has but the simulated market does not (``1min``) or an unknown one."""


def beijing_today() -> dt.date:
    return min(dt.datetime.now(BEIJING).date(), LAST_DAY)


def moment(text: object) -> dt.datetime | None:
    """A ``start_date`` / ``end_date`` parameter as a naive Beijing moment (None: absent)."""
    if not text:
        return None
    s = str(text).strip()
    for form in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y%m%d %H:%M:%S", "%Y%m%d"):
        try:
            return dt.datetime.strptime(s, form)
        except ValueError:
            continue
    return None


def wire_minute_bar(bar: MinuteBar) -> dict[str, Any]:
    """One bar as a ``stk_mins`` row: end time, vol in shares and amount in yuan (floats)."""
    return {
        "ts_code": bar.code,
        "trade_time": bar.bar_time.strftime("%Y-%m-%d %H:%M:%S"),
        "open": bar.open,
        "close": bar.close,
        "high": bar.high,
        "low": bar.low,
        "vol": float(bar.volume),
        "amount": bar.amount,
    }


class MinuteWire:
    """``stk_mins`` over ``market``."""

    def __init__(self, market: SimMarket) -> None:
        self.market = market
        self.today: Callable[[], dt.date] = beijing_today
        self.permission = True  # whether the token holds the separate minute permission

    def reset(self) -> None:
        self.today = beijing_today
        self.permission = True

    def apis(self) -> dict[str, Handler]:
        return {MINUTE_API: lambda p: (self._minutes(p), MINUTE_FIELDS)}

    def refuses(self, api_name: str) -> bool:
        """Whether the token lacks the permission ``api_name`` needs."""
        return api_name == MINUTE_API and not self.permission

    def _minutes(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        code = str(params.get("ts_code") or "").strip()
        freq = str(params.get("freq") or "").strip()
        if freq not in FREQS:
            raise FreqNotSimulated(f"freq {freq!r} is not simulated")
        start, end = moment(params.get("start_date")), moment(params.get("end_date"))
        if start is None and end is None:
            today = self.today()
            start = dt.datetime.combine(today - dt.timedelta(days=DEFAULT_DAYS - 1), dt.time())
            end = dt.datetime.combine(today, dt.time(23, 59, 59))
        start = start or dt.datetime(1990, 1, 1)
        end = min(end or dt.datetime.max, dt.datetime.combine(LAST_DAY, dt.time(23, 59, 59)))
        if not code or start > end:
            return []
        try:
            bars = self.market.minute_bars(code, FREQS[freq], start.date(), end.date())
        except KeyError:  # tushare answers an unknown ts_code with an empty table
            return []
        bars = [b for b in bars if start <= b.bar_time <= end]
        bars.sort(key=lambda b: b.bar_time, reverse=True)  # newest first
        return [wire_minute_bar(b) for b in bars]
