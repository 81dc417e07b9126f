"""Dataset ``financials``: core indicators of each stock's quarterly reports, every announced
version kept — a restatement is a later ``announce_date`` of the same ``report_period`` and never
overwrites what was known before it. :func:`financials_as_of` answers with what had been
announced by a date.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from stocksync.datasets.base import Dataset, Key
from stocksync.domain import DatasetName, FinancialReport, Period
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

FIGURES = ("eps", "roe", "revenue", "net_profit", "revenue_yoy", "net_profit_yoy",
           "gross_margin", "debt_ratio")  # fmt: skip
COLUMNS = ("code", "report_period", "announce_date", *FIGURES, "announce_estimated", "source",
           "fetched_at")  # fmt: skip
QUARTER_ENDS = ((3, 31), (6, 30), (9, 30), (12, 31))


def is_quarter_end(day: dt.date) -> bool:
    return (day.month, day.day) in QUARTER_ENDS


def statutory_deadline(period: dt.date) -> dt.date:
    """The last day a report of ``period`` may be published (CSRC rules): Q1 by 30 April, the
    half year by 31 August, Q3 by 31 October, the annual report by 30 April of the next year."""
    if period.month == 3:
        return dt.date(period.year, 4, 30)
    if period.month == 6:
        return dt.date(period.year, 8, 31)
    if period.month == 9:
        return dt.date(period.year, 10, 31)
    return dt.date(period.year + 1, 4, 30)


class FinancialsDataset(Dataset[FinancialReport]):
    name = DatasetName.FINANCIALS
    table = "financials"
    events = True

    def key(self, row: FinancialReport) -> Key:
        return row.code, row.announce_date

    def problem(self, row: FinancialReport) -> str | None:
        if not is_quarter_end(row.report_period):
            return f"report period {row.report_period} is not a quarter end"
        if row.announce_date < row.report_period:
            return f"announced {row.announce_date}, before its period ended"
        figures = [getattr(row, f) for f in FIGURES]
        if all(v is None for v in figures):
            return "no figure at all"
        for field, value in zip(FIGURES, figures, strict=True):
            if value is not None and not math.isfinite(value):
                return f"{field} {value!r} is not a number"
        if row.debt_ratio is not None and not 0 <= row.debt_ratio <= 1000:
            return f"debt ratio {row.debt_ratio} is not a percentage (a fraction taken for %?)"
        return None

    def identity(self, row: FinancialReport) -> Hashable:
        return row.code, row.report_period, row.announce_date

    def duplicate(self, row: FinancialReport) -> str:
        return f"report {row.report_period} announced twice on {row.announce_date}"

    def write(self, conn: Connection, rows: Sequence[FinancialReport], *, source: str) -> int:
        stamp = dt.datetime.now(dt.UTC).isoformat()
        values = ((r.code, r.report_period, r.announce_date, *(getattr(r, f) for f in FIGURES),
                   r.announce_estimated, source, stamp) for r in rows)  # fmt: skip
        return copy_merge(conn, self.table, COLUMNS, COLUMNS[:3], (*FIGURES, "announce_estimated"),
                          values)  # fmt: skip

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[FinancialReport]:
        raise NotImplementedError("financial reports are fetched per stock")

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[FinancialReport]:
        return source.financials(code, start, end)


FINANCIALS = FinancialsDataset()


def financials_as_of(
    conn: Connection, codes: Sequence[str] | None, day: dt.date, *, periods: int = 8
) -> list[dict[str, Any]]:
    """What had been announced by ``day``: for each stock (of ``codes``, or all) its latest
    ``periods`` report periods, each in the latest version announced on or before ``day`` —
    a restatement announced later is invisible, the original figures stand."""
    where = "announce_date <= :day" + (" AND code = ANY(:codes)" if codes is not None else "")
    sql = text(
        "SELECT * FROM (SELECT DISTINCT ON (code, report_period) code, report_period, "
        f"announce_date, {', '.join(FIGURES)}, announce_estimated, source FROM financials "
        f"WHERE {where} ORDER BY code, report_period, announce_date DESC) v "
        "WHERE (SELECT count(DISTINCT f.report_period) FROM financials f WHERE f.code = v.code "
        "AND f.announce_date <= :day AND f.report_period > v.report_period) < :periods "
        "ORDER BY code, report_period"
    )
    params: dict[str, Any] = {"day": day, "periods": periods}
    if codes is not None:
        params["codes"] = list(codes)
    return [dict(r) for r in conn.execute(sql, params).mappings()]
