"""akshare's eastmoney index bars (``index_zh_a_hist``) as canonical :class:`IndexBar` rows.

Why ``index_zh_a_hist`` and not ``stock_zh_index_daily_em``: it is the one eastmoney index call
with weekly and monthly bars (``klt`` 102/103), and its 涨跌额 gives each bar's previous close
(``stock_zh_index_daily_em`` is daily only and drops it). Facts it rests on (akshare 1.19.5,
``index/index_zh_em.py``):

- It first calls ``index_code_id_map_em()``, lru_cached for the process: the clist of
  ``80.push2.eastmoney.com`` (``fs=b:MK0010,...``, ``f12`` code → ``f13`` market id), read page
  by page (``pz=100``, 0.5-1.5 s apart, each page tried up to 3 times, 15 s timeouts).
- Then one kline request, ``secid=<market id>.<code>``, ``klt`` 101/102/103, ``fqt=0``,
  ``beg=0``, ``end=20500000``: the whole history, cut to the dates asked for on the client; no
  ``timeout``. A code missing from the list is guessed as ``1.``, ``0.``, ``2.``, ``47.`` until
  ``data`` is not null and then asked again; a listed code whose ``data`` is null is asked
  once more as ``2.`` (a request the quota cannot see coming: it is not paid for).
- Columns 日期 (``YYYY-MM-DD`` text), 开盘, 收盘, 最高, 最低 (points), 成交量 (手), 成交额
  (yuan), 振幅, 涨跌幅, 涨跌额, 换手率. The first bar of an index's history carries 0.00
  振幅/涨跌幅/涨跌额: it has no previous close, and none is made up here.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from stocksync.datasets.indices import MAIN_INDICES
from stocksync.domain import IndexBar, Period
from stocksync.sources.akshare import frames
from stocksync.sources.base import NoDataError, TransientSourceError

MAP_PAGE_ROWS = 100  # akshare asks the clist for pz=100 rows a page
_MAIN = {info.code: info for info in MAIN_INDICES}
_LIST_LOCK = threading.Lock()  # akshare's lru_cache does not stop two fetches at once
Admit = Callable[[str], None]
Bounded = Callable[[Callable[[], Any]], Any]


def main_index(source: str, code: str) -> str:
    """The canonical code of the main index ``code``; NoDataError for another index."""
    info = _MAIN.get(code.strip().upper())
    if info is None:
        raise NoDataError(source, f"akshare serves no bars of the index {code} (not a main index)")
    return info.code


def fetch_frame(
    source: str,
    code: str,
    period: str,
    start: dt.date,
    end: dt.date,
    admit: Admit,
    bounded: Bounded,
) -> Any:
    """``index_zh_a_hist``'s frame of ``code``: each request it sends (the index list's pages
    when akshare has not cached the list yet, then the klines) paid for with ``admit``, the
    call run within ``bounded``'s deadline (akshare passes the kline request no timeout)."""
    ak = importlib.import_module("akshare")
    for _ in range(kline_requests(code, _code_ids(source, admit, bounded))):
        admit("index_zh_a_hist")
    return bounded(
        lambda: ak.index_zh_a_hist(
            symbol=code[:6],
            period=period,
            start_date=start.strftime("%Y%m%d"),
            end_date=end.strftime("%Y%m%d"),
        )
    )


def _code_ids(source: str, admit: Admit, bounded: Bounded) -> Mapping[str, Any]:
    """eastmoney's index list (code → market id) as akshare caches it for the process; when
    not cached yet, fetched here, its first page paid for before and the others after (the
    pages go out inside one library call, 0.5-1.5 s apart)."""
    ak = importlib.import_module("akshare")
    with _LIST_LOCK:
        if ak.index_code_id_map_em.cache_info().currsize:
            return ak.index_code_id_map_em()  # type: ignore[no-any-return]
        admit("index_code_id_map_em")
        ids = bounded(ak.index_code_id_map_em)
        if not isinstance(ids, dict):
            raise TransientSourceError(source, f"unexpected index list {type(ids).__name__}")
        for _ in range(map_pages(ids) - 1):
            admit("index_code_id_map_em")
        return ids


def dated_within(
    bars: list[IndexBar], period: Period, start: dt.date, end: dt.date
) -> list[IndexBar]:
    """The bars dated in ``[start, end]``; of weekly and monthly ones only those on a period's
    last trading day: a week or month still under way comes dated on its latest day, and is
    no bar yet."""
    ends = None if period is Period.DAILY else set(frames.bar_dates(period, start, end))
    return [
        b for b in bars if start <= b.trade_date <= end and (ends is None or b.trade_date in ends)
    ]


def map_pages(ids: Mapping[str, Any]) -> int:
    """The clist pages that listed ``ids`` (at least; a code listed twice counts once)."""
    return max(1, math.ceil(len(ids) / MAP_PAGE_ROWS))


def kline_requests(code: str, ids: Mapping[str, Any]) -> int:
    """Kline requests ``index_zh_a_hist`` sends for ``code`` given eastmoney's list ``ids``:
    one when listed; else its guesses up to the index's market (1 for SSE, then 0) and the
    repeat of the one that answered."""
    if code[:6] in ids:
        return 1
    return 2 if code.endswith(".SH") else 3


def index_bars(frame: pd.DataFrame, code: str, period: Period) -> list[IndexBar]:
    """Canonical bars from an ``index_zh_a_hist`` frame: 成交量 手 → shares, pre_close from
    收盘 − 涨跌额, pct_chg recomputed from them (None where there is no previous close)."""
    names = ("日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌额")
    out: list[IndexBar] = []
    for day, o, c, h, lo, lots, amount, amplitude, change in zip(
        *(frames.column(frame, name) for name in names), strict=True
    ):
        high, low, close = (
            frames.finite(h, "最高"),
            frames.finite(lo, "最低"),
            frames.finite(c, "收盘"),
        )
        moved = frames.finite(change, "涨跌额")
        first = high > low and moved == 0 and frames.finite(amplitude, "振幅") == 0
        pre_close = None if first else round(close - moved, 2)
        out.append(
            IndexBar(
                code=code,
                period=period,
                trade_date=frames.day_of(day),
                open=frames.finite(o, "开盘"),
                high=high,
                low=low,
                close=close,
                pre_close=pre_close,
                volume=round(frames.finite(lots, "成交量") * 100),
                amount=round(frames.finite(amount, "成交额"), 2),
                pct_chg=round((close / pre_close - 1.0) * 100.0, 4) if pre_close else None,
            )
        )
    return out
