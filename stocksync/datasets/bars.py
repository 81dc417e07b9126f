"""Idempotent bar ingest on (code, period, trade_date) — see :mod:`stocksync.storage.upsert`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from stocksync.domain import Bar
from stocksync.storage.schema import bars
from stocksync.storage.upsert import copy_merge

BAR_COLUMNS = (
    "code", "period", "trade_date", "open", "high", "low", "close", "pre_close", "volume",
    "amount", "turnover_pct", "pct_chg", "trade_status", "is_st", "source", "fetched_at",
)  # fmt: skip
_KEYS = BAR_COLUMNS[:3]
_VALUES = BAR_COLUMNS[3:14]  # not source or fetched_at: a rerun from another source is no change


def write_bars(
    conn: Connection, bars: Sequence[Bar], *, source: str, fetched_at: dt.datetime | None = None
) -> int:
    """Upsert ``bars`` inside the caller's transaction; returns rows inserted or changed.

    Rows identical to the stored ones are left untouched. ``bars`` must not contain the same key
    twice (validation removes duplicates).
    """
    stamp = (fetched_at or dt.datetime.now(dt.UTC)).isoformat()
    rows = (
        (
            b.code,
            b.period.value,
            b.trade_date,
            b.open,
            b.high,
            b.low,
            b.close,
            b.pre_close,
            int(b.volume),
            b.amount,
            b.turnover_pct,
            b.pct_chg,
            int(b.trade_status),
            b.is_st,
            source,
            stamp,
        )
        for b in bars
    )
    return copy_merge(conn, "bars", BAR_COLUMNS, _KEYS, _VALUES, rows)


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
