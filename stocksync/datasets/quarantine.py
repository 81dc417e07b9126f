"""Rows a source sent that failed a check: kept with their reason, never stored as data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from stocksync.datasets.base import RejectedRow
from stocksync.storage.schema import quarantine


def _jsonable(value: object) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _as_json(row: object) -> dict[str, Any]:
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(row).items()}
    return {}


def quarantine_rows(
    conn: Connection, rejected: Sequence[RejectedRow], *, run_id: int, item_id: int, source: str
) -> int:
    """Keep ``rejected`` rows with their reasons; returns how many were kept."""
    rows = [
        {
            "run_id": run_id,
            "item_id": item_id,
            "source": source,
            "code": r.code,
            "period": r.period,
            "dataset": r.dataset,
            "trade_date": r.trade_date,
            "reason": r.reason,
            "row": _as_json(r.row),
        }
        for r in rejected
    ]
    if rows:
        conn.execute(insert(quarantine), rows)
    return len(rows)


def quarantined(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """A run's quarantined rows, oldest first."""
    query = select(quarantine).where(quarantine.c.run_id == run_id).order_by(quarantine.c.id)
    return [dict(r._mapping) for r in conn.execute(query)]
