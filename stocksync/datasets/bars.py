"""Dataset ``bars``: daily, weekly and monthly bars, unadjusted, volume in shares, amount in
yuan (the public ``bars`` table); ingest is an idempotent upsert on (code, period, trade_date)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

from stocksync.datasets.bar_checks import row_problem
from stocksync.datasets.base import Dataset, Key, RejectedRow
from stocksync.domain import BAR_PERIODS, Bar, DatasetName, Period
from stocksync.storage.schema import bars
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

BAR_COLUMNS = (
    "code", "period", "trade_date", "open", "high", "low", "close", "pre_close", "volume",
    "amount", "turnover_pct", "pct_chg", "trade_status", "is_st", "source", "fetched_at",
)  # fmt: skip
_KEYS = BAR_COLUMNS[:3]
_VALUES = BAR_COLUMNS[3:14]  # not source or fetched_at: a rerun from another source is no change


class BarsDataset(Dataset[Bar]):
    name = DatasetName.BARS
    periods = BAR_PERIODS
    table = "bars"

    def key(self, row: Bar) -> Key:
        return row.code, row.trade_date

    def problem(self, row: Bar) -> str | None:
        return row_problem(row)

    def write(self, conn: Connection, rows: Sequence[Bar], *, source: str) -> int:
        return write_bars(conn, rows, source=source)

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[Bar]:
        return source.market_bars(period, day)

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[Bar]:
        return source.stock_bars(code, period, start, end)


BARS = BarsDataset()


def validate_bars(rows: Iterable[Bar]) -> tuple[list[Bar], list[RejectedRow]]:
    """Split ``rows`` into sound bars and rejected ones (a repeated key is rejected too)."""
    listed = list(rows)
    period = listed[0].period if listed else Period.DAILY
    return BARS.check(listed, period)


def write_bars(
    conn: Connection, rows: Sequence[Bar], *, source: str, fetched_at: dt.datetime | None = None
) -> int:
    """Upsert ``rows`` inside the caller's transaction; returns rows inserted or changed.

    Rows identical to the stored ones are left untouched. ``rows`` must not contain the same key
    twice (:func:`validate_bars` removes duplicates).
    """
    stamp = (fetched_at or dt.datetime.now(dt.UTC)).isoformat()
    values = (
        (
            b.code, b.period.value, b.trade_date, b.open, b.high, b.low, b.close, b.pre_close,
            int(b.volume), b.amount, b.turnover_pct, b.pct_chg, int(b.trade_status), b.is_st,
            source, stamp,
        )
        for b in rows
    )  # fmt: skip
    return copy_merge(conn, "bars", BAR_COLUMNS, _KEYS, _VALUES, values)


def latest_bar_date(
    conn: Connection, period: str, codes: Sequence[str] | None = None
) -> dt.date | None:
    """The newest stored trade date of ``period`` bars (of ``codes`` when given)."""
    query = select(func.max(bars.c.trade_date)).where(bars.c.period == period)
    if codes is not None:
        query = query.where(bars.c.code.in_(list(codes)))
    return conn.execute(query).scalar_one_or_none()


def latest_bar_dates(
    conn: Connection, period: str, codes: Sequence[str] | None = None
) -> dict[str, dt.date]:
    """Each stock's newest stored trade date of ``period`` bars."""
    query = (
        select(bars.c.code, func.max(bars.c.trade_date))
        .where(bars.c.period == period)
        .group_by(bars.c.code)
    )
    if codes is not None:
        query = query.where(bars.c.code.in_(list(codes)))
    return {code: day for code, day in conn.execute(query).all()}
