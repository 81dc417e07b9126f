"""tushare's quarterly reports (``fina_indicator`` and ``income``) as canonical
:class:`FinancialReport` versions.

Facts this relies on (SOURCES-DATASETS.md, section 5; tushare.pro/document/2?doc_id=79, 33):

- ``fina_indicator(ts_code, start_date, end_date)`` (2,000 points): start/end filter the
  **report period** (``end_date``); at most 100 rows a call, so every call names
  ``limit``/``offset``. Read: ``eps`` (basic, yuan), ``roe``, ``grossprofit_margin``,
  ``debt_to_assets``, ``or_yoy`` (revenue) and ``netprofit_yoy``, all in percent.
- ``income(ts_code, start_date, end_date)`` (2,000 points): start/end filter the
  **announcement** date; ``report_type`` 1 (合并, the default) is read; ``revenue`` and
  ``n_income_attr_p`` in yuan; ``ann_date`` (公告日期) and ``f_ann_date`` (实际公告日期), which of
  them is the first disclosure being unverified (``ann_date`` is used, ``f_ann_date`` where it
  is missing). Its cap is 100 or 500 rows (the sources disagree): 100 a call is asked.
- A period has a row per version: ``update_flag`` 1 the latest, 0 superseded (waditu/tushare
  #1094, #1060, #1662), each with its own ``ann_date``: every version is kept as its own
  report. Rows of one version repeated (near-identical copies, #821) count once, the one
  flagged latest first. An ``ann_date`` before its period (#1917) is left to validation.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from stocksync.domain import FinancialReport
from stocksync.sources.tushare.client import TushareClient
from stocksync.sources.tushare.rows import Row, missing, number, parse_day, ymd

INDICATOR_API = "fina_indicator"
INDICATOR_FIELDS = (
    "ts_code", "ann_date", "end_date", "eps", "roe", "grossprofit_margin", "debt_to_assets",
    "or_yoy", "netprofit_yoy", "update_flag",
)  # fmt: skip
INDICATOR_PAGE_ROWS = 100
INCOME_API = "income"
INCOME_FIELDS = (
    "ts_code", "ann_date", "f_ann_date", "end_date", "report_type", "revenue",
    "n_income_attr_p", "update_flag",
)  # fmt: skip
INCOME_PAGE_ROWS = 100
CONSOLIDATED = "1"
APIS = f"{INDICATOR_API}/{INCOME_API}"  # what a malformed row is blamed on
# report periods are asked from this long before the range, so that a restatement announced
# within it of a period ended before it is found
RESTATEMENT_REACH = dt.timedelta(days=400)
_FIGURES = {  # canonical figure -> fina_indicator field
    "eps": "eps",
    "roe": "roe",
    "gross_margin": "grossprofit_margin",
    "debt_ratio": "debt_to_assets",
    "revenue_yoy": "or_yoy",
    "net_profit_yoy": "netprofit_yoy",
}

Version = tuple[dt.date, dt.date]  # (report period, announcement date)


def fetch_indicator_rows(
    client: TushareClient, code: str, start: dt.date, end: dt.date
) -> list[Row]:
    """``fina_indicator`` rows of the periods ended from RESTATEMENT_REACH before ``start``
    through ``end`` (every page)."""
    return client.fetch(
        INDICATOR_API,
        INDICATOR_FIELDS,
        limit=INDICATOR_PAGE_ROWS,
        ts_code=code,
        start_date=ymd(start - RESTATEMENT_REACH),
        end_date=ymd(end),
    )


def fetch_income_rows(client: TushareClient, code: str, start: dt.date, end: dt.date) -> list[Row]:
    """Consolidated ``income`` rows announced in [start, end] (every page)."""
    return client.fetch(
        INCOME_API,
        INCOME_FIELDS,
        limit=INCOME_PAGE_ROWS,
        ts_code=code,
        start_date=ymd(start),
        end_date=ymd(end),
        report_type=CONSOLIDATED,
    )


def _figure(value: object) -> float | None:
    if missing(value):
        return None
    found = number(value)
    if not math.isfinite(found):
        raise ValueError(f"not a finite figure: {value!r}")
    return found


def _latest_first(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with those flagged latest (update_flag 1) first, so they win a repeated version."""
    return sorted(rows, key=lambda r: missing(r["update_flag"]) or str(r["update_flag"]) != "1")


def indicators(code: str, rows: Iterable[Row]) -> dict[Version, dict[str, Any]]:
    """The ``fina_indicator`` figures of each version of ``code``'s reports."""
    found: dict[Version, dict[str, Any]] = {}
    named = [dict(zip(INDICATOR_FIELDS, row, strict=True)) for row in rows]
    for values in _latest_first(named):
        if str(values["ts_code"]) != code or missing(values["ann_date"]):
            continue
        version = (parse_day(values["end_date"]), parse_day(values["ann_date"]))
        if version not in found:
            found[version] = {f: _figure(values[wire]) for f, wire in _FIGURES.items()}
    return found


def income(code: str, rows: Iterable[Row]) -> dict[Version, dict[str, Any]]:
    """Revenue and net profit (yuan) of each consolidated version of ``code``'s reports."""
    found: dict[Version, dict[str, Any]] = {}
    named = [dict(zip(INCOME_FIELDS, row, strict=True)) for row in rows]
    for values in _latest_first(named):
        kind = values["report_type"]
        if str(values["ts_code"]) != code or (not missing(kind) and str(kind) != CONSOLIDATED):
            continue
        announced = values["f_ann_date"] if missing(values["ann_date"]) else values["ann_date"]
        if missing(announced):
            continue
        version = (parse_day(values["end_date"]), parse_day(announced))
        if version not in found:
            found[version] = {
                "revenue": _figure(values["revenue"]),
                "net_profit": _figure(values["n_income_attr_p"]),
            }
    return found


def reports(
    code: str,
    start: dt.date,
    end: dt.date,
    indicator_rows: Iterable[Row],
    income_rows: Iterable[Row],
) -> list[FinancialReport]:
    """Every version of ``code``'s reports announced in [start, end], the two APIs' figures
    merged by (report period, announcement date), sorted by announcement then period."""
    figures = indicators(code, indicator_rows)
    for version, amounts in income(code, income_rows).items():
        figures.setdefault(version, {}).update(amounts)
    return [
        FinancialReport(code, period, announced, **figures[(period, announced)])
        for announced, period in sorted((a, p) for p, a in figures)
        if start <= announced <= end
    ]
