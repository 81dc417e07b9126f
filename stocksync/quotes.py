"""Reading stored bars, unadjusted or adjusted: hfq = raw × factor; qfq = raw × factor ÷ the
stock's latest stored factor (prices as if every split and dividend had always applied)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select

from stocksync.codes import normalize_code
from stocksync.context import Context
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.spec import parse_date
from stocksync.storage.schema import adj_factors, bars

MAX_ROWS = 20_000
PRICE_FIELDS = ("open", "high", "low", "close", "pre_close")


class Adjust(StrEnum):
    NONE = "none"
    QFQ = "qfq"
    HFQ = "hfq"


def _choice(value: str | None, kind: type[StrEnum], field: str, default: StrEnum) -> Any:
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
    which: Period = _choice(period, Period, "period", Period.DAILY)
    how: Adjust = _choice(adjust, Adjust, "adjust", Adjust.NONE)
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
        raise InvalidRequest(
            f"{how.value} needs adjustment factors, and none are stored for {canonical} on "
            f"{len(missing)} day(s) from {missing[0]}; sync its daily bars from a source that "
            "serves factors (tushare, baostock, akshare, sim)",
            field="adjust",
        )
    return {
        "code": canonical,
        "period": which.value,
        "adjust": how.value,
        "bars": [_row(r._mapping, how, latest) for r in rows],
    }


def _row(m: Any, how: Adjust, latest: Decimal | None) -> dict[str, Any]:
    scale = Decimal(1)
    if how is Adjust.HFQ:
        scale = m["factor"]
    elif how is Adjust.QFQ and latest:
        scale = m["factor"] / latest
    out: dict[str, Any] = {"trade_date": m["trade_date"].isoformat()}
    for name in PRICE_FIELDS:
        value = m[name]
        out[name] = None if value is None else float(round(value * scale, 4))
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


__all__ = ["Adjust", "read_bars"]
