"""The ledger: runs (``sync_runs``) and their units of work (``sync_items``).

Functions take a Connection inside the caller's transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, update

from stocksync.domain import ITEM_DONE_STATUSES, DatasetName, ItemStatus, Period, RunStatus
from stocksync.runs.spec import RunSpec
from stocksync.runs.units import WorkUnit, parse_datasets_tag, parse_unit_key
from stocksync.sources.base import Shape
from stocksync.storage.schema import sync_items, sync_runs


@dataclass(frozen=True)
class RunRecord:
    id: int
    kind: str
    spec: RunSpec
    status: RunStatus
    total: int
    success_count: int
    failed_count: int
    skipped_count: int
    rows_written: int
    message: str | None
    error: str | None
    fence: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_s: float | None
    trigger: str | None = None  # "api", "cli", "schedule:daily", …

    @classmethod
    def from_row(cls, row: Row[Any]) -> RunRecord:
        m = row._mapping
        return cls(
            **{k: m[k] for k in m if k not in ("spec", "status")},
            spec=RunSpec.from_json(m["spec"]),
            status=RunStatus(m["status"]),
        )


@dataclass(frozen=True)
class ItemRecord:
    id: int
    run_id: int
    unit_key: str
    dataset: str
    period: Period
    trade_date: dt.date | None
    code: str | None
    start_date: dt.date
    end_date: dt.date
    status: ItemStatus
    attempts: int
    error: str | None
    source: str | None
    rows: int

    @classmethod
    def from_row(cls, row: Row[Any]) -> ItemRecord:
        m = row._mapping
        return cls(
            id=m["id"],
            run_id=m["run_id"],
            unit_key=m["unit_key"],
            dataset=m["dataset"],
            period=Period(m["period"]),
            trade_date=m["trade_date"],
            code=m["code"],
            start_date=m["start_date"],
            end_date=m["end_date"],
            status=ItemStatus(m["status"]),
            attempts=m["attempts"],
            error=m["error"],
            source=m["source"],
            rows=m["rows"],
        )

    @property
    def label(self) -> str:
        return (self.trade_date or self.end_date).isoformat()

    @property
    def datasets(self) -> tuple[DatasetName, ...]:
        """The datasets this unit must store."""
        return parse_datasets_tag(self.dataset)

    @property
    def unit(self) -> WorkUnit:
        return parse_unit_key(self.unit_key)

    @property
    def shape(self) -> Shape:
        return Shape.MARKET_BY_DATE if self.code is None else Shape.STOCK_BY_RANGE


def insert_run(
    conn: Connection,
    spec: RunSpec,
    *,
    status: RunStatus,
    fence: int | None,
    message: str,
    trigger: str = "api",
) -> int:
    """Create a run row and return its id. ``trigger`` says what started it."""
    return int(
        conn.execute(
            insert(sync_runs)
            .values(
                kind=spec.kind,
                spec=spec.to_json(),
                status=status.value,
                fence=fence,
                message=message,
                trigger=trigger,
            )
            .returning(sync_runs.c.id)
        ).scalar_one()
    )


def insert_items(
    conn: Connection, run_id: int, units: Sequence[WorkUnit], done_keys: set[str]
) -> None:
    """Record ``units`` for ``run_id``: those in ``done_keys`` as skipped, the rest pending."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "run_id": run_id,
            "unit_key": u.unit_key,
            "dataset": u.dataset_tag,
            "period": u.period.value,
            "trade_date": u.trade_date,
            "code": u.code,
            "start_date": u.start_date,
            "end_date": u.end_date,
            "status": (ItemStatus.SKIPPED if u.unit_key in done_keys else ItemStatus.PENDING).value,
            "error": "already synced by an earlier run" if u.unit_key in done_keys else None,
            "finished_at": now if u.unit_key in done_keys else None,
        }
        for u in units
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(insert(sync_items), rows[start : start + 5000])


def insert_children(
    conn: Connection,
    parent: ItemRecord,
    codes: Sequence[str],
    datasets: tuple[DatasetName, ...],
) -> list[int]:
    """Per-stock items of ``datasets`` for ``parent``'s trade date (idempotent: a repeated
    split adds none)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    assert parent.trade_date is not None
    unit = parent.unit
    rows = []
    for code in codes:
        child = unit.child(code, datasets)
        rows.append(
            {
                "run_id": parent.run_id,
                "parent_id": parent.id,
                "unit_key": child.unit_key,
                "dataset": child.dataset_tag,
                "period": child.period.value,
                "code": code,
                "start_date": child.start_date,
                "end_date": child.end_date,
                "status": ItemStatus.PENDING.value,
            }
        )
    if not rows:
        return []
    stmt = pg_insert(sync_items).on_conflict_do_nothing().returning(sync_items.c.id)
    return (
        [int(i) for i in conn.execute(stmt, rows).scalars()]
        if len(rows) == 1
        else [int(r[0]) for r in conn.execute(stmt.values(rows)).all()]
    )


def pending_item_ids(conn: Connection, run_id: int) -> list[int]:
    query = (
        select(sync_items.c.id)
        .where(sync_items.c.run_id == run_id, sync_items.c.status == ItemStatus.PENDING.value)
        .order_by(sync_items.c.id)
    )
    return list(conn.execute(query).scalars())


def finished_item_ids(conn: Connection, run_id: int) -> list[int]:
    """Ids of the run's items in a final status (success, failed, skipped)."""
    query = select(sync_items.c.id).where(
        sync_items.c.run_id == run_id,
        sync_items.c.status.in_([s.value for s in ITEM_DONE_STATUSES]),
    )
    return list(conn.execute(query).scalars())


def unfinished_item_ids(conn: Connection, run_id: int) -> list[int]:
    """Ids of the run's items still pending or running (e.g. after its workers died)."""
    query = (
        select(sync_items.c.id)
        .where(
            sync_items.c.run_id == run_id,
            sync_items.c.status.in_([ItemStatus.PENDING.value, ItemStatus.RUNNING.value]),
        )
        .order_by(sync_items.c.id)
    )
    return list(conn.execute(query).scalars())


def reset_failed_items(conn: Connection, run_id: int) -> int:
    """Failed items back to pending with a fresh attempt budget and no rows of their own yet
    (their last error is kept; the rows they wrote count again when they finish)."""
    now = dt.datetime.now(dt.UTC)
    result = conn.execute(
        update(sync_items)
        .where(sync_items.c.run_id == run_id, sync_items.c.status == ItemStatus.FAILED.value)
        .values(
            status=ItemStatus.PENDING.value, attempts=0, rows=0, finished_at=None, updated_at=now
        )
    )
    return int(result.rowcount)


def get_run(conn: Connection, run_id: int, *, for_update: bool = False) -> RunRecord | None:
    """The run, or None; ``for_update`` locks its row until the transaction ends."""
    query = select(sync_runs).where(sync_runs.c.id == run_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return RunRecord.from_row(row) if row else None


def runs_with_status(conn: Connection, statuses: Sequence[RunStatus]) -> list[RunRecord]:
    """Runs in any of ``statuses``, newest first."""
    query = (
        select(sync_runs)
        .where(sync_runs.c.status.in_([s.value for s in statuses]))
        .order_by(sync_runs.c.id.desc())
    )
    return [RunRecord.from_row(r) for r in conn.execute(query)]


def get_item(conn: Connection, item_id: int) -> ItemRecord | None:
    row = conn.execute(select(sync_items).where(sync_items.c.id == item_id)).first()
    return ItemRecord.from_row(row) if row else None


def claim_item(
    conn: Connection,
    item_id: int,
    *,
    count_attempt: bool = True,
    claimed_by: str | None = None,
) -> ItemRecord | None:
    """Mark a pending (or abandoned running) item running and count the attempt (unless
    ``count_attempt`` is false: an earlier claim's attempt was spent by an outage, not the unit).
    ``claimed_by`` names the claiming process (see :mod:`stocksync.coordination.liveness`), so
    that the unit runs again as soon as that process is known dead.

    Returns None when the item is already finished, so a redelivered message does nothing.
    """
    now = dt.datetime.now(dt.UTC)
    attempts = sync_items.c.attempts + 1 if count_attempt else sync_items.c.attempts
    row = conn.execute(
        update(sync_items)
        .where(
            sync_items.c.id == item_id,
            sync_items.c.status.in_([ItemStatus.PENDING.value, ItemStatus.RUNNING.value]),
        )
        .values(
            status=ItemStatus.RUNNING.value,
            attempts=attempts,
            claimed_by=claimed_by,
            started_at=now,
            updated_at=now,
        )
        .returning(*sync_items.c)
    ).first()
    return ItemRecord.from_row(row) if row else None


def finish_item(
    conn: Connection,
    item_id: int,
    *,
    status: ItemStatus,
    rows: int = 0,
    source: str | None = None,
    error: str | None = None,
) -> None:
    """Record an item's final status."""
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        update(sync_items)
        .where(sync_items.c.id == item_id)
        .values(
            status=status.value,
            rows=rows,
            source=source,
            error=error,
            finished_at=now,
            updated_at=now,
        )
    )


def release_item(conn: Connection, item_id: int, *, error: str, refund_attempt: bool) -> None:
    """Put a running item back to pending (to be retried), noting the error."""
    values: dict[str, Any] = {
        "status": ItemStatus.PENDING.value,
        "error": error,
        "updated_at": dt.datetime.now(dt.UTC),
    }
    if refund_attempt:
        values["attempts"] = func.greatest(sync_items.c.attempts - 1, 0)
    conn.execute(update(sync_items).where(sync_items.c.id == item_id).values(**values))


def item_status_counts(conn: Connection, run_id: int) -> dict[ItemStatus, int]:
    """How many of the run's items are in each status (zeros included)."""
    rows = conn.execute(
        select(sync_items.c.status, func.count())
        .where(sync_items.c.run_id == run_id)
        .group_by(sync_items.c.status)
    ).all()
    counts = {status: 0 for status in ItemStatus}
    for status, n in rows:
        counts[ItemStatus(status)] = int(n)
    return counts


def rows_written(conn: Connection, run_id: int) -> int:
    query = select(func.coalesce(func.sum(sync_items.c.rows), 0)).where(
        sync_items.c.run_id == run_id
    )
    return int(conn.execute(query).scalar_one())


def max_fence(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(sync_runs.c.fence), 0))).scalar_one())


def update_run(
    conn: Connection,
    run_id: int,
    *,
    fence: int | None = None,
    fence_value: int | None = None,
    **values: Any,
) -> bool:
    """Update a run's columns. With ``fence``, only while that fence is the newest one issued —
    a stale lock holder cannot overwrite the state of runs. ``fence_value`` stores a new fence
    (a run taken back up). Returns whether a row changed."""
    stmt = update(sync_runs).where(sync_runs.c.id == run_id)
    if fence_value is not None:
        values["fence"] = fence_value
    if fence is not None:
        newest = select(func.max(sync_runs.c.fence)).scalar_subquery()
        stmt = stmt.where(and_(sync_runs.c.fence == fence, newest == fence))
    return conn.execute(stmt.values(**values)).rowcount > 0


def delete_run(conn: Connection, run_id: int) -> int:
    """Delete a run and its ledger (items and quarantined rows cascade); returns items deleted.
    Stored bars stay: only the record of the work goes, so a later run does that work again."""
    items = conn.execute(
        select(func.count()).select_from(sync_items).where(sync_items.c.run_id == run_id)
    ).scalar_one()
    conn.execute(sync_runs.delete().where(sync_runs.c.id == run_id))
    return int(items)
