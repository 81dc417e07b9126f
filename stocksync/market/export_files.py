"""The files an export writes: the column layout, the CSV and Parquet writers (fed one chunk of
columns at a time), and the write-beside-then-rename that makes a file appear whole or not at all.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    SmallInteger,
)

from stocksync.errors import InvalidRequest

# The export's columns, in order, with their Parquet types. Prices, amount, turnover, pct_chg and
# factor are numeric in PostgreSQL and float64 here (prices keep their 4 decimals exactly as the
# nearest double); volume is int64 shares; amount is yuan. ``factor`` is the day's stored
# hfq-style factor (empty when none is stored), whatever the adjustment asked for.
SCHEMA = pa.schema(
    [
        pa.field("code", pa.string(), nullable=False),
        pa.field("trade_date", pa.date32(), nullable=False),
        pa.field("period", pa.string(), nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("pre_close", pa.float64()),
        pa.field("volume", pa.int64(), nullable=False),
        pa.field("amount", pa.float64(), nullable=False),
        pa.field("turnover_pct", pa.float64()),
        pa.field("pct_chg", pa.float64()),
        pa.field("trade_status", pa.int16(), nullable=False),
        pa.field("is_st", pa.bool_(), nullable=False),
        pa.field("factor", pa.float64()),
        pa.field("source", pa.string(), nullable=False),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)


class ChunkWriter(Protocol):
    def write(self, columns: dict[str, list[Any]]) -> None: ...

    def close(self) -> None: ...


class ByteCounter(io.RawIOBase):
    """A write-only stream that passes bytes on to ``sink`` and counts them."""

    def __init__(self, sink: BinaryIO) -> None:
        super().__init__()
        self.sink = sink
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        self.sink.write(data)
        self.count += size
        return size

    def tell(self) -> int:
        return self.count

    def flush(self) -> None:
        self.sink.flush()


class CsvWriter:
    """UTF-8 CSV with a header row, ``\\n`` line ends, ISO dates, ``true``/``false`` for
    ``is_st`` and an empty field for a missing value."""

    def __init__(self, sink: io.RawIOBase, schema: pa.Schema = SCHEMA) -> None:
        self.buffer = io.BufferedWriter(sink, buffer_size=1 << 16)
        self.text = io.TextIOWrapper(self.buffer, encoding="utf-8", newline="")
        self.csv = csv.writer(self.text, lineterminator="\n")
        self.names = tuple(schema.names)
        self.flags = [f.name for f in schema if pa.types.is_boolean(f.type)]
        self.csv.writerow(self.names)

    def write(self, columns: dict[str, list[Any]]) -> None:
        for name in self.flags:
            columns[name] = ["" if f is None else "true" if f else "false" for f in columns[name]]
        self.csv.writerows(zip(*(columns[name] for name in self.names), strict=True))

    def close(self) -> None:
        self.text.flush()
        self.text.detach()
        self.buffer.detach()  # flushes; the sink belongs to the caller


class ParquetWriter:
    """Parquet (snappy) with :data:`SCHEMA`, one row group per chunk, and the export's
    parameters as ``stocksync.*`` key-value metadata."""

    def __init__(
        self, sink: io.RawIOBase, metadata: dict[str, str], schema: pa.Schema = SCHEMA
    ) -> None:
        tagged = {f"stocksync.{key}": value for key, value in metadata.items()}
        self.schema = schema.with_metadata(tagged)
        self.writer = pq.ParquetWriter(sink, self.schema)

    def write(self, columns: dict[str, list[Any]]) -> None:
        table = pa.table(columns, schema=self.schema)
        self.writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def close(self) -> None:
        self.writer.close()


def open_writer(
    fmt: str, sink: io.RawIOBase, metadata: dict[str, str], schema: pa.Schema = SCHEMA
) -> ChunkWriter:
    """A writer of ``fmt`` (csv or parquet) of ``schema``'s columns (the bars' by default) on
    ``sink``; the header is written at once."""
    if fmt == "parquet":
        return ParquetWriter(sink, metadata, schema)
    return CsvWriter(sink, schema)


@contextmanager
def open_output(path: Path) -> Iterator[BinaryIO]:
    """An open binary file that becomes ``path`` only when the block ends without error. It is
    written as a hidden ``.NAME.XXXX.part`` file beside the file (same file system, so the
    rename is atomic) and removed on any error or interrupt; through a symlink, the file it
    points to is replaced and the link kept. A ``path`` that is not a regular file (/dev/null,
    a FIFO, /dev/stdout) is written straight through: there is nothing to rename."""
    try:
        mode: int | None = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise InvalidRequest(f"{path} is a directory; name a file to write", field="out")
    if mode is not None and not stat.S_ISREG(mode):
        with open(path, "wb") as handle:
            yield handle
        return
    target = path.resolve()
    if not target.parent.is_dir():
        raise InvalidRequest(f"directory {target.parent} does not exist", field="out")
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        with open(partial, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def arrow_type(column: Column[Any]) -> pa.DataType:
    """The Arrow type a stored column is exported as (numerics as float64, as PostgreSQL's
    float8 cast reads them)."""
    kind = column.type
    if isinstance(kind, DateTime):
        return pa.timestamp("us")
    if isinstance(kind, Date):
        return pa.date32()
    if isinstance(kind, Boolean):
        return pa.bool_()
    if isinstance(kind, SmallInteger):
        return pa.int16()
    if isinstance(kind, BigInteger):
        return pa.int64()
    if isinstance(kind, Integer):
        return pa.int32()
    if isinstance(kind, Numeric | Float):
        return pa.float64()
    return pa.string()
