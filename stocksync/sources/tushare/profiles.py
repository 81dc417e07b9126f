"""tushare's name history (``namechange``), current industry and area (``stock_basic``) and
share capital (``daily_basic``) as canonical :class:`StockProfile` rows.

Facts this relies on (SOURCES-DATASETS.md, section 4; tushare.pro/document/2?doc_id=100, 25, 32):

- ``namechange(ts_code)``: rows ``name, start_date, end_date, ann_date, change_reason`` (其他,
  ST, \\*ST, 撤销ST, 撤销\\*ST, 摘星, 改名 …); its own ``start_date``/``end_date`` inputs filter the
  announcement date, so the stock's whole history is asked for. Each ST change can come twice,
  one copy with ``end_date`` None: a change is its ``start_date``, counted once. ST status is
  read from the name (``ST``, ``*ST``, ``SST``, ``S*ST`` prefixes).
- ``stock_basic(list_status="L")`` (2,000 points, 50 calls a minute, 6,000 rows): ``industry``
  in tushare's own scheme and ``area``, as they are today only, asked for the whole market once
  a day per process (a delisted stock has no current row).
- ``daily_basic(ts_code, start_date, end_date)`` (2,000 points, 6,000 rows a call):
  ``total_share`` / ``float_share`` in 万股 (x10000 -> shares) on each trading day (suspended
  days absent); a profile row is made of the first day asked and of each day they change.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from stocksync.domain import StockProfile
from stocksync.sources.tushare.client import TushareClient
from stocksync.sources.tushare.rows import Row, missing, number, parse_day, ymd

NAME_API = "namechange"
NAME_FIELDS = ("ts_code", "name", "start_date", "end_date", "ann_date", "change_reason")
CURRENT_API = "stock_basic"
CURRENT_FIELDS = ("ts_code", "industry", "area")
SHARES_API = "daily_basic"
SHARES_FIELDS = ("ts_code", "trade_date", "total_share", "float_share")
APIS = f"{NAME_API}/{SHARES_API}/{CURRENT_API}"  # what a malformed row is blamed on
INDUSTRY_SCHEME = "tushare"
# the shares in force on the first day asked come from the last trading day on or before it
SHARES_LOOKBACK = dt.timedelta(days=31)
_ST_NAME = re.compile(r"^S?\*?ST")
V = TypeVar("V")


def is_st_name(name: str) -> bool:
    """Whether a stock name carries a risk warning (ST, \\*ST, SST, S\\*ST)."""
    return bool(_ST_NAME.match(name.strip()))


def fetch_names(client: TushareClient, code: str) -> list[Row]:
    """Every ``namechange`` row of ``code``."""
    return client.fetch(NAME_API, NAME_FIELDS, ts_code=code)


# Today's industry and area of every listed stock, asked once a day per process: stock_basic
# allows 50 calls a minute, so a stock-by-stock ask for the whole market would take 100 minutes.
_current: dict[tuple[int, dt.date], dict[str, Row]] = {}
_current_lock = threading.Lock()


def fetch_current(client: TushareClient, code: str, today: dt.date | None = None) -> list[Row]:
    """``code``'s ``stock_basic`` row today (none for a stock no longer listed), from one
    whole-market call a day shared by every unit of the process."""
    key = (id(client), today or dt.date.today())
    with _current_lock:
        listed = _current.get(key)
        if listed is None:
            rows = client.fetch(CURRENT_API, CURRENT_FIELDS, list_status="L")
            listed = {str(r[0]): r for r in rows}
            _current.clear()  # yesterday's (or another client's) answer is stale
            _current[key] = listed
    return [listed[code]] if code in listed else []


def fetch_shares(client: TushareClient, code: str, start: dt.date, end: dt.date) -> list[Row]:
    """``code``'s daily share capital from a little before ``start`` through ``end``."""
    return client.fetch(
        SHARES_API,
        SHARES_FIELDS,
        ts_code=code,
        start_date=ymd(start - SHARES_LOOKBACK),
        end_date=ymd(end),
    )


@dataclass(frozen=True)
class ProfileWire:
    """The replies one stock's profiles are made of."""

    names: list[Row]
    shares: list[Row]
    current: list[Row]

    @property
    def empty(self) -> bool:
        return not (self.names or self.shares or self.current)


def fetch(
    client: TushareClient, code: str, start: dt.date, end: dt.date, today: dt.date
) -> ProfileWire:
    """The name history, the share capital over the range and, when ``today`` lies in it,
    today's ``stock_basic`` row of ``code``."""
    return ProfileWire(
        names=fetch_names(client, code),
        shares=fetch_shares(client, code, start, end),
        current=fetch_current(client, code, today) if start <= today <= end else [],
    )


def names(code: str, rows: Iterable[Row]) -> dict[dt.date, str]:
    """``code``'s name from each day it took effect: copies of one change count once; of two
    names starting on one day the later announced wins."""
    found: dict[dt.date, tuple[dt.date, str]] = {}
    for ts_code, name, start_date, _end, ann_date, _reason in rows:
        if str(ts_code) != code or missing(name) or missing(start_date) or not str(name).strip():
            continue
        day = parse_day(start_date)
        announced = dt.date.min if missing(ann_date) else parse_day(ann_date)
        if day not in found or announced > found[day][0]:
            found[day] = (announced, str(name).strip())
    return {day: found[day][1] for day in sorted(found)}


def _shares(value: object) -> float:
    wan = number(value)
    if not (math.isfinite(wan) and wan > 0):
        raise ValueError(f"not a share capital in 万股: {value!r}")
    return float(round(wan * 10000))


def shares(code: str, rows: Iterable[Row]) -> dict[dt.date, tuple[float, float]]:
    """``code``'s (total, float) shares on the first day of ``rows`` and on each day they
    change. ValueError for a share count that is not a positive number."""
    daily: dict[dt.date, tuple[float, float]] = {}
    for ts_code, day, total, floating in rows:
        if str(ts_code) == code:
            daily[parse_day(day)] = (_shares(total), _shares(floating))
    found: dict[dt.date, tuple[float, float]] = {}
    previous = None
    for day in sorted(daily):
        if daily[day] != previous:
            found[day] = previous = daily[day]
    return found


def current(code: str, rows: Iterable[Row]) -> tuple[str | None, str | None] | None:
    """(industry, area) of ``code`` from its ``stock_basic`` row; None without one."""
    for ts_code, industry, area in rows:
        if str(ts_code) == code:
            found = (None if missing(industry) else str(industry),
                     None if missing(area) else str(area))  # fmt: skip
            return found if any(found) else None
    return None


def _in_range(history: Mapping[dt.date, V], start: dt.date, end: dt.date) -> dict[dt.date, V]:
    """The entries taking effect in [start, end] and the one in force on ``start``."""
    before = [day for day in history if day < start]
    kept = {day: v for day, v in history.items() if start <= day <= end}
    if before:
        kept[max(before)] = history[max(before)]
    return kept


def profiles(
    code: str, start: dt.date, end: dt.date, today: dt.date, wire: ProfileWire
) -> list[StockProfile]:
    """The profile rows of ``code`` over [start, end], one per day something takes effect:
    names and shares as they changed (and as they stood on ``start``), industry and area as
    of ``today`` (only when ``today`` lies in the range)."""
    fields: dict[dt.date, dict[str, Any]] = {}
    for day, name in _in_range(names(code, wire.names), start, end).items():
        fields.setdefault(day, {}).update(name=name, is_st=is_st_name(name))
    for day, (total, floating) in _in_range(shares(code, wire.shares), start, end).items():
        fields.setdefault(day, {}).update(total_shares=total, float_shares=floating)
    today_facts = current(code, wire.current)
    if today_facts is not None and start <= today <= end:
        industry, area = today_facts
        facts = {"industry": industry, "area": area}
        if industry is not None:
            facts["industry_scheme"] = INDUSTRY_SCHEME
        fields.setdefault(today, {}).update(facts)
    return [StockProfile(code=code, valid_from=day, **fields[day]) for day in sorted(fields)]
