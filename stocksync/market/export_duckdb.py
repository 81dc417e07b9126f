"""Export the store as one DuckDB database file: a table per dataset with the columns and types
of its Parquet dataset (:mod:`stocksync.market.export_dataset`), straight from PostgreSQL or
from a Parquet dataset already written (no PostgreSQL needed). The file is built beside its
target and renamed over it once complete."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Engine

from stocksync.errors import InvalidRequest
from stocksync.market.export_dataset import (
    CHUNK_ROWS,
    Dataset,
    chunk_columns,
    parse_request,
    stored_partitions,
    summary,
)

_DUCK_TYPES = {
    pa.string(): "VARCHAR",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
    pa.bool_(): "BOOLEAN",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
}


def _create_table(con: duckdb.DuckDBPyConnection, dataset: Dataset) -> None:
    columns = ", ".join(
        f'"{f.name}" {_DUCK_TYPES[f.type]}{"" if f.nullable else " NOT NULL"}'
        for f in dataset.schema
    )
    con.execute(f'CREATE TABLE "{dataset.name}" ({columns})')


def export_duckdb(
    engine: Engine,
    out_file: Path | str,
    *,
    datasets: Sequence[str] | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Write ``datasets`` (all by default) from the store into a new DuckDB database file at
    ``out_file``, one table per dataset with its dataset's columns and types, holding the same
    rows the Parquet dataset of the same range would: every year the range touches, whole.
    Streamed chunk by chunk from one snapshot; the file replaces ``out_file`` only when complete.
    Returns rows per dataset, the file's bytes, and the seconds taken."""
    chosen, years = parse_request(datasets, start, end)
    began = time.perf_counter()
    report: dict[str, Any] = {}

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        snapshot = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        with engine.connect().execution_options(**snapshot) as conn, conn.begin():
            for dataset in chosen:
                _create_table(con, dataset)
                rows = 0
                for part in stored_partitions(conn, dataset, years):
                    query = part.query().execution_options(yield_per=chunk_rows)
                    for chunk in conn.execute(query).partitions():
                        columns = chunk_columns(dataset.schema, chunk)
                        batch = pa.table(columns, schema=dataset.schema)
                        con.register("stocksync_chunk", batch)
                        con.execute(f'INSERT INTO "{dataset.name}" SELECT * FROM stocksync_chunk')
                        con.unregister("stocksync_chunk")
                        rows += len(chunk)
                report[dataset.name] = {"rows": rows}

    target = _build_duckdb(Path(out_file), fill)
    result = summary("duckdb", target, years, report, began)
    result.update(files=1, bytes=target.stat().st_size)
    return result


def duckdb_from_dataset(
    dataset_dir: Path | str, out_file: Path | str, *, datasets: Sequence[str] | None = None
) -> dict[str, Any]:
    """Build a DuckDB database file at ``out_file`` from a Parquet dataset written by
    :func:`export_parquet_dataset` (no PostgreSQL needed): one table per dataset, of the same
    columns and types, empty when the dataset has no files. Returns rows per dataset."""
    chosen, years = parse_request(datasets, None, None)
    root = Path(dataset_dir)
    if not root.is_dir():
        raise InvalidRequest(f"{root} is not a directory of a Parquet dataset", field="dataset")
    began = time.perf_counter()
    report: dict[str, Any] = {}

    def fill(con: duckdb.DuckDBPyConnection) -> None:
        for dataset in chosen:
            _create_table(con, dataset)
            if any((root / dataset.name).glob("**/part-*.parquet")):
                names = ", ".join(f'"{n}"' for n in dataset.schema.names)
                glob = str(root / dataset.name / "**" / "part-*.parquet")
                con.execute(f'INSERT INTO "{dataset.name}" SELECT {names} FROM '
                            "read_parquet(?, hive_partitioning = true)", [glob])  # fmt: skip
            count = con.execute(f'SELECT count(*) FROM "{dataset.name}"').fetchone()
            report[dataset.name] = {"rows": count[0] if count else 0}

    target = _build_duckdb(Path(out_file), fill)
    result = summary("duckdb", target, years, report, began)
    result.update(files=1, bytes=target.stat().st_size)
    return result


def _build_duckdb(out: Path, fill: Callable[[duckdb.DuckDBPyConnection], None]) -> Path:
    """Build a database with ``fill(connection)`` beside ``out`` and rename it over ``out``
    once closed (checkpointed); nothing is left behind on error."""
    target = out.resolve()
    if target.is_dir():
        raise InvalidRequest(f"{out} is a directory; name a file to write", field="out")
    if not target.parent.is_dir():
        raise InvalidRequest(f"directory {target.parent} does not exist", field="out")
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        con = duckdb.connect(str(partial))
        try:
            fill(con)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        Path(f"{partial}.wal").unlink(missing_ok=True)
    return target
