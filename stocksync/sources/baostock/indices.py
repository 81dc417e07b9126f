"""baostock's index k-data: the codes it knows indices by, the fields it has for them, and its
string rows → canonical :class:`~stocksync.domain.IndexBar` (points, shares, yuan)."""

from __future__ import annotations

import datetime as dt
import re

from stocksync.domain import IndexBar, Period
from stocksync.sources.baostock import rows as wire
from stocksync.sources.base import FatalSourceError, NoDataError, TransientSourceError

NAME = wire.NAME
# baostock's index bars: daily ones have a preclose and no turn/tradestatus/isST; weekly and
# monthly ones have no preclose (pre_close comes from pctChg)
FIELDS = {
    Period.DAILY: "date,code,open,high,low,close,preclose,volume,amount,pctChg",
    Period.WEEKLY: "date,code,open,high,low,close,volume,amount,adjustflag,turn,pctChg",
    Period.MONTHLY: "date,code,open,high,low,close,volume,amount,adjustflag,turn,pctChg",
}
_INDEX_CODE = re.compile(r"^(\d{6})\.(SH|SZ|BJ)$")


def bs_code(code: str) -> tuple[str, str]:
    """The canonical index code (``000300.SH``) and baostock's (``sh.000300``). The exchange is
    the code's own suffix, never guessed from the digits: ``000001.SH`` is the SSE Composite."""
    canonical = code.strip().upper()
    found = _INDEX_CODE.match(canonical)
    if found is None:
        raise FatalSourceError(NAME, f"{code!r} is not an index code like 000300.SH")
    if not wire.covered(canonical):
        raise FatalSourceError(NAME, f"{canonical}: baostock has no Beijing exchange indices")
    digits, suffix = found.groups()
    return canonical, f"{suffix.lower()}.{digits}"


def index_bars(
    code: str, period: Period, start: dt.date, end: dt.date, rows: list[dict[str, str]]
) -> list[IndexBar]:
    """The bars of ``rows``; NoDataError when there are none, TransientSourceError when one
    cannot be read."""
    if not rows:
        raise NoDataError(NAME, f"no {period} bars of the index {code} from {start} to {end}")
    try:
        return [index_bar(code, period, r) for r in rows]
    except (ValueError, ArithmeticError) as exc:
        raise TransientSourceError(
            NAME, f"unreadable {period} bar of the index {code}: {exc!r}"
        ) from exc


def index_bar(code: str, period: Period, r: dict[str, str]) -> IndexBar:
    """One row of ``FIELDS[period]`` as an IndexBar; ``pct_chg`` recomputed from the closes."""
    close = wire.number(r["close"])
    if period is Period.DAILY:
        pre_close = wire.optional(r["preclose"])
    else:
        pre_close = wire.pre_close_from_pct(close, wire.optional(r["pctChg"]))
    return IndexBar(
        code=code,
        period=period,
        trade_date=wire.parse_date(r["date"]),
        open=wire.number(r["open"]),
        high=wire.number(r["high"]),
        low=wire.number(r["low"]),
        close=close,
        pre_close=pre_close,
        volume=round(wire.number(r["volume"] or "0")),
        amount=round(wire.number(r["amount"] or "0"), 2),
        pct_chg=round((close / pre_close - 1.0) * 100.0, 4) if pre_close else None,
    )
