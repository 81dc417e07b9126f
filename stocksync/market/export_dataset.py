"""Export the store as files DuckDB and polars query without PostgreSQL: a hive-partitioned
Parquet dataset, or one DuckDB database file.

The dataset's layout under ``out_dir``::

    bars/period=<period>/year=<yyyy>/part-0.parquet         (by trade_date)
    minute_bars/period=<period>/year=<yyyy>/part-0.parquet  (by bar_time)
    <dataset>/year=<yyyy>/part-0.parquet                    (every other dataset of TABLES,
                                                             by its date column)

Each file holds the table's columns as stored (``period`` included; ``fetched_at`` left out),
ordered by its key; numerics are float64, as in the other exports. A partition is one file,
streamed from a server-side cursor one row group per chunk and written under a temporary name
and renamed, so a reader sees the old partition or the new one, never half of either.

The rewrite rule: an export rewrites whole every year its range touches (the years of
``start`` to ``end``; every year when neither is given), each from all the rows the store has
in that year — not only those within the range — and removes the partitions of those years
the store no longer has rows for. Partitions of other years are left as they are. So the same
export run twice writes the same bytes, and a dataset stays a union of complete years.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import (
    Column,
    Engine,
    Numeric,
    Select,
    Table,
    cast,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.engine import Connection

from stocksync.errors import InvalidRequest
from stocksync.market.export_files import ByteCounter, ParquetWriter, arrow_type, open_output
from stocksync.market.export_tables import TABLES
from stocksync.runs.spec import parse_date
from stocksync.storage.schema import bars

CHUNK_ROWS = 50_000
PART_FILE = "part-0.parquet"
PERIOD_PARTITIONED = ("bars", "minute_bars")  # their directories split by period, then year


@dataclass(frozen=True)
class Dataset:
    """One exported dataset: its table, the date column it is partitioned by, its key."""

    name: str
    table: Table
    day: str
    key: tuple[str, ...]

    @property
    def by_period(self) -> bool:
        return self.name in PERIOD_PARTITIONED

    @property
    def columns(self) -> list[Column[Any]]:
        return [c for c in self.table.columns if c.name not in ("fetched_at", "id")]

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of its files (and, type for type, of its DuckDB table)."""
        return pa.schema(
            [pa.field(c.name, arrow_type(c), nullable=bool(c.nullable)) for c in self.columns]
        )


DATASETS: dict[str, Dataset] = {
    "bars": Dataset("bars", bars, "trade_date", ("code", "period", "trade_date")),
    **{name: Dataset(name, table, day, key) for name, (table, day, _, key) in TABLES.items()},
}


@dataclass(frozen=True)
class _Years:
    """The years an export rewrites: ``first``..``last``, either open when not given."""

    first: int | None
    last: int | None

    def __contains__(self, year: object) -> bool:
        return isinstance(year, int) and (self.first or year) <= year <= (self.last or year)

    def where(self, column: Column[Any]) -> list[Any]:
        bounds = []
        if self.first is not None:
            bounds.append(column >= dt.date(self.first, 1, 1))
        if self.last is not None:
            bounds.append(column < dt.date(self.last + 1, 1, 1))
        return bounds


def parse_request(
    datasets: Sequence[str] | None, start: str | dt.date | None, end: str | dt.date | None
) -> tuple[list[Dataset], _Years]:
    names = list(DATASETS) if datasets is None else list(dict.fromkeys(datasets))
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise InvalidRequest(f"dataset(s) {', '.join(unknown) or '(none)'} cannot be exported; "
                             f"use {', '.join(DATASETS)}", field="datasets")  # fmt: skip
    first = None if start is None else parse_date(start, "start")
    last = None if end is None else parse_date(end, "end")
    if first and last and first > last:
        raise InvalidRequest(f"start {first} is after end {last}; swap them", field="start")
    chosen = [DATASETS[n] for n in names]
    return chosen, _Years(first.year if first else None, last.year if last else None)


@dataclass(frozen=True)
class _Partition:
    dataset: Dataset
    period: str | None
    year: int

    @property
    def path(self) -> str:
        """Its directory relative to the dataset root, e.g. ``bars/period=daily/year=2024``."""
        period = f"period={self.period}/" if self.period is not None else ""
        return f"{self.dataset.name}/{period}year={self.year}"

    def query(self) -> Select[Any]:
        """Its rows, ordered by the dataset's key; numerics as float8 (PostgreSQL's correctly
        rounded conversion)."""
        table = self.dataset.table
        columns = [cast(c, DOUBLE_PRECISION).label(c.name) if isinstance(c.type, Numeric) else c
                   for c in self.dataset.columns]  # fmt: skip
        query = select(*columns).where(*_Years(self.year, self.year).where(self._day))
        if self.period is not None:
            query = query.where(table.c.period == self.period)
        return query.order_by(*(table.c[k] for k in self.dataset.key))

    @property
    def _day(self) -> Column[Any]:
        return self.dataset.table.c[self.dataset.day]


def stored_partitions(conn: Connection, dataset: Dataset, years: _Years) -> list[_Partition]:
    """Every partition of ``dataset`` in ``years``, from the first to the last year it has rows
    of (per period, for the datasets split by period)."""
    table, day = dataset.table, dataset.table.c[dataset.day]
    period = table.c.period if dataset.by_period else None
    groups = [period] if period is not None else []
    spans = conn.execute(select(*groups, func.min(day), func.max(day))
                         .where(*years.where(day)).group_by(*groups)).all()  # fmt: skip
    found = []
    for *group, first, last in spans:
        if first is None:
            continue
        which = group[0] if group else None
        found += [_Partition(dataset, which, y) for y in range(first.year, last.year + 1)]
    return sorted(found, key=lambda p: p.path)


def _write_partition(
    conn: Connection, part: _Partition, root: Path, chunk_rows: int
) -> tuple[int, int]:
    """Write one partition from the store, replacing the old one at once; (rows, bytes). A
    partition the store has no rows for is removed instead: (0, 0)."""
    directory = root / part.path
    result = conn.execute(part.query().execution_options(yield_per=chunk_rows))
    chunks = result.partitions()
    first = next(chunks, None)
    if first is None:
        result.close()
        _remove_partition(directory)
        return 0, 0
    directory.mkdir(parents=True, exist_ok=True)
    schema = part.dataset.schema
    meta = {"dataset": part.dataset.name, "period": part.period or "", "year": str(part.year)}
    rows = 0
    with open_output(directory / PART_FILE) as handle:
        counter = ByteCounter(handle)
        writer = ParquetWriter(counter, meta, schema)
        try:
            for chunk in _chain(first, chunks):
                writer.write(chunk_columns(schema, chunk))
                rows += len(chunk)
        except BaseException:
            with suppress(Exception):
                writer.close()
            raise
        writer.close()
        counter.flush()
    for stale in directory.glob("part-*.parquet"):  # left by another layout; the new file rules
        if stale.name != PART_FILE:
            stale.unlink(missing_ok=True)
    return rows, counter.count


def _chain(first: Sequence[Any], rest: Iterator[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    yield first
    yield from rest


def chunk_columns(schema: pa.Schema, chunk: Sequence[Any]) -> dict[str, list[Any]]:
    values = zip(*chunk, strict=True)
    return {name: list(column) for name, column in zip(schema.names, values, strict=True)}


def _remove_partition(directory: Path) -> bool:
    """Remove a partition's files (only ours) and its directory when that leaves it empty;
    whether there was anything to remove."""
    files = list(directory.glob("part-*.parquet")) if directory.is_dir() else []
    for path in files:
        path.unlink(missing_ok=True)
    for empty in (directory, directory.parent):
        with suppress(OSError):  # not empty, or not there: leave it
            if empty.name.startswith(("year=", "period=")):
                empty.rmdir()
    return bool(files)


def _existing_partitions(root: Path, dataset: Dataset, years: _Years) -> list[_Partition]:
    """The partitions of ``dataset`` already under ``root`` in ``years``."""
    pattern = "period=*/year=*" if dataset.by_period else "year=*"
    found = []
    for directory in (root / dataset.name).glob(pattern):
        period = directory.parent.name.removeprefix("period=") if dataset.by_period else None
        text = directory.name.removeprefix("year=")
        if directory.is_dir() and text.isdigit() and int(text) in years:
            found.append(_Partition(dataset, period, int(text)))
    return found


def export_parquet_dataset(
    engine: Engine,
    out_dir: Path | str,
    *,
    datasets: Sequence[str] | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, Any]:
    """Write ``datasets`` (all of :data:`DATASETS` by default) as a hive-partitioned Parquet
    dataset under ``out_dir`` (created if missing), rewriting whole every year the range
    [start, end] touches (see the module's docstring), all from one snapshot of the store.

    Returns what was written: per dataset its rows, files, bytes, the partitions written and
    those removed; the totals; and the seconds taken. InvalidRequest for an unknown dataset,
    a bad date, or an ``out_dir`` that is not a directory."""
    chosen, years = parse_request(datasets, start, end)
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise InvalidRequest(f"{root} is not a directory; name a directory to write", field="out")
    root.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    report: dict[str, Any] = {}
    snapshot = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**snapshot) as conn, conn.begin():
        for dataset in chosen:
            rows = files = size = 0
            written, removed = [], []
            stored = stored_partitions(conn, dataset, years)
            for part in stored:
                count, nbytes = _write_partition(conn, part, root, chunk_rows)
                if count:
                    rows, files, size = rows + count, files + 1, size + nbytes
                    written.append(part.path)
                else:
                    removed.append(part.path)
            kept = {p.path for p in stored}
            for part in _existing_partitions(root, dataset, years):
                if part.path not in kept and _remove_partition(root / part.path):
                    removed.append(part.path)
            report[dataset.name] = {
                "rows": rows,
                "files": files,
                "bytes": size,
                "partitions": written,
                "removed": sorted(set(removed)),
            }
    return summary("parquet-dataset", root, years, report, began)


def summary(
    fmt: str, where: Path, years: _Years, report: dict[str, Any], began: float
) -> dict[str, Any]:
    return {
        "format": fmt,
        "path": str(where),
        "years": [years.first, years.last],
        "datasets": report,
        "rows": sum(r["rows"] for r in report.values()),
        "files": sum(r.get("files", 0) for r in report.values()),
        "bytes": sum(r.get("bytes", 0) for r in report.values()),
        "seconds": round(time.perf_counter() - began, 3),
    }


__all__ = [
    "DATASETS",
    "Dataset",
    "export_parquet_dataset",
]
