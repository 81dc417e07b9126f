"""baostock's profile facts → canonical :class:`~stocksync.domain.StockProfile` rows.

- ST status: the daily k-data's ``isST`` (``query_history_k_data_plus``, fields ``date,code,isST``,
  unadjusted), from a month before the range so that the status in force on its first day is
  known: a row at the last trading day on or before ``start``, and one at each change after it.
- Industry: ``query_stock_industry(code, date)`` as of the range's end (at most today): baostock's
  weekly snapshot, dated its ``updateDate``, named in its ``industryClassification``.
- Name: ``query_stock_basic(code)``'s ``code_name`` is the name today; it is asked (and dated
  today) only when today lies within the range. baostock has no name history.
- Share capital: not served (baostock has it only per quarter, in its profit data); no area.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

from stocksync.domain import Period, StockProfile
from stocksync.sources.baostock.replies import Records, bs_code, out_of_step, unreadable

ST_FIELDS = "date,code,isST"
ST_LOOKBACK = dt.timedelta(days=31)  # reaches a trading day before any start, holidays included
INDUSTRY_FIELDS = frozenset({"updateDate", "code", "industry", "industryClassification"})
# BaostockSource._k_rows: (canonical, bs code, period, start, end, adjustflag, fields) -> rows
KRows = Callable[[str, str, Period, dt.date, dt.date, str, str], list[dict[str, str]]]


def fetch(
    records: Records, k_rows: KRows, canonical: str, start: dt.date, end: dt.date, today: dt.date
) -> list[StockProfile]:
    """What baostock says of ``canonical`` over [start, end] (see the module docstring): one
    k-data query, one industry query, and the listing's name when today is in range."""
    code = bs_code(canonical)
    daily = k_rows(canonical, code, Period.DAILY, start - ST_LOOKBACK, end, "3", ST_FIELDS)
    found = st_changes(canonical, daily, start)
    asked = min(end, today)
    what = f"industry of {canonical} on {asked}"
    rows = records(what, lambda bs: bs.query_stock_industry(code=code, date=asked.isoformat()))
    if not answers_industry(code, asked, rows):
        raise out_of_step(what)
    found += industry(canonical, rows)
    if start <= today <= end:
        what = f"name of {canonical}"
        rows = records(what, lambda bs: bs.query_stock_basic(code=code))
        if any(r.get("code") != code for r in rows):
            raise out_of_step(what)
        found += [StockProfile(canonical, today, name=r["code_name"]) for r in rows
                  if r.get("code_name")]  # fmt: skip
    return merged(found)


def st_changes(canonical: str, rows: list[dict[str, str]], start: dt.date) -> list[StockProfile]:
    """The ST status in force on ``start`` (dated its last trading day on or before it, or the
    first one after when the stock lists later) and each change after it."""
    try:
        marks = sorted((dt.date.fromisoformat(r["date"]), r["isST"] == "1")
                       for r in rows if r["isST"] in ("0", "1"))  # fmt: skip
    except ValueError as exc:
        raise unreadable(f"ST status of {canonical}", exc) from exc
    before = [i for i, (day, _) in enumerate(marks) if day <= start]
    marks = marks[before[-1] if before else 0 :]
    kept = marks[:1] + [now for prev, now in itertools.pairwise(marks) if now[1] != prev[1]]
    return [StockProfile(canonical, day, is_st=flag) for day, flag in kept]


def answers_industry(code: str, day: dt.date, rows: list[dict[str, str]]) -> bool:
    """Whether ``rows`` can be the industry reply for ``code`` as of ``day``."""
    if rows and not rows[0].keys() >= INDUSTRY_FIELDS:
        return False
    return all(r["code"] == code and r["updateDate"] <= day.isoformat() for r in rows)


def industry(canonical: str, rows: list[dict[str, str]]) -> list[StockProfile]:
    """The industry rows of a reply, each dated its weekly update; an empty industry says
    nothing."""
    try:
        return [
            StockProfile(canonical, dt.date.fromisoformat(r["updateDate"]),
                         industry=r["industry"],
                         industry_scheme=r["industryClassification"] or "baostock")
            for r in rows
            if r["industry"]
        ]  # fmt: skip
    except ValueError as exc:
        raise unreadable(f"industry of {canonical}", exc) from exc


def merged(rows: list[StockProfile]) -> list[StockProfile]:
    """One row per date, each field from the row that has it."""
    by_day: dict[dt.date, dict[str, Any]] = {}
    for row in rows:
        fields = by_day.setdefault(row.valid_from, {})
        for name in ("name", "is_st", "industry", "industry_scheme"):
            value = getattr(row, name)
            if value is not None:
                fields[name] = value
    return [StockProfile(rows[0].code, day, **by_day[day]) for day in sorted(by_day)]
