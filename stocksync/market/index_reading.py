"""Reading stored index bars (points, volume in shares, amount in yuan) of one main index."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from stocksync.context import Context
from stocksync.datasets.indices import MAIN_INDICES, IndexInfo
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.market.reading import MAX_ROWS, parse_choice
from stocksync.runs.spec import parse_date
from stocksync.storage.schema import index_bars

_LEVELS = ("open", "high", "low", "close", "pre_close")


def index_code_pattern(*, optional: bool = False) -> str:
    """A regular expression for what :func:`find_index` accepts: a main index's number, alone
    or with its own exchange suffix in any case (or nothing, where the index is optional)."""

    def suffix(code: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" for c in code[7:])

    codes = "|".join(f"{i.code[:6]}(?:\\.{suffix(i.code)})?" for i in MAIN_INDICES)
    return f"^(?:{codes})?$" if optional else f"^(?:{codes})$"


def find_index(code: str | None) -> IndexInfo:
    """The main index ``code`` names (``000300`` or ``000300.SH``, any case); InvalidRequest
    naming the known ones otherwise (``000001`` is the SSE Composite, never a stock)."""
    given = (code or "").upper()
    for info in MAIN_INDICES:
        if given in (info.code, info.code[:6]):
            return info
    known = ", ".join(i.code for i in MAIN_INDICES)
    raise InvalidRequest(f"index {code!r} is not one stocksync keeps; use {known}", field="code")


def read_index_bars(
    ctx: Context, *, code: str | None, start: str | None, end: str | None, period: str | None
) -> dict[str, Any]:
    """Stored bars of one main index in [start, end]. InvalidRequest for bad input."""
    info = find_index(code)
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if first > last:
        raise InvalidRequest(f"start {first} is after end {last}", field="start")
    which: Period = parse_choice(period, Period, "period", Period.DAILY)
    query = (
        select(index_bars)
        .where(
            index_bars.c.code == info.code,
            index_bars.c.period == which.value,
            index_bars.c.trade_date.between(first, last),
        )
        .order_by(index_bars.c.trade_date)
        .limit(MAX_ROWS + 1)
    )
    with ctx.engine.connect() as conn:
        rows = conn.execute(query).all()
        stored = conn.execute(
            select(func.count()).where(index_bars.c.code == info.code)
        ).scalar_one()
    if len(rows) > MAX_ROWS:
        raise InvalidRequest(f"more than {MAX_ROWS} bars; ask for a shorter range", field="start")
    if not rows and not stored:
        raise InvalidRequest(
            f"no bars of {info.code} are stored; sync them first (datasets: index_bars)",
            field="code",
        )
    return {
        "code": info.code,
        "name": info.name,
        "period": which.value,
        "bars": [_row(r._mapping) for r in rows],
    }


def _row(m: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"trade_date": m["trade_date"].isoformat()}
    for name in _LEVELS:
        out[name] = None if m[name] is None else float(m[name])
    return out | {
        "volume": int(m["volume"]),
        "amount": float(m["amount"]),
        "pct_chg": None if m["pct_chg"] is None else float(m["pct_chg"]),
        "source": m["source"],
    }
