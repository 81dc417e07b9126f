"""The ledger read for people: run history, a run's units, and its progress per trade date."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, exists, func, select

from stocksync.domain import ItemStatus
from stocksync.runs.ledger import ItemRecord, RunRecord
from stocksync.storage.schema import sync_items, sync_runs


def list_runs(conn: Connection, *, limit: int, offset: int) -> tuple[list[RunRecord], int]:
    """Newest runs first, and the total number of runs."""
    rows = conn.execute(
        select(sync_runs).order_by(sync_runs.c.id.desc()).limit(limit).offset(offset)
    ).all()
    total = conn.execute(select(func.count()).select_from(sync_runs)).scalar_one()
    return [RunRecord.from_row(r) for r in rows], int(total)


def list_items(
    conn: Connection, run_id: int, *, status: ItemStatus | None, limit: int, offset: int
) -> tuple[list[ItemRecord], int]:
    """A page of the run's items (optionally of one status), in id order, and how many match."""
    where = [sync_items.c.run_id == run_id]
    if status is not None:
        where.append(sync_items.c.status == status.value)
    rows = conn.execute(
        select(sync_items).where(*where).order_by(sync_items.c.id).limit(limit).offset(offset)
    ).all()
    total = conn.execute(select(func.count()).select_from(sync_items).where(*where)).scalar_one()
    return [ItemRecord.from_row(r) for r in rows], int(total)


def date_summary(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """The run's units per (period, trade date), like the seeds' ``sync_progress_summary``:
    totals by status and the first start and last finish. Units over a range of dates (one
    stock over many days) are grouped under date None."""
    day = case(
        (sync_items.c.trade_date.is_not(None), sync_items.c.trade_date),
        (sync_items.c.start_date == sync_items.c.end_date, sync_items.c.start_date),
        else_=None,
    ).label("day")

    child = sync_items.alias("child")  # a split unit is summed through its per-stock children

    def of(status: ItemStatus) -> Any:
        return func.count().filter(sync_items.c.status == status.value)

    query = (
        select(
            sync_items.c.period,
            day,
            func.count().label("total"),
            of(ItemStatus.SUCCESS).label("success"),
            of(ItemStatus.FAILED).label("failed"),
            of(ItemStatus.SKIPPED).label("skipped"),
            of(ItemStatus.PENDING).label("pending"),
            of(ItemStatus.RUNNING).label("running"),
            func.min(sync_items.c.started_at).label("first_at"),
            func.max(sync_items.c.finished_at).label("last_at"),
        )
        .where(sync_items.c.run_id == run_id, ~exists().where(child.c.parent_id == sync_items.c.id))
        .group_by(sync_items.c.period, day)
        .order_by(sync_items.c.period, day.nulls_last())
    )
    return [dict(row._mapping) for row in conn.execute(query)]
