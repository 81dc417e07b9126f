"""What is stored: rows and latest date per period and source, and coverage per dataset by
trade date (how many stocks have a row that day)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, Select, Table, cast, func, select

from stocksync.context import Context
from stocksync.errors import InvalidRequest
from stocksync.runs.spec import parse_date
from stocksync.storage.schema import (
    adj_factor_revisions,
    adj_factors,
    bars,
    corporate_actions,
    financials,
    index_bars,
    index_members,
    minute_bars,
    stock_profiles,
    valuations,
)

MAX_COVERAGE_DAYS = 366
_COUNTED = ("bars", "adj_factors", "valuations", "index_bars", "index_members",
            "corporate_actions", "financials")  # fmt: skip


def _per_period(table: Table, day: Any = None) -> Select[Any]:
    """Rows, distinct codes and first/latest date of a bars table, per period and source."""
    when = table.c.trade_date if day is None else day
    return (
        select(
            table.c.period,
            table.c.source,
            func.count(),
            func.count(func.distinct(table.c.code)),
            func.min(when),
            func.max(when),
        )
        .group_by(table.c.period, table.c.source)
        .order_by(table.c.period, table.c.source)
    )


def _listed(rows: Any, codes: str) -> list[dict[str, Any]]:
    return [
        {
            "period": period,
            "source": source,
            "rows": int(count),
            codes: int(n_codes),
            "first_date": first.isoformat(),
            "latest_date": latest.isoformat(),
        }
        for period, source, count, n_codes, first, latest in rows
    ]


def storage_stats(ctx: Context) -> dict[str, Any]:
    """Bars and index bars per period and source (rows, stocks or indices, first and latest
    date), and the row counts and latest dates of the other datasets (corporate actions by
    ex-date, profiles by the date a row takes effect, financials by announcement) and of the
    factor revisions kept."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(_per_period(bars)).all()
        index_rows = conn.execute(_per_period(index_bars)).all()
        by_day = cast(minute_bars.c.bar_time, Date)
        minute_rows = conn.execute(_per_period(minute_bars, by_day)).all()
        others = {
            name: conn.execute(select(func.count(), func.max(day))).one()
            for name, day in (
                ("adj_factors", adj_factors.c.trade_date),
                ("valuations", valuations.c.trade_date),
                ("index_members", index_members.c.trade_date),
                ("corporate_actions", corporate_actions.c.ex_date),
                ("profiles", stock_profiles.c.valid_from),
                ("financials", financials.c.announce_date),
                ("adj_factor_revisions", adj_factor_revisions.c.trade_date),
            )
        }
    return {
        "bars": _listed(rows, "stocks"),
        "index_bars": _listed(index_rows, "indices"),
        "minute_bars": _listed(minute_rows, "stocks"),
        **{
            name: {"rows": int(n), "latest_date": latest.isoformat() if latest else None}
            for name, (n, latest) in others.items()
        },
    }


def coverage(ctx: Context, start: str | None, end: str | None) -> dict[str, Any]:
    """Per date in [start, end]: stocks with a daily bar, a factor and a valuation; indices
    with a daily bar; index members in snapshots of that date; corporate actions going ex and
    financial reports announced that day."""
    first, last = parse_date(start, "start"), parse_date(end, "end")
    if first > last:
        raise InvalidRequest(f"start {first} is after end {last}", field="start")
    if (last - first).days > MAX_COVERAGE_DAYS:
        raise InvalidRequest(f"ask for at most {MAX_COVERAGE_DAYS} days", field="end")
    per_day: dict[dt.date, dict[str, int]] = {}
    with ctx.engine.connect() as conn:
        for name, day, extra in (
            ("bars", bars.c.trade_date, bars.c.period == "daily"),
            ("adj_factors", adj_factors.c.trade_date, None),
            ("valuations", valuations.c.trade_date, None),
            ("index_bars", index_bars.c.trade_date, index_bars.c.period == "daily"),
            ("index_members", index_members.c.trade_date, None),
            ("corporate_actions", corporate_actions.c.ex_date, None),
            ("financials", financials.c.announce_date, None),
        ):
            query = select(day, func.count()).where(day.between(first, last)).group_by(day)
            if extra is not None:
                query = query.where(extra)
            for when, count in conn.execute(query):
                per_day.setdefault(when, dict.fromkeys(_COUNTED, 0))[name] = int(count)
    return {
        "start": first.isoformat(),
        "end": last.isoformat(),
        "dates": [{"trade_date": d.isoformat(), **per_day[d]} for d in sorted(per_day)],
    }
