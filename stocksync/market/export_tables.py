"""Export a stored dataset other than the stocks' bars (index bars and members, factors,
valuations, corporate actions, profiles, financials) to CSV or Parquet: the table's columns as
stored, ordered by its key, streamed in chunks from one snapshot like the bars' export."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
from sqlalchemy import (
    DateTime,
    Engine,
    Numeric,
    Table,
    cast,
    select,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION

from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.market.export import ExportResult, parse_export
from stocksync.market.export_files import ByteCounter, arrow_type, open_output, open_writer
from stocksync.market.reading import parse_choice
from stocksync.storage.schema import (
    adj_factors,
    corporate_actions,
    financials,
    index_bars,
    index_members,
    minute_bars,
    stock_profiles,
    valuations,
)

# dataset -> (table, its date column, its code column, the key it is ordered by)
TABLES: dict[str, tuple[Table, str, str, tuple[str, ...]]] = {
    "index_bars": (index_bars, "trade_date", "code", ("code", "trade_date")),
    "index_members": (index_members, "trade_date", "index_code",
                      ("index_code", "trade_date", "code")),
    "adj_factors": (adj_factors, "trade_date", "code", ("code", "trade_date")),
    "valuations": (valuations, "trade_date", "code", ("code", "trade_date")),
    "corporate_actions": (corporate_actions, "ex_date", "code", ("code", "ex_date")),
    "profiles": (stock_profiles, "valid_from", "code", ("code", "valid_from", "source")),
    "financials": (financials, "announce_date", "code",
                   ("code", "report_period", "announce_date")),
    "minute_bars": (minute_bars, "bar_time", "code", ("code", "bar_time")),
}  # fmt: skip
CHUNK_ROWS = 50_000


def export_table(
    engine: Engine,
    out: BinaryIO | Path | str,
    *,
    dataset: str,
    fmt: str | None,
    period: str | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    codes: Sequence[str] | None = None,
) -> ExportResult:
    """Write the stored rows of ``dataset`` (dated within [start, end] by its date column, of
    ``codes`` — index codes for index datasets — when given) to ``out``."""
    if dataset not in TABLES:
        names = ", ".join(["bars", *TABLES])
        raise InvalidRequest(f"dataset {dataset!r} cannot be exported; use {names}",
                             field="dataset")  # fmt: skip
    table, day, code, key = TABLES[dataset]
    index = dataset.startswith("index_")
    request = parse_export(fmt=fmt, start=start, end=end, codes=None if index else codes)
    default = Period.MIN5 if dataset == "minute_bars" else Period.DAILY
    chosen = parse_choice(period, Period, "period", default)
    columns = [c for c in table.columns if c.name not in ("fetched_at", "id")]
    schema = pa.schema([(c.name, arrow_type(c)) for c in columns])
    query = select(*(cast(c, DOUBLE_PRECISION).label(c.name) if isinstance(c.type, Numeric)
                     else c for c in columns)).order_by(*(table.c[k] for k in key))  # fmt: skip
    if "period" in table.c:
        query = query.where(table.c.period == chosen.value)
    if request.start:
        query = query.where(table.c[day] >= request.start)
    if request.end:
        if isinstance(table.c[day].type, DateTime):  # a bar of the last day ends after midnight
            query = query.where(table.c[day] < request.end + dt.timedelta(days=1))
        else:
            query = query.where(table.c[day] <= request.end)
    wanted = codes if index else request.codes
    if wanted is not None:
        query = query.where(table.c[code].in_([c.upper() for c in wanted]))
    began = time.perf_counter()
    meta = {"dataset": dataset, "start": str(request.start or ""), "end": str(request.end or "")}

    def write(sink: BinaryIO) -> tuple[int, int, int]:
        counter = ByteCounter(sink)
        writer = open_writer(request.fmt.value, counter, meta, schema)
        rows = chunks = 0
        snapshot = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        with engine.connect().execution_options(**snapshot) as conn, conn.begin():
            result = conn.execute(query.execution_options(yield_per=CHUNK_ROWS))
            for part in result.partitions():
                writer.write({n: list(v) for n, v in zip(schema.names, zip(*part, strict=True),
                                                         strict=True)})  # fmt: skip
                rows, chunks = rows + len(part), chunks + 1
        writer.close()
        counter.flush()
        return rows, chunks, counter.count

    if isinstance(out, str | Path):
        with open_output(Path(out)) as handle:
            rows, chunks, size = write(handle)
        where: str | None = str(out)
    else:
        rows, chunks, size = write(out)
        where = None
    return ExportResult(rows, chunks, request.fmt.value, chosen.value if "period" in table.c
                        else "", "none", where, size,
                        round(time.perf_counter() - began, 3))  # fmt: skip
