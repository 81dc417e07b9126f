"""Idempotent bar ingest: COPY into a session-local staging table, then one merge that inserts
new rows and updates only rows whose values changed (an unchanged rerun writes nothing)."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

from stocksync.domain import Bar

BAR_COLUMNS = (
    "code", "period", "trade_date", "open", "high", "low", "close", "pre_close", "volume",
    "amount", "turnover_pct", "pct_chg", "trade_status", "is_st", "source", "fetched_at",
)  # fmt: skip
_VALUE_COLUMNS = BAR_COLUMNS[3:14]
_STAGE = "bars_stage"

_CREATE_STAGE = f"""
CREATE TEMP TABLE IF NOT EXISTS {_STAGE}
    (LIKE bars INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""
_MERGE = f"""
INSERT INTO bars ({", ".join(BAR_COLUMNS)})
SELECT {", ".join(BAR_COLUMNS)} FROM {_STAGE}
ON CONFLICT (code, period, trade_date) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in (*_VALUE_COLUMNS, "source", "fetched_at"))}
WHERE ({", ".join(f"bars.{c}" for c in _VALUE_COLUMNS)})
    IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _VALUE_COLUMNS)})
"""


def _text(value: object) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return r"\N" if math.isnan(value) else repr(value)
    return str(value)


def _copy_buffer(bars: Iterable[Bar], source: str, fetched_at: dt.datetime) -> io.StringIO:
    buf = io.StringIO()
    stamp = fetched_at.isoformat()
    write = buf.write
    for b in bars:
        write(
            "\t".join(
                (
                    b.code,
                    b.period.value,
                    b.trade_date.isoformat(),
                    _text(b.open),
                    _text(b.high),
                    _text(b.low),
                    _text(b.close),
                    _text(b.pre_close),
                    str(int(b.volume)),
                    _text(b.amount),
                    _text(b.turnover_pct),
                    _text(b.pct_chg),
                    str(int(b.trade_status)),
                    _text(b.is_st),
                    source,
                    stamp,
                )
            )
        )
        write("\n")
    buf.seek(0)
    return buf


def write_bars(
    conn: Connection, bars: Sequence[Bar], *, source: str, fetched_at: dt.datetime | None = None
) -> int:
    """Upsert ``bars`` on (code, period, trade_date) inside the caller's transaction.

    Returns how many rows were inserted or changed. Rows identical to the stored ones are left
    untouched. ``bars`` must not contain the same key twice (validation removes duplicates).
    """
    if not bars:
        return 0
    fetched_at = fetched_at or dt.datetime.now(dt.UTC)
    conn.exec_driver_sql(_CREATE_STAGE)
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(f"DELETE FROM {_STAGE}")  # empty unless called twice in one transaction
        cur.copy_expert(
            f"COPY {_STAGE} ({', '.join(BAR_COLUMNS)}) FROM STDIN",
            _copy_buffer(bars, source, fetched_at),
        )
        cur.execute(_MERGE)
        return int(cur.rowcount)
