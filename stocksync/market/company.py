"""What a researcher asks of a stock besides its bars: its corporate actions, its profile on a
date (name, ST, industry, shares), its financial reports as known on a date, whether its
factors agree with its actions and its minute bars with its daily bars — read from the store,
for the API and the CLI."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from stocksync.codes import normalize_code
from stocksync.context import Context
from stocksync.datasets import securities
from stocksync.datasets.financials import financials_as_of
from stocksync.datasets.profiles import profiles_on
from stocksync.domain import Period
from stocksync.errors import InvalidRequest, NotFound
from stocksync.market.action_checks import check_factors, factor_revisions
from stocksync.market.minute_checks import check_minute_bars
from stocksync.runs.spec import parse_date
from stocksync.storage.schema import corporate_actions

MAX_CHECK_DAYS = 366 * 5
MAX_CODES = 200


def _codes(raw: str | None, field: str = "code") -> list[str]:
    parts = [p for p in re.split(r"[\s,]+", raw or "") if p]
    if not parts:
        raise InvalidRequest(f"{field} is required (e.g. 600000 or 600000.SH)", field=field)
    if len(parts) > MAX_CODES:
        raise InvalidRequest(f"ask for at most {MAX_CODES} codes", field=field)
    return [normalize_code(p) for p in parts]


def _span(start: str | None, end: str | None, most: int) -> tuple[dt.date, dt.date]:
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if first > last:
        raise InvalidRequest(f"start {first} is after end {last}", field="start")
    if (last - first).days > most:
        raise InvalidRequest(f"ask for at most {most} days", field="end")
    return first, last


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


def actions_of(ctx: Context, code: str | None, start: str | None, end: str | None) -> dict:
    """The stored corporate actions of ``code`` with an ex-date in [start, end]."""
    (one,) = _codes(code)
    first, last = _span(start, end, 366 * 40)
    t = corporate_actions
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(t).where(t.c.code == one, t.c.ex_date.between(first, last))
            .order_by(t.c.ex_date)
        ).mappings()  # fmt: skip
        found = [
            {k: float(v) if k.endswith(("_div", "_ratio", "_price")) and v is not None
             else _iso(v) for k, v in row.items() if k != "fetched_at"}
            for row in rows
        ]  # fmt: skip
    return {"code": one, "start": first.isoformat(), "end": last.isoformat(), "actions": found}


def profile_of(ctx: Context, code: str | None, date: str | None) -> dict[str, Any]:
    """What ``code`` was on ``date``: its listing, and its name, ST status, industry, area and
    shares then (each field from the latest stored profile row on or before the date)."""
    (one,) = _codes(code)
    day = parse_date(date, "date")
    with ctx.engine.connect() as conn:
        listing = securities.load_securities(conn, [one])
        found = profiles_on(conn, [one], day)
    if not listing and not found:
        raise NotFound(f"nothing is stored of {one}; sync its profiles first")
    profile: dict[str, Any] = found[0] if found else {"code": one}
    if listing:
        sec = listing[0]
        profile |= {
            "exchange": sec.exchange.value, "board": sec.board.value,
            "list_date": sec.list_date.isoformat(),
            "delist_date": sec.delist_date.isoformat() if sec.delist_date else None,
            "listed_on_date": sec.is_listed_on(day), "current_name": sec.name,
        }  # fmt: skip
    profile["date"] = day.isoformat()
    if not found:
        profile["note"] = "no profile rows are stored on or before this date (datasets: profiles)"
    return profile


def financials_of(
    ctx: Context, codes: str | None, as_of: str | None, periods: str | None = None
) -> dict[str, Any]:
    """Each of ``codes``' latest report periods as they were known on ``as_of`` (default
    today): a restatement announced later is not seen."""
    wanted = _codes(codes)
    day = parse_date(as_of, "as_of") if as_of else dt.date.today()
    try:
        count = int(periods) if periods else 8
    except ValueError:
        raise InvalidRequest(f"periods {periods!r} is not a number", field="periods") from None
    if not 1 <= count <= 200:
        raise InvalidRequest("periods must be within 1..200", field="periods")
    with ctx.engine.connect() as conn:
        reports = financials_as_of(conn, wanted, day, periods=count)
    return {
        "as_of": day.isoformat(),
        "reports": [{k: _iso(v) for k, v in r.items()} for r in reports],
    }


def factor_check(
    ctx: Context, start: str | None, end: str | None, codes: str | None = None
) -> dict[str, Any]:
    """Factor steps without an action, actions without a step, and steps of the wrong size in
    [start, end]; and the factor values later fetches changed."""
    first, last = _span(start, end, MAX_CHECK_DAYS)
    wanted = _codes(codes) if codes else None
    with ctx.engine.connect() as conn:
        findings, compared = check_factors(conn, first, last, wanted)
        revised = [
            r for r in factor_revisions(conn, wanted[0] if wanted and len(wanted) == 1 else None)
            if first.isoformat() <= r["trade_date"] <= last.isoformat()
            and (wanted is None or r["code"] in wanted)
        ]  # fmt: skip
    return {
        "start": first.isoformat(),
        "end": last.isoformat(),
        "compared": compared,
        "findings": [f.as_dict() for f in findings],
        "revisions": revised,
    }


def minute_check(
    ctx: Context,
    start: str | None,
    end: str | None,
    period: str | None = None,
    codes: str | None = None,
) -> dict[str, Any]:
    """Stored minute bars against the stored daily bars in [start, end] (at most a year)."""
    first, last = _span(start, end, 366)
    try:
        chosen = Period(period or "5min")
    except ValueError:
        chosen = Period.DAILY
    if not chosen.intraday:
        raise InvalidRequest(f"period {period!r} is no minute period; use 5min, 15min, 30min "
                             "or 60min", field="period")  # fmt: skip
    wanted = _codes(codes) if codes else None
    with ctx.engine.connect() as conn:
        findings, compared = check_minute_bars(conn, first, last, chosen, wanted)
    return {"start": first.isoformat(), "end": last.isoformat(), "period": chosen.value,
            "compared_days": compared, "findings": findings}  # fmt: skip
