"""Dataset ``profiles``: what each source says of a stock from a date on — name and ST status,
industry (named with the source's classification), area, total and float shares.

Rows are kept per source (tushare's industry scheme is not baostock's); a field a row leaves
NULL is one it says nothing about. :func:`profile_on` answers "what was this code called, was
it ST, which industry, how many shares, on D" field by field from the latest row on or before D.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from stocksync.datasets.base import Dataset, Key
from stocksync.domain import DatasetName, Period, StockProfile
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

FIELDS = ("name", "is_st", "industry", "industry_scheme", "area", "total_shares", "float_shares")
COLUMNS = ("code", "valid_from", "source", *FIELDS, "fetched_at")


class ProfilesDataset(Dataset[StockProfile]):
    name = DatasetName.PROFILES
    table = "stock_profiles"
    events = True

    def key(self, row: StockProfile) -> Key:
        return row.code, row.valid_from

    def problem(self, row: StockProfile) -> str | None:
        if all(getattr(row, f) is None for f in FIELDS):
            return "says nothing of the stock"
        if row.name is not None and not row.name.strip():
            return "an empty name"
        for field in ("total_shares", "float_shares"):
            value = getattr(row, field)
            if value is not None and (not math.isfinite(value) or value <= 0):
                return f"{field} {value!r} is not a positive number of shares"
        if (
            row.total_shares is not None
            and row.float_shares is not None
            and row.float_shares > row.total_shares * 1.0001
        ):
            return f"float shares {row.float_shares:.0f} above total {row.total_shares:.0f}"
        return None

    def write(self, conn: Connection, rows: Sequence[StockProfile], *, source: str) -> int:
        stamp = dt.datetime.now(dt.UTC).isoformat()
        values = ((r.code, r.valid_from, source, *(getattr(r, f) for f in FIELDS), stamp)
                  for r in rows)  # fmt: skip
        return copy_merge(conn, self.table, COLUMNS, COLUMNS[:3], FIELDS, values)

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[StockProfile]:
        raise NotImplementedError("profiles are fetched per stock")

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[StockProfile]:
        return source.profiles(code, start, end)


PROFILES = ProfilesDataset()

_FIELD_ON = """
  (SELECT {f} FROM stock_profiles p WHERE p.code = c.code AND p.valid_from <= :day
     AND p.{f} IS NOT NULL ORDER BY p.valid_from DESC, p.fetched_at DESC LIMIT 1) AS {f},
  (SELECT p.source FROM stock_profiles p WHERE p.code = c.code AND p.valid_from <= :day
     AND p.{f} IS NOT NULL ORDER BY p.valid_from DESC, p.fetched_at DESC LIMIT 1) AS {f}_source
"""


def profiles_on(conn: Connection, codes: Sequence[str], day: dt.date) -> list[dict[str, Any]]:
    """The profile of each of ``codes`` on ``day``, field by field from the latest stored row
    on or before it (with the source it came from); codes with no row are left out."""
    if not codes:
        return []
    columns = ",".join(_FIELD_ON.format(f=f) for f in FIELDS).rstrip().rstrip(",")
    sql = text(
        f"SELECT c.code, {columns} FROM unnest(CAST(:codes AS text[])) AS c(code) "
        "WHERE EXISTS (SELECT 1 FROM stock_profiles p WHERE p.code = c.code "
        "AND p.valid_from <= :day) ORDER BY c.code"
    )
    found = []
    for row in conn.execute(sql, {"codes": list(codes), "day": day}).mappings():
        profile: dict[str, Any] = {"code": row["code"]}
        for f in FIELDS:
            value = row[f]
            profile[f] = float(value) if f.endswith("_shares") and value is not None else value
        profile["sources"] = {f: row[f"{f}_source"] for f in FIELDS if row[f] is not None}
        found.append(profile)
    return found
