"""akshare's frames and files → canonical rows: bars, closes, securities, the calendar.

Everything here is pure: a malformed frame raises ``KeyError``/``ValueError``/``TypeError``,
which :class:`stocksync.sources.akshare.source.AkshareSource` turns into a transient failure.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from stocksync.codes import board_of, exchange_of
from stocksync.domain import Bar, Exchange, Period, Security
from stocksync.errors import InvalidRequest


@cache
def calendar() -> tuple[dt.date, ...]:
    """The SSE trading days akshare ships, sorted."""
    raw = resources.files("akshare").joinpath("file_fold", "calendar.json").read_text("utf-8")
    return tuple(sorted(dt.datetime.strptime(day, "%Y%m%d").date() for day in json.loads(raw)))


def bar_dates(period: Period, start: dt.date, end: dt.date) -> list[dt.date]:
    """The dates bars of ``period`` would carry in ``[start, end]``."""
    days = calendar()
    lo, hi = bisect.bisect_left(days, start), bisect.bisect_right(days, end)
    if period is Period.DAILY:
        return list(days[lo:hi])

    def key(day: dt.date) -> tuple[int, int]:
        if period is Period.WEEKLY:
            iso = day.isocalendar()
            return (iso.year, iso.week)
        return (day.year, day.month)

    last = len(days) - 1
    return [days[i] for i in range(lo, hi) if i == last or key(days[i + 1]) != key(days[i])]


def column(frame: pd.DataFrame, name: str) -> list[Any]:
    """The values of the reply's column ``name``; ValueError when the reply has none."""
    if name not in frame.columns:
        raise ValueError(f"the reply has no column {name}")
    return list(frame[name].tolist())


def finite(value: Any, what: str) -> float:
    """``value`` as a finite number; ValueError naming ``what`` when it is missing."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is missing")
    return number


def _optional(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def day_of(value: Any) -> dt.date:
    """A reply's date cell (a date, a datetime or ``YYYY-MM-DD…`` text) as a date."""
    if value is None or pd.isna(value):
        raise ValueError("date is missing")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip()[:10])
    raise ValueError(f"bad date {value!r}")


def bars(frame: pd.DataFrame, code: str, period: Period) -> list[Bar]:
    """Canonical bars from a ``stock_zh_a_hist`` frame (prices in yuan, volume in lots)."""
    names = ("日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "涨跌额", "换手率")
    out: list[Bar] = []
    for day, o, c, h, lo, lots, amount, change, turnover in zip(
        *(column(frame, name) for name in names), strict=True
    ):
        close = finite(c, "收盘")
        pre_close = round(close - finite(change, "涨跌额"), 2)
        out.append(
            Bar(
                code=code,
                period=period,
                trade_date=day_of(day),
                open=finite(o, "开盘"),
                high=finite(h, "最高"),
                low=finite(lo, "最低"),
                close=close,
                pre_close=pre_close,
                volume=round(finite(lots, "成交量") * 100),  # 手 → shares
                amount=round(finite(amount, "成交额"), 2),
                turnover_pct=_optional(turnover),
                pct_chg=round((close / pre_close - 1.0) * 100.0, 4) if pre_close > 0 else None,
            )
        )
    return out


def closes(frame: pd.DataFrame) -> dict[dt.date, float]:
    """Close by date from a ``stock_zh_a_hist`` frame."""
    out: dict[dt.date, float] = {}
    for day, close in zip(column(frame, "日期"), column(frame, "收盘"), strict=True):
        value = finite(close, "收盘")
        if value <= 0:
            raise ValueError(f"close {value} on {day}")
        out[day_of(day)] = value
    return out


def _exchange(digits: str) -> Exchange | None:
    try:
        return exchange_of(digits)
    except InvalidRequest:
        return None


def _date_or_none(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, str) and not value.strip("- ")):
        return None
    stamp: Any = pd.to_datetime(value, errors="coerce")
    return None if pd.isna(stamp) else stamp.date()


def _securities(
    frame: pd.DataFrame,
    exchange: Exchange,
    columns: tuple[str, str, str, str | None],
) -> Iterator[Security]:
    """Securities of ``exchange`` from a stock-list frame; other codes (B shares) skipped."""
    if frame.empty:
        return
    code_col, name_col, list_col, delist_col = columns
    delists = column(frame, delist_col) if delist_col else [None] * len(frame)
    codes, names, listed_on = (column(frame, c) for c in (code_col, name_col, list_col))
    for raw_code, name, listed, delisted in zip(codes, names, listed_on, delists, strict=True):
        digits = str(raw_code).strip().split(".")[0].zfill(6)
        if len(digits) != 6 or not digits.isdigit() or _exchange(digits) is not exchange:
            continue  # B shares (200xxx, 900xxx) and anything else that is no A share here
        list_date = _date_or_none(listed)
        if list_date is None:
            continue  # not listed yet
        yield Security(
            code=f"{digits}.{exchange.value}",
            name=str(name).strip(),
            exchange=exchange,
            board=board_of(digits),
            list_date=list_date,
            delist_date=_date_or_none(delisted) if delist_col else None,
        )


def sh_listed(frame: pd.DataFrame) -> Iterator[Security]:
    return _securities(frame, Exchange.SH, ("证券代码", "证券简称", "上市日期", None))


def sz_listed(frame: pd.DataFrame) -> Iterator[Security]:
    return _securities(frame, Exchange.SZ, ("A股代码", "A股简称", "A股上市日期", None))


def bj_listed(frame: pd.DataFrame) -> Iterator[Security]:
    return _securities(frame, Exchange.BJ, ("证券代码", "证券简称", "上市日期", None))


def sh_delisted(frame: pd.DataFrame) -> Iterator[Security]:
    return _securities(frame, Exchange.SH, ("公司代码", "公司简称", "上市日期", "暂停上市日期"))


def sz_delisted(frame: pd.DataFrame) -> Iterator[Security]:
    return _securities(frame, Exchange.SZ, ("证券代码", "证券简称", "上市日期", "终止上市日期"))
