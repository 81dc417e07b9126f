"""Idempotent ingest of adjustment factors (COPY into a session-local stage, then one merge that
touches only new or changed rows)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from sqlalchemy import Connection

from stocksync.domain import AdjFactor

_STAGE = "adj_factors_stage"
_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGE}
    (LIKE adj_factors INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""
_MERGE = f"""
INSERT INTO adj_factors (code, trade_date, factor, source)
SELECT code, trade_date, factor, source FROM {_STAGE}
ON CONFLICT (code, trade_date) DO UPDATE SET factor = EXCLUDED.factor, source = EXCLUDED.source
WHERE adj_factors.factor IS DISTINCT FROM EXCLUDED.factor
"""


def sound_factors(factors: Sequence[AdjFactor]) -> list[AdjFactor]:
    """Factors that can be stored: positive, finite, one per (code, date)."""
    seen: dict[tuple[str, object], AdjFactor] = {}
    for f in factors:
        if math.isfinite(f.factor) and f.factor > 0:
            seen.setdefault((f.code, f.trade_date), f)
    return list(seen.values())


def write_factors(conn: Connection, factors: Sequence[AdjFactor], *, source: str) -> int:
    """Upsert factors in the caller's transaction; returns rows inserted or changed."""
    if not factors:
        return 0
    buf = io.StringIO()
    for f in factors:
        buf.write(f"{f.code}\t{f.trade_date.isoformat()}\t{f.factor!r}\t{source}\n")
    buf.seek(0)
    conn.exec_driver_sql(_CREATE_STAGE)
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(f"DELETE FROM {_STAGE}")
        cur.copy_expert(f"COPY {_STAGE} (code, trade_date, factor, source) FROM STDIN", buf)
        cur.execute(_MERGE)
        return int(cur.rowcount)
