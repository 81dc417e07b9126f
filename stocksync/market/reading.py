"""Reading stored bars, unadjusted or adjusted: hfq = raw × factor; qfq = raw × factor ÷ the
stock's latest stored factor (prices as if every split and dividend had always applied)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select

from stocksync.codes import normalize_code
from stocksync.context import Context
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.runs.spec import parse_date
from stocksync.storage.schema import adj_factors, bars

MAX_ROWS = 20_000
PRICE_FIELDS = ("open", "high", "low", "close", "pre_close")


class Adjust(StrEnum):
    NONE = "none"
    QFQ = "qfq"
    HFQ = "hfq"


def parse_choice(value: str | None, kind: type[StrEnum], field: str, default: StrEnum) -> Any:
    """``value`` as a member of ``kind`` (any case; empty: ``default``), or InvalidRequest
    naming ``field`` and the allowed values."""
    if not value:
        return default
    try:
        return kind(value.lower())
    except ValueError:
        names = ", ".join(k.value for k in kind)  # type: ignore[attr-defined]
        raise InvalidRequest(f"{field} {value!r} is unknown; use {names}", field=field) from None


def read_bars(
    ctx: Context,
    *,
    code: str | None,
    start: str | None,
    end: str | None,
    period: str | None = None,
    adjust: str | None = None,
) -> dict[str, Any]:
    """Stored bars of one stock in [start, end], adjusted as asked. InvalidRequest for bad
    input, or when adjusting needs factors that are not stored."""
    if not code:
        raise InvalidRequest("code is required, e.g. 600000.SH", field="code")
    try:
        canonical = normalize_code(code)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message, field="code") from None
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if first > last:
        raise InvalidRequest(f"start {first} is after end {last}", field="start")
    which: Period = parse_choice(period, Period, "period", Period.DAILY)
    how: Adjust = parse_choice(adjust, Adjust, "adjust", Adjust.NONE)
    query = (
        select(bars, adj_factors.c.factor)
        .join(
            adj_factors,
            (adj_factors.c.code == bars.c.code) & (adj_factors.c.trade_date == bars.c.trade_date),
            isouter=True,
        )
        .where(
            bars.c.code == canonical,
            bars.c.period == which.value,
            bars.c.trade_date.between(first, last),
        )
        .order_by(bars.c.trade_date)
        .limit(MAX_ROWS + 1)
    )
    with ctx.engine.connect() as conn:
        rows = conn.execute(query).all()
        latest = conn.execute(
            select(adj_factors.c.factor)
            .where(adj_factors.c.code == canonical)
            .order_by(adj_factors.c.trade_date.desc())
            .limit(1)
        ).scalar()
        stored = conn.execute(select(func.count()).where(bars.c.code == canonical)).scalar_one()
    if len(rows) > MAX_ROWS:
        raise InvalidRequest(f"more than {MAX_ROWS} bars; ask for a shorter range", field="start")
    if not rows and not stored:
        raise InvalidRequest(f"no bars of {canonical} are stored; sync it first", field="code")
    missing = [r.trade_date for r in rows if r.factor is None]
    if how is not Adjust.NONE and missing:
        raise missing_factors(how, canonical, len(missing), missing[0])
    return {
        "code": canonical,
        "period": which.value,
        "adjust": how.value,
        "bars": [_row(r._mapping, how, latest) for r in rows],
    }


def missing_factors(how: Adjust, who: str, days: int, first: dt.date) -> InvalidRequest:
    """The error of an adjusted read that needs factors which are not stored."""
    return InvalidRequest(
        f"{how.value} needs adjustment factors, and none are stored for {who} on "
        f"{days} day(s) from {first}; sync its daily bars from a source that "
        "serves factors (tushare, baostock, akshare, sim)",
        field="adjust",
    )


def price_scale(how: Adjust, factor: Decimal | None, latest: Decimal | None) -> Decimal:
    """What a bar's prices are multiplied by: 1 raw; hfq the day's factor; qfq the day's factor
    ÷ ``latest``, the stock's latest stored factor. ValueError when a needed factor is missing
    (callers check first and raise :func:`missing_factors`)."""
    if how is Adjust.NONE:
        return Decimal(1)
    if factor is None or (how is Adjust.QFQ and latest is None):
        raise ValueError(f"{how.value} needs the stored adjustment factors")
    return factor if latest is None or how is Adjust.HFQ else factor / latest


def adjusted_price(value: Decimal | None, scale: Decimal) -> float | None:
    """A stored price times ``scale``, rounded to 4 places as stored prices are."""
    return None if value is None else float(round(value * scale, 4))


def _row(m: Any, how: Adjust, latest: Decimal | None) -> dict[str, Any]:
    scale = price_scale(how, m["factor"], latest)
    out: dict[str, Any] = {"trade_date": m["trade_date"].isoformat()}
    for name in PRICE_FIELDS:
        out[name] = adjusted_price(m[name], scale)
    out |= {
        "volume": int(m["volume"]),
        "amount": float(m["amount"]),
        "turnover_pct": None if m["turnover_pct"] is None else float(m["turnover_pct"]),
        "pct_chg": None if m["pct_chg"] is None else float(m["pct_chg"]),
        "trade_status": int(m["trade_status"]),
        "is_st": bool(m["is_st"]),
        "factor": None if m["factor"] is None else float(m["factor"]),
        "source": m["source"],
    }
    return out


__all__ = [
    "Adjust",
    "adjusted_price",
    "missing_factors",
    "parse_choice",
    "price_scale",
    "read_bars",
]
