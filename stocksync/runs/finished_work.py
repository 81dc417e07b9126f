"""The ledger's record of finished work, per dataset, read as coverage for the planner.

Only a unit's dataset that the ledger records as ``stored`` (every expected row arrived) counts:
a dataset a source did not serve, or served incompletely, stays open for the next run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, or_, select

from stocksync.domain import DatasetName, Period
from stocksync.runs.coverage import Coverage
from stocksync.runs.dataset_ledger import STORED
from stocksync.runs.units import SCOPE_MARK
from stocksync.storage.schema import sync_item_datasets, sync_items


def finished_coverage(
    conn: Connection,
    *,
    period: Period,
    dataset: DatasetName,
    codes: Sequence[str] | None,
    start: dt.date,
    end: dt.date,
    scope: str = "",
) -> Coverage:
    """Where ``dataset`` of ``period`` is stored within [start, end] by earlier units: per
    stock, the ranges of per-stock units; for the whole market, the dates of per-date units
    (of the whole market, or of the same symbol ``scope``)."""
    items, done = sync_items, sync_item_datasets
    joined = items.join(done, done.c.item_id == items.c.id)
    stored = [
        items.c.period == period.value,
        done.c.dataset == dataset.value,
        done.c.status == STORED,
    ]
    per_stock = (
        select(items.c.code, items.c.start_date, items.c.end_date)
        .select_from(joined)
        .where(
            *stored,
            items.c.code.is_not(None),
            items.c.start_date <= end,
            items.c.end_date >= start,
        )
    )
    if codes is not None:
        per_stock = per_stock.where(items.c.code.in_(list(codes)))
    ranges: dict[str, list[tuple[dt.date, dt.date]]] = {}
    for code, first, last in conn.execute(per_stock):
        ranges.setdefault(code, []).append((first, last))
    whole = ~items.c.unit_key.contains(SCOPE_MARK)
    same_scope = items.c.unit_key.endswith(scope) if scope else whole
    market = (
        select(items.c.trade_date)
        .select_from(joined)
        .where(
            *stored,
            items.c.code.is_(None),
            items.c.trade_date.between(start, end),
            or_(whole, same_scope),
        )
        .distinct()
    )
    return Coverage(ranges, frozenset(conn.execute(market).scalars()))
