"""Dataset ``adj_factors``: the cumulative (hfq-style) adjustment factor of each stock on each
trading day; qfq and hfq prices are derived from it when bars are read."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from stocksync.datasets.base import Dataset, Key
from stocksync.domain import AdjFactor, DatasetName, Period
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

_COLUMNS = ("code", "trade_date", "factor", "source")


class AdjFactorsDataset(Dataset[AdjFactor]):
    name = DatasetName.ADJ_FACTORS
    table = "adj_factors"

    def key(self, row: AdjFactor) -> Key:
        return row.code, row.trade_date

    def problem(self, row: AdjFactor) -> str | None:
        if not (isinstance(row.factor, int | float) and math.isfinite(row.factor)):
            return f"factor {row.factor!r} is not a number"
        if row.factor <= 0:
            return f"factor {row.factor} is not positive"
        return None

    def write(self, conn: Connection, rows: Sequence[AdjFactor], *, source: str) -> int:
        return write_factors(conn, rows, source=source)

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[AdjFactor]:
        return source.market_adj_factors(day)

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[AdjFactor]:
        return source.adj_factors(code, start, end)


ADJ_FACTORS = AdjFactorsDataset()


# A stored factor a fetch is about to change is kept in adj_factor_revisions first: a source
# revising its history retroactively (or another source taking over) never erases what was
# known, and adjusted prices are derived from the current values.
_KEEP_REVISIONS = (
    "INSERT INTO adj_factor_revisions (code, trade_date, old_factor, new_factor, old_source, "
    "new_source) SELECT t.code, t.trade_date, t.factor, s.factor, t.source, s.source "
    "FROM adj_factors_stage s JOIN adj_factors t USING (code, trade_date) "
    "WHERE t.factor <> s.factor"
)


def write_factors(conn: Connection, factors: Sequence[AdjFactor], *, source: str) -> int:
    """Upsert factors in the caller's transaction, keeping each value a fetch changes in
    ``adj_factor_revisions``; returns rows inserted or changed."""
    rows = ((f.code, f.trade_date, f.factor, source) for f in factors)
    return copy_merge(conn, "adj_factors", _COLUMNS, _COLUMNS[:2], ("factor",), rows,
                      before_merge=(_KEEP_REVISIONS,))  # fmt: skip
