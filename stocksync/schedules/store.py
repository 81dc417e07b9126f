"""Stored overrides of the beat schedules (``schedules``), and the runs each schedule started.

Functions take a Connection inside the caller's transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from stocksync.runs.ledger import RunRecord
from stocksync.storage.schema import schedules, sync_runs


@dataclass(frozen=True)
class ScheduleOverride:
    """What a user changed about one schedule; None means "the default"."""

    name: str
    cron: str | None
    enabled: bool
    body: dict[str, Any] | None
    updated_at: dt.datetime | None


def load_overrides(conn: Connection) -> dict[str, ScheduleOverride]:
    """Every stored override, by schedule name."""
    rows = conn.execute(select(schedules)).all()
    return {r.name: ScheduleOverride(r.name, r.cron, r.enabled, r.body, r.updated_at) for r in rows}


def save_override(
    conn: Connection, name: str, *, cron: str | None, enabled: bool, body: dict[str, Any] | None
) -> None:
    """Store (insert or replace) the override of schedule ``name``."""
    values = {
        "cron": cron,
        "enabled": enabled,
        "body": body,
        "updated_at": dt.datetime.now(dt.UTC),
    }
    stmt = insert(schedules).values(name=name, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[schedules.c.name], set_=values))


def last_run(conn: Connection, trigger: str) -> RunRecord | None:
    """The newest run recorded with ``trigger`` (e.g. ``schedule:daily``)."""
    row = conn.execute(
        select(sync_runs)
        .where(sync_runs.c.trigger == trigger)
        .order_by(sync_runs.c.id.desc())
        .limit(1)
    ).first()
    return RunRecord.from_row(row) if row else None
