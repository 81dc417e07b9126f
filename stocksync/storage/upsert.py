"""The one ingest path for fact tables: COPY rows into a session-local staging table, then one
merge that inserts new rows and updates only rows whose compared values changed (an unchanged
rerun writes nothing and does not bloat the table)."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

NULL = r"\N"


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: object) -> str:
    """``value`` in COPY's text format (a string's backslashes, tabs and line breaks escaped)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return NULL if not math.isfinite(value) else repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPES)
    return text


def copy_merge(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    keys: Sequence[str],
    compared: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    before_merge: Sequence[str] = (),
    lines: Iterable[str] | None = None,
) -> int:
    """Upsert ``rows`` (values in ``columns`` order) into ``table`` inside the caller's
    transaction; returns how many rows were inserted or changed. Rows must not repeat a key.
    ``before_merge``: statements run once the rows are in the staging table ``<table>_stage``
    (to record what the merge is about to change). ``lines``: the rows already in COPY's text
    format, one line each ending in a newline (a dataset whose values need no escaping formats
    them itself, much faster than value by value); ``rows`` is then ignored."""
    buf = io.StringIO()
    if lines is not None:
        buf.writelines(lines)
    else:
        for row in rows:
            buf.write("\t".join(map(copy_text, row)))
            buf.write("\n")
    if buf.tell() == 0:
        return 0
    buf.seek(0)
    stage = f"{table}_stage"
    cols = ", ".join(columns)
    updated = [c for c in columns if c not in keys]
    merge = (
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
        + f" WHERE ({', '.join(f'{table}.{c}' for c in compared)})"
        + f" IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in compared)})"
    )
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(f"DELETE FROM {stage}")  # empty unless called twice in one transaction
        cur.copy_expert(f"COPY {stage} ({cols}) FROM STDIN", buf)
        for statement in before_merge:
            cur.execute(statement)
        cur.execute(merge)
        return int(cur.rowcount)
