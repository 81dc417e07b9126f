"""tushare's wire rows to canonical rows: lots (手) x100 -> shares, thousands of yuan (千元)
x1000 -> yuan, ten thousands of yuan (万元) x10000 -> yuan, ``YYYYMMDD`` -> dates, newest-first
-> sorted, ``pct_chg`` recomputed, a missing P/E (loss-making) -> None."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from stocksync.codes import board_of
from stocksync.domain import AdjFactor, Bar, Exchange, Period, Security, Valuation
from stocksync.errors import InvalidRequest

BAR_FIELDS = ("ts_code", "trade_date", "open", "high", "low", "close", "pre_close", "vol", "amount")
FACTOR_FIELDS = ("ts_code", "trade_date", "adj_factor")
CAL_FIELDS = ("cal_date", "is_open")
BASIC_FIELDS = ("ts_code", "name", "exchange", "list_date", "delist_date")
VALUATION_FIELDS = ("ts_code", "trade_date", "pe_ttm", "pb", "total_mv", "circ_mv")
VALUATION_API = "daily_basic"
BAR_API = {Period.DAILY: "daily", Period.WEEKLY: "weekly", Period.MONTHLY: "monthly"}
_EXCHANGE = {"SSE": Exchange.SH, "SZSE": Exchange.SZ, "BSE": Exchange.BJ}

Row = tuple[Any, ...]


def ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def parse_day(value: object) -> dt.date:
    text = str(value)
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"not a YYYYMMDD date: {text[:20]!r}")
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))


def missing(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def number(value: object) -> float:
    return math.nan if missing(value) else float(value)  # type: ignore[arg-type]


def bar_values(period: Period, row: Row) -> dict[str, Any]:
    """The canonical fields of one ``BAR_FIELDS`` row, stock's or index's alike: lots × 100 →
    shares, thousands × 1000 → yuan, ``pct_chg`` by the truth's formula rather than tushare's
    own rounding of it. A row whose volume or amount is missing keeps ``amount`` NaN, so
    validation rejects it rather than storing volume 0."""
    code, day, o, h, lo, c, pre, vol, amount = row
    close, pre_close = number(c), number(pre)
    lots, thousands = number(vol), number(amount)
    sound = math.isfinite(lots) and math.isfinite(thousands)
    known_pre = math.isfinite(pre_close) and pre_close != 0
    return {
        "code": str(code),
        "period": period,
        "trade_date": parse_day(day),
        "open": number(o),
        "high": number(h),
        "low": number(lo),
        "close": close,
        "pre_close": pre_close if math.isfinite(pre_close) else None,
        "volume": round(lots * 100) if sound else 0,
        "amount": round(thousands * 1000, 2) if sound else math.nan,
        "pct_chg": round((close / pre_close - 1.0) * 100.0, 4) if known_pre else None,
    }


def bars(period: Period, rows: Iterable[Row]) -> list[Bar]:
    """``BAR_FIELDS`` rows as bars sorted by (code, date) (see :func:`bar_values`)."""
    found = [Bar(**bar_values(period, row)) for row in rows]
    return sorted(found, key=lambda b: (b.code, b.trade_date))


def factors(rows: Iterable[Row]) -> list[AdjFactor]:
    """``FACTOR_FIELDS`` rows as factors sorted by (code, date)."""
    found = [AdjFactor(str(c), parse_day(d), number(f)) for c, d, f in rows]
    return sorted(found, key=lambda f: (f.code, f.trade_date))


def _ratio(value: object) -> float | None:
    """A P/E or P/B: None when tushare leaves it out (a loss-making stock has no P/E)."""
    if missing(value):
        return None
    ratio = float(value)  # type: ignore[arg-type]
    if not math.isfinite(ratio):
        raise ValueError(f"not a finite ratio: {ratio!r}")
    return ratio


def _yuan_from_wan(value: object) -> float | None:
    """A market value in 万元 as yuan (x10000, to the fen); None when left out."""
    if missing(value):
        return None
    wan = float(value)  # type: ignore[arg-type]
    if not (math.isfinite(wan) and wan > 0):
        raise ValueError(f"not a market value: {wan!r}")
    return round(wan * 10000, 2)


def valuations(rows: Iterable[Row]) -> list[Valuation]:
    """``VALUATION_FIELDS`` rows (``daily_basic``) as valuations sorted by (code, date).
    ValueError for a row no sound reply holds (a non-positive or non-numeric market value)."""
    found = [
        Valuation(
            code=str(code),
            trade_date=parse_day(day),
            pe_ttm=_ratio(pe_ttm),
            pb=_ratio(pb),
            total_mv=_yuan_from_wan(total_mv),
            circ_mv=_yuan_from_wan(circ_mv),
        )
        for code, day, pe_ttm, pb, total_mv, circ_mv in rows
    ]
    return sorted(found, key=lambda v: (v.code, v.trade_date))


def security(row: Row) -> Security | None:
    """A ``BASIC_FIELDS`` row as a Security; None for what is not an A-share stock."""
    code, name, exchange, listed, delisted = row
    text = str(code).upper()
    digits, _, suffix = text.partition(".")
    try:
        board = board_of(digits)
        where = Exchange(suffix)
    except (InvalidRequest, ValueError, IndexError):
        return None
    if missing(listed) or (exchange in _EXCHANGE and _EXCHANGE[str(exchange)] is not where):
        return None
    return Security(
        code=text,
        name=str(name),
        exchange=where,
        board=board,
        list_date=parse_day(listed),
        delist_date=None if missing(delisted) else parse_day(delisted),
    )
