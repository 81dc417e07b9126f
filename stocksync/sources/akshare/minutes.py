"""akshare's eastmoney minute bars (``stock_zh_a_hist_min_em``) as canonical :class:`MinuteBar`
rows. Facts they rest on (akshare 1.19.5, ``stock_feature/stock_hist_em.py``):

- One kline request per call: ``push2his.eastmoney.com/api/qt/stock/kline/get``, ``klt``
  5/15/30/60, ``fqt`` 0 (``adjust=""``), ``secid`` ``1.`` for a code starting with 6, else ``0.``
  (Beijing included), ``beg=0``, ``end=20500000``: everything eastmoney keeps, cut to
  ``start_date``/``end_date`` on the client. A fixed ``timeout=15`` (ours is not passed on),
  so the call runs within the source's deadline.
- Columns 时间 (text ``YYYY-MM-DD HH:MM:SS``, the minute the bar **ends**: 09:35 … 11:30,
  13:05 … 15:00 for 5min), 开盘, 收盘, 最高, 最低 (yuan), 涨跌幅, 涨跌额, 成交量 (**手**, lots of
  100: × 100 → shares), 成交额 (yuan), 振幅, 换手率. Suspended days are absent.
- **Depth: recent only.** eastmoney keeps minute bars of the last ~1.5-3 months (akshare issues
  2040, 5884; the exact depth is unverified and moves with today). Days before it are not in
  the reply at all: they come back missing, never made up, so a range reaching further back
  is incomplete from this source and the run fails over for those days. The oldest day of a
  reply may be cut in the middle (a count cap): it is dropped, missing too, when it holds fewer
  bars than its period tiles.
- ``"data": null`` (an unknown ``secid``, or throttling) makes akshare raise ``TypeError``;
  ``"klines": []`` (no minute bar in the depth) a pandas ``ValueError`` naming the columns.
  The first is read here as None (the source tells unknown from throttled), the second as no
  rows.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from stocksync.datasets.minute_bars import bar_times
from stocksync.domain import MinuteBar, Period
from stocksync.sources.akshare import frames
from stocksync.sources.base import FatalSourceError, TransientSourceError

log = logging.getLogger(__name__)
KLT = {Period.MIN5: "5", Period.MIN15: "15", Period.MIN30: "30", Period.MIN60: "60"}
WHOLE = ("1979-09-01 09:32:00", "2222-01-01 09:32:00")  # akshare's defaults: no client cut
_NO_DATA = "'NoneType' object is not subscriptable"  # akshare reading "data": null
_NO_KLINES = "Expected axis has 0 elements"  # pandas naming the columns of "klines": []
Admit = Callable[[str], None]
Bounded = Callable[[Callable[[], Any]], Any]


def fetch_frame(
    source: str, code: str, period: Period, admit: Admit, bounded: Bounded
) -> pd.DataFrame | None:
    """``stock_zh_a_hist_min_em``'s whole frame of ``code`` (every day eastmoney keeps), one
    request paid for with ``admit``; None when eastmoney has no data of the code."""
    klt = KLT.get(period)
    if klt is None:
        raise FatalSourceError(source, f"unsupported minute period {period!r}")
    ak = importlib.import_module("akshare")

    def call() -> Any:
        try:
            return ak.stock_zh_a_hist_min_em(
                symbol=code[:6], start_date=WHOLE[0], end_date=WHOLE[1], period=klt, adjust=""
            )
        except TypeError as exc:
            if _NO_DATA in str(exc):
                return None
            raise
        except ValueError as exc:
            if _NO_KLINES in str(exc):
                return pd.DataFrame()
            raise

    admit("stock_zh_a_hist_min_em")
    frame = bounded(call)
    if frame is not None and not isinstance(frame, pd.DataFrame):
        raise TransientSourceError(source, f"unexpected reply {type(frame).__name__}")
    return frame


def minute_bars(frame: pd.DataFrame, code: str, period: Period) -> list[MinuteBar]:
    """Canonical bars from a ``stock_zh_a_hist_min_em`` frame: 成交量 手 → shares, 时间 (the
    bar's end) → ``bar_time``."""
    if frame.empty:
        return []
    names = ("时间", "开盘", "收盘", "最高", "最低", "成交量", "成交额")
    return [
        MinuteBar(
            code=code,
            period=period,
            bar_time=bar_time(when),
            open=frames.finite(o, "开盘"),
            high=frames.finite(h, "最高"),
            low=frames.finite(lo, "最低"),
            close=frames.finite(c, "收盘"),
            volume=round(frames.finite(lots, "成交量") * 100),  # 手 → shares
            amount=round(frames.finite(amount, "成交额"), 2),
        )
        for when, o, c, h, lo, lots, amount in zip(
            *(frames.column(frame, name) for name in names), strict=True
        )
    ]


def bar_time(value: Any) -> dt.datetime:
    """A 时间 cell (``YYYY-MM-DD HH:MM:SS``, the bar's end) as a naive datetime."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if not isinstance(value, str):
        raise ValueError(f"bad bar time {value!r}")
    return dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")


def within(
    bars: list[MinuteBar], code: str, period: Period, start: dt.date, end: dt.date
) -> list[MinuteBar]:
    """The bars on days in ``[start, end]``, less a cut oldest day; the depth limit logged when
    the range reaches before the oldest day eastmoney sent."""
    if not bars:
        return []
    oldest = min(b.bar_time.date() for b in bars)
    first_day = [b for b in bars if b.bar_time.date() == oldest]
    if len(first_day) < len(bar_times(period)):  # the depth cut this day in the middle
        bars = [b for b in bars if b.bar_time.date() != oldest]
        if not bars:
            return []
        oldest = min(b.bar_time.date() for b in bars)
    if start < oldest:
        log.info(
            "akshare: eastmoney keeps %s bars of %s from %s only; %s..%s before that is missing",
            period, code, oldest, start, min(end, oldest - dt.timedelta(days=1)),
        )  # fmt: skip
    return [b for b in bars if start <= b.bar_time.date() <= end]
