"""The ledger's record of finished work, read as coverage for the planner."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, select

from stocksync.domain import ItemStatus
from stocksync.runs.coverage import Coverage
from stocksync.storage.schema import sync_items


def finished_coverage(
    conn: Connection,
    *,
    period: str,
    datasets: Sequence[str],
    codes: Sequence[str] | None,
    start: dt.date,
    end: dt.date,
) -> Coverage:
    """Successful units of ``period`` whose datasets include the wanted ones (``datasets``: the
    unit's tag and the tags that cover it), overlapping [start, end]: per-stock ranges, and the
    dates of market-wide units (not those of a symbol subset, nor a split unit's parent — its
    per-stock children carry the work)."""
    done = [
        sync_items.c.period == period,
        sync_items.c.status == ItemStatus.SUCCESS.value,
        sync_items.c.dataset.in_(list(datasets)),
    ]
    per_stock = select(sync_items.c.code, sync_items.c.start_date, sync_items.c.end_date).where(
        *done,
        sync_items.c.code.is_not(None),
        sync_items.c.start_date <= end,
        sync_items.c.end_date >= start,
    )
    if codes is not None:
        per_stock = per_stock.where(sync_items.c.code.in_(list(codes)))
    ranges: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for code, first, last in conn.execute(per_stock):
        ranges.setdefault(code, []).append((first, last))
    market = (
        select(sync_items.c.trade_date)
        .where(
            *done,
            sync_items.c.code.is_(None),
            sync_items.c.source.is_not(None),
            sync_items.c.trade_date.between(start, end),
            ~sync_items.c.unit_key.contains("@"),
        )
        .distinct()
    )
    return Coverage(ranges, frozenset(conn.execute(market).scalars()))
