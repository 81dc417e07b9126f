"""Dataset ``index_bars``: daily, weekly and monthly bars of the main indices (see
:mod:`stocksync.datasets.indices`) in points, volume in shares, amount in yuan, kept in their
own table apart from the stocks' ``bars``; upserted on (code, period, trade_date)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

from stocksync.datasets.base import Dataset, Key
from stocksync.domain import BAR_PERIODS, DatasetName, IndexBar, Period
from stocksync.storage.schema import index_bars
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

COLUMNS = (
    "code", "period", "trade_date", "open", "high", "low", "close", "pre_close", "volume",
    "amount", "pct_chg", "source", "fetched_at",
)  # fmt: skip
_KEYS = COLUMNS[:3]
_VALUES = COLUMNS[3:11]
# An index's amount / volume is the average price of a share traded in it, a few yuan to a
# few hundred: outside this band volume or amount is in the wrong unit (lots, thousands).
SHARE_PRICE_BAND = (0.5, 1000.0)


class IndexBarsDataset(Dataset[IndexBar]):
    name = DatasetName.INDEX_BARS
    periods = BAR_PERIODS
    table = "index_bars"
    subjects = "indices"

    def key(self, row: IndexBar) -> Key:
        return row.code, row.trade_date

    def problem(self, row: IndexBar) -> str | None:
        return index_bar_problem(row)

    def write(self, conn: Connection, rows: Sequence[IndexBar], *, source: str) -> int:
        stamp = dt.datetime.now(dt.UTC).isoformat()
        values = (
            (
                b.code, b.period.value, b.trade_date, b.open, b.high, b.low, b.close,
                b.pre_close, int(b.volume), b.amount, b.pct_chg, source, stamp,
            )
            for b in rows
        )  # fmt: skip
        return copy_merge(conn, "index_bars", COLUMNS, _KEYS, _VALUES, values)

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[IndexBar]:
        return source.market_index_bars(period, day)

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[IndexBar]:
        return source.index_bars(code, period, start, end)


INDEX_BARS = IndexBarsDataset()


def index_bar_problem(bar: IndexBar) -> str | None:
    """Why ``bar`` cannot be stored, or None when it is sound."""
    for name in ("open", "high", "low", "close"):
        value = getattr(bar, name)
        if value is None or not math.isfinite(value) or value <= 0:
            return f"{name} {value} is not a positive level"
    if bar.pre_close is not None and (not math.isfinite(bar.pre_close) or bar.pre_close <= 0):
        return f"pre_close {bar.pre_close} is not a positive level"
    if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
        return f"open {bar.open} / close {bar.close} outside [low {bar.low}, high {bar.high}]"
    if bar.volume < 0 or not math.isfinite(bar.amount) or bar.amount < 0:
        return f"volume {bar.volume} or amount {bar.amount} is negative or not a number"
    if bar.volume > 0 and bar.amount > 0:
        per_share = bar.amount / bar.volume
        lo, hi = SHARE_PRICE_BAND
        if not lo <= per_share <= hi:
            return (
                f"amount/volume {per_share:.4f} yuan a share is outside [{lo}, {hi}]: volume or "
                "amount is in the wrong unit (lots vs shares, thousands vs yuan?)"
            )
    if bar.pct_chg is not None and not math.isfinite(bar.pct_chg):
        return "pct_chg is not a number"
    return None


def latest_index_bar_dates(conn: Connection, period: str) -> dict[str, dt.date]:
    """Each index's newest stored trade date of ``period`` bars."""
    query = (
        select(index_bars.c.code, func.max(index_bars.c.trade_date))
        .where(index_bars.c.period == period)
        .group_by(index_bars.c.code)
    )
    return {code: day for code, day in conn.execute(query).all()}
