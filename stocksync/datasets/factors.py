"""Idempotent ingest of adjustment factors and daily valuations (see
:mod:`stocksync.storage.upsert`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import Connection

from stocksync.domain import AdjFactor, Valuation
from stocksync.storage.upsert import copy_merge


def sound_factors(factors: Sequence[AdjFactor]) -> list[AdjFactor]:
    """Factors that can be stored: positive, finite, one per (code, date)."""
    seen: dict[tuple[str, object], AdjFactor] = {}
    for f in factors:
        if math.isfinite(f.factor) and f.factor > 0:
            seen.setdefault((f.code, f.trade_date), f)
    return list(seen.values())


def write_factors(conn: Connection, factors: Sequence[AdjFactor], *, source: str) -> int:
    """Upsert factors in the caller's transaction; returns rows inserted or changed."""
    rows = ((f.code, f.trade_date, f.factor, source) for f in factors)
    columns = ("code", "trade_date", "factor", "source")
    return copy_merge(conn, "adj_factors", columns, columns[:2], ("factor",), rows)


def write_valuations(conn: Connection, items: Sequence[Valuation], *, source: str) -> int:
    """Upsert daily valuations (one per code and date) in the caller's transaction."""
    unique = {(v.code, v.trade_date): v for v in items}.values()
    rows = ((v.code, v.trade_date, v.pe_ttm, v.pb, v.total_mv, v.circ_mv, source) for v in unique)
    columns = ("code", "trade_date", "pe_ttm", "pb", "total_mv", "circ_mv", "source")
    return copy_merge(conn, "valuations", columns, columns[:2], columns[2:6], rows)
