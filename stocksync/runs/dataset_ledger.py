"""The ledger's proof per dataset (``sync_item_datasets``): what each unit stored of each of
its datasets, from which source, how many rows, and what was missing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, select

from stocksync.domain import DatasetName
from stocksync.storage.schema import sync_item_datasets

STORED, INCOMPLETE = "stored", "incomplete"


@dataclass(frozen=True)
class DatasetRecord:
    """What one unit did for one dataset (a row of ``sync_item_datasets``)."""

    dataset: DatasetName
    status: str  # "stored", "incomplete" or "failed"
    source: str | None
    rows_received: int = 0
    rows_written: int = 0
    missing: int = 0
    detail: str | None = None


def record_datasets(conn: Connection, item_id: int, records: Iterable[DatasetRecord]) -> None:
    """Record (or replace) what ``item_id`` stored per dataset."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    rows = [
        {
            "item_id": item_id,
            "dataset": r.dataset.value,
            "status": r.status,
            "source": r.source,
            "rows_received": r.rows_received,
            "rows_written": r.rows_written,
            "missing": r.missing,
            "detail": r.detail,
            "updated_at": dt.datetime.now(dt.UTC),
        }
        for r in records
    ]
    if not rows:
        return
    stmt = pg_insert(sync_item_datasets)
    stmt = stmt.on_conflict_do_update(
        index_elements=[sync_item_datasets.c.item_id, sync_item_datasets.c.dataset],
        set_={c: stmt.excluded[c] for c in rows[0] if c not in ("item_id", "dataset")},
    )
    conn.execute(stmt, rows)


def dataset_records(conn: Connection, item_id: int) -> dict[DatasetName, DatasetRecord]:
    """What ``item_id`` recorded per dataset so far (kept across its retries)."""
    t = sync_item_datasets
    query = select(
        t.c.dataset, t.c.status, t.c.source, t.c.rows_received, t.c.rows_written, t.c.missing,
        t.c.detail,
    ).where(t.c.item_id == item_id)  # fmt: skip
    return {
        DatasetName(r.dataset): DatasetRecord(DatasetName(r.dataset), *tuple(r)[1:])
        for r in conn.execute(query)
    }
