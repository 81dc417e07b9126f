"""Dataset ``valuations``: daily trailing P/E (None while loss-making), P/B and total and
circulating market value in yuan, of each stock on the days it traded."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from stocksync.datasets.base import Dataset, Key
from stocksync.domain import DatasetName, Period, Valuation
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

_COLUMNS = ("code", "trade_date", "pe_ttm", "pb", "total_mv", "circ_mv", "source")


class ValuationsDataset(Dataset[Valuation]):
    name = DatasetName.VALUATIONS
    table = "valuations"

    def key(self, row: Valuation) -> Key:
        return row.code, row.trade_date

    def problem(self, row: Valuation) -> str | None:
        for field in ("total_mv", "circ_mv"):
            value = getattr(row, field)
            if value is not None and (not math.isfinite(value) or value < 0):
                return f"{field} {value} is negative or not a number"
        return None

    def write(self, conn: Connection, rows: Sequence[Valuation], *, source: str) -> int:
        return write_valuations(conn, rows, source=source)

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[Valuation]:
        return source.market_valuations(day)

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[Valuation]:
        return source.stock_valuations(code, start, end)


VALUATIONS = ValuationsDataset()


def write_valuations(conn: Connection, items: Sequence[Valuation], *, source: str) -> int:
    """Upsert daily valuations (one per code and date) in the caller's transaction."""
    unique = {(v.code, v.trade_date): v for v in items}.values()
    rows = ((v.code, v.trade_date, v.pe_ttm, v.pb, v.total_mv, v.circ_mv, source) for v in unique)
    return copy_merge(conn, "valuations", _COLUMNS, _COLUMNS[:2], _COLUMNS[2:6], rows)
