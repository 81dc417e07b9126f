"""baostock's string rows → canonical bars, valuations, securities and codes."""

from __future__ import annotations

import datetime as dt
import math

from stocksync.codes import board_of, exchange_of, normalize_code
from stocksync.domain import Bar, Exchange, Period, Security, Valuation
from stocksync.errors import InvalidRequest
from stocksync.sources.base import FatalSourceError

NAME = "baostock"


def covered(code: str) -> bool:
    """Whether baostock has the stock or index ``code`` (canonical): nothing of Beijing."""
    return not code.strip().upper().endswith(".BJ")


def canonical(code: str) -> str:
    try:
        canonical = normalize_code(code)
    except InvalidRequest as exc:
        raise FatalSourceError(NAME, str(exc)) from exc
    if exchange_of(canonical[:6]) is Exchange.BJ:
        raise FatalSourceError(NAME, f"{canonical}: baostock has no Beijing exchange stocks")
    return canonical


def parse_date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def number(text: str) -> float:
    return float(text)


def optional(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def ratio(text: str | None) -> float | None:
    """A baostock ratio; None when empty, unreadable or not finite."""
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def pre_close_from_pct(close: float, pct: float | None) -> float | None:
    """The previous close behind a weekly/monthly bar, which carries no preclose: recovered
    from its close and pctChg (6 decimals), to the cent."""
    return round(close / (1.0 + pct / 100.0), 2) if pct is not None else None


def security(r: dict[str, str]) -> Security | None:
    """The stock of a ``query_stock_basic`` row; None for an index, a fund or a malformed row."""
    code, kind = r.get("code", ""), r.get("type", "")
    if kind != "1" or code[:3] not in ("sh.", "sz.") or not r.get("ipoDate"):
        return None
    digits = code[3:]
    try:
        exchange = exchange_of(digits)
    except InvalidRequest:
        return None
    if exchange.value != code[:2].upper():
        return None
    return Security(
        code=f"{digits}.{exchange.value}",
        name=r.get("code_name", ""),
        exchange=exchange,
        board=board_of(digits),
        list_date=parse_date(r["ipoDate"]),
        delist_date=parse_date(r["outDate"]) if r.get("outDate") else None,
    )


def valuation(code: str, r: dict[str, str]) -> Valuation:
    pe = ratio(r.get("peTTM"))
    return Valuation(
        code=code,
        trade_date=parse_date(r["date"]),
        pe_ttm=pe if pe is not None and pe > 0 else None,  # baostock: empty or < 0 on a loss
        pb=ratio(r.get("pbMRQ")),
        total_mv=None,  # not served by baostock
        circ_mv=None,
    )


def bar(code: str, period: Period, r: dict[str, str]) -> Bar:
    close = number(r["close"])
    if period is Period.DAILY:
        pre_close = optional(r.get("preclose"))
    else:
        pre_close = pre_close_from_pct(close, optional(r.get("pctChg")))
    return Bar(
        code=code,
        period=period,
        trade_date=parse_date(r["date"]),
        open=number(r["open"]),
        high=number(r["high"]),
        low=number(r["low"]),
        close=close,
        pre_close=pre_close,
        volume=round(number(r["volume"] or "0")),
        amount=round(number(r["amount"] or "0"), 2),
        turnover_pct=optional(r.get("turn")),
        pct_chg=round((close / pre_close - 1.0) * 100.0, 4) if pre_close else None,
        trade_status=int(r.get("tradestatus") or 1),
        is_st=r.get("isST") == "1",
    )


def parse_addr(addr: str | None) -> tuple[str, int] | None:
    """``host:port`` of STOCKSYNC_BAOSTOCK_ADDR (None: the library's own server)."""
    if not addr:
        return None
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"STOCKSYNC_BAOSTOCK_ADDR must be host:port, got {addr!r}")
    return host, int(port)
