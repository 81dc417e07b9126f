"""Who claimed which unit: the ledger's side of recovery from dead worker processes (see
:mod:`stocksync.runs.recovery`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import Connection, case, func, select, update

from stocksync.domain import ItemStatus
from stocksync.storage.schema import sync_items


def running_claimers(conn: Connection, run_id: int) -> list[str]:
    """The processes that claimed the run's items still running."""
    query = (
        select(sync_items.c.claimed_by)
        .distinct()
        .where(
            sync_items.c.run_id == run_id,
            sync_items.c.status == ItemStatus.RUNNING.value,
            sync_items.c.claimed_by.is_not(None),
        )
    )
    return [str(c) for c in conn.execute(query).scalars()]


def unclaimed_among(conn: Connection, run_id: int, item_ids: Collection[int]) -> list[int]:
    """Those of ``item_ids`` that are the run's items pending and never claimed by a worker
    process (an item put back to pending after a claim has its own message: not these)."""
    if not item_ids:
        return []
    query = select(sync_items.c.id).where(
        sync_items.c.run_id == run_id,
        sync_items.c.status == ItemStatus.PENDING.value,
        sync_items.c.claimed_by.is_(None),
        sync_items.c.id.in_(sorted(item_ids)),
    )
    return sorted(int(i) for i in conn.execute(query).scalars())


def release_dead_claims(conn: Connection, run_id: int, claimers: Collection[str]) -> list[int]:
    """Put the run's items still running under ``claimers`` (processes known dead) back to
    pending, and return their ids. An item whose claim was taken over since is left alone.

    The first interruption of an item refunds the attempt its dead claim counted; later ones
    keep it, so a unit that itself kills its worker still runs out of attempts."""
    if not claimers:
        return []
    refund = case(
        (sync_items.c.interruptions == 0, func.greatest(sync_items.c.attempts - 1, 0)),
        else_=sync_items.c.attempts,
    )
    note = func.concat("interrupted: worker process ", sync_items.c.claimed_by, " died running it")
    stmt = (
        update(sync_items)
        .where(
            sync_items.c.run_id == run_id,
            sync_items.c.status == ItemStatus.RUNNING.value,
            sync_items.c.claimed_by.in_(sorted(claimers)),
        )
        .values(
            status=ItemStatus.PENDING.value,
            attempts=refund,
            interruptions=sync_items.c.interruptions + 1,
            error=note,
            updated_at=dt.datetime.now(dt.UTC),
        )
        .returning(sync_items.c.id)
    )
    return sorted(int(i) for i in conn.execute(stmt).scalars())
