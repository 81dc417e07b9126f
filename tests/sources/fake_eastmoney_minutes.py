"""eastmoney's minute klines for :mod:`fake_eastmoney`, serving the simulated market's intraday
truth in the form akshare 1.19.5's ``stock_zh_a_hist_min_em`` reads (see
``stocksync/sources/akshare/minutes.py``):

- ``push2his.eastmoney.com/api/qt/stock/kline/get`` with ``klt`` 5/15/30/60 (the daily kline
  endpoint; :class:`fake_eastmoney.FakeEastmoney` routes these ``klt`` here), ``secid`` ``1.``
  for 6xxxxx, else ``0.`` (Beijing included, as akshare sends it), ``fqt`` 0/1/2 (hfq prices
  raw x the day's factor, qfq that / the stock's last factor, unrounded), ``beg``/``end``
  compared as YYYYMMDD numbers with the bar's day (akshare sends ``0``/``20500000``).
- ``data.klines`` are ``"YYYY-MM-DD HH:MM,open,close,high,low,volume(手),amount(元),amplitude,
  pct,change,turnover"``: the time is the bar's **end** (09:35 … 11:30, 13:05 … 15:00 for 5min),
  as eastmoney sends it, without seconds; amplitude, pct and change are against the previous
  bar's close (a day's first bar: the previous trading day's close); turnover is the day's
  turnover shared out by volume.
- **Depth: recent only.** Only the last :attr:`MinuteKlines.depth_days` trading days up to
  :attr:`MinuteKlines.today` (inclusive) are served, whatever ``beg`` asks; older days are not
  there at all (eastmoney keeps ~1.5-3 months of minute bars, akshare issues 2040, 5884).
  :attr:`MinuteKlines.cap_bars`, when set, keeps only the last that many klines of a reply
  (a count cap can cut the oldest served day in the middle).
- Suspended days are absent; a stock with no bar in the window gets ``"klines": []`` (akshare
  then fails naming its columns); an unknown ``secid`` (or a code in ``blank``) ``"data": null``.
- ``garbage``: volume in shares instead of lots and the first kline's high below its low.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from stocksync.domain import Bar, MinuteBar, Period, Security
from stocksync.sim import SimMarket

MINUTE_KLT = {"5": Period.MIN5, "15": Period.MIN15, "30": Period.MIN30, "60": Period.MIN60}
TODAY = dt.date(2026, 12, 3)  # the fake's "today" for minute bars
DEPTH_DAYS = 60  # trading days of minute bars served up to today (~3 months)
Scales = Callable[[Security, list[Bar], str], dict[dt.date, float]]


class MinuteKlines:
    """The minute-kline endpoint over ``market``; see the module docstring."""

    def __init__(self, market: SimMarket, securities: dict[str, Security], scales: Scales) -> None:
        self.market = market
        self._securities = securities
        self._scales = scales
        self.today = TODAY
        self.depth_days = DEPTH_DAYS
        self.cap_bars: int | None = None

    def reset(self) -> None:
        self.today = TODAY
        self.depth_days = DEPTH_DAYS
        self.cap_bars = None

    def window(self) -> list[dt.date]:
        """The trading days whose minute bars are served: the last ``depth_days`` up to today."""
        days = self.market.trading_days(self.today - dt.timedelta(days=400), self.today)
        return days[-self.depth_days :] if self.depth_days > 0 else []

    def kline(
        self, reply: dict[str, Any], params: dict[str, str], garbage: bool, blank: set[str]
    ) -> tuple[dict[str, Any], list[str] | None]:
        """The reply to a minute-kline request and the klines it carries (None: no data)."""
        market_id, _, digits = params.get("secid", "").partition(".")
        suffix = "SH" if digits.startswith("6") else "BJ" if digits[:1] in "489" else "SZ"
        security = self._securities.get(f"{digits}.{suffix}")
        if (
            security is None
            or market_id != ("1" if suffix == "SH" else "0")
            or digits in blank
            or params.get("fqt") not in ("0", "1", "2")
        ):
            return reply, None
        period = MINUTE_KLT[params["klt"]]
        beg, end = _ymd_number(params.get("beg"), 0), _ymd_number(params.get("end"), 99999999)
        window = [d for d in self.window() if beg <= int(d.strftime("%Y%m%d")) <= end]
        daily: list[Bar] = []
        if window:
            daily = self.market.bars_for_code(security.code, window[0], window[-1], Period.DAILY)
        daily = [b for b in daily if b.trade_status == 1]  # eastmoney omits suspended days
        scale = self._scales(security, daily, params["fqt"])
        adjusted = params["fqt"] != "0"
        klines: list[str] = []
        if daily:
            bars = self.market.minute_bars(
                security.code, period, daily[0].trade_date, daily[-1].trade_date
            )
            by_day = {b.trade_date: b for b in daily}
            previous: tuple[dt.date, float] | None = None
            for i, bar in enumerate(bars):
                day = bar.bar_time.date()
                if day not in by_day:
                    continue
                k = scale.get(day, 1.0)
                pre = previous[1] if previous and previous[0] == day else by_day[day].pre_close
                pre = (pre or bar.open) * k
                klines.append(_kline(bar, by_day[day], k, pre, adjusted,
                                     lots=not garbage, swap=garbage and i == 0))  # fmt: skip
                previous = (day, bar.close)
        if self.cap_bars is not None:
            klines = klines[-self.cap_bars :] if self.cap_bars > 0 else []
        reply["data"] = {
            "code": digits,
            "market": int(market_id),
            "name": security.name,
            "decimal": 2,
            "dktotal": len(klines),
            "preKPrice": daily[0].pre_close if daily else 0.0,
            "prePrice": daily[-1].close if daily else 0.0,
            "klines": klines,
        }
        return reply, klines


def _kline(
    bar: MinuteBar, day: Bar, k: float, pre: float, adjusted: bool, *, lots: bool, swap: bool
) -> str:
    """One eastmoney minute kline: prices scaled by ``k``, changes against ``pre``."""
    o, c, h, lo = (v * k for v in (bar.open, bar.close, bar.high, bar.low))
    if swap:  # the garbage fault: high below low
        h, lo = (lo, h) if h > lo else (lo - 0.01, lo)
    price = (lambda v: f"{v:.10f}") if adjusted else (lambda v: f"{v:.2f}")
    volume = bar.volume // 100 if lots else bar.volume
    turnover = (day.turnover_pct or 0.0) * bar.volume / day.volume if day.volume else 0.0
    fields = [
        bar.bar_time.strftime("%Y-%m-%d %H:%M"), price(o), price(c), price(h), price(lo),
        str(volume), f"{bar.amount:.2f}", f"{(h - lo) / pre * 100:.2f}",
        f"{(c / pre - 1) * 100:.2f}", f"{c - pre:.2f}", f"{turnover:.2f}",
    ]  # fmt: skip
    return ",".join(fields)


def _ymd_number(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() else default
