"""Export stored bars to CSV or Parquet, streamed from one consistent snapshot of the database.

Rows are read through a server-side cursor and written chunk by chunk (a Parquet row group per
chunk), so memory stays bounded by the chunk size however many rows are exported. qfq and hfq
are applied exactly as :func:`stocksync.market.reading.read_bars` applies them. A file is
written under a temporary name beside it and renamed at the end: a failed or killed export
never leaves a partial file under the name asked for.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, Numeric, Select, cast, func, select
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.engine import Connection

from stocksync.codes import normalize_code
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.market.export_files import COLUMNS, ByteCounter, open_output, open_writer
from stocksync.market.reading import (
    Adjust,
    adjusted_price,
    missing_factors,
    parse_choice,
    price_scale,
)
from stocksync.runs.spec import parse_date
from stocksync.storage.schema import adj_factors, bars

CHUNK_ROWS = 50_000
PRICE_COLUMNS = ("open", "high", "low", "close", "pre_close")


class ExportFormat(StrEnum):
    """The file formats an export writes."""

    CSV = "csv"
    PARQUET = "parquet"


@dataclass(frozen=True)
class ExportRequest:
    """A validated export: bars of one period, optionally limited to dates and codes."""

    fmt: ExportFormat
    period: Period
    adjust: Adjust
    start: dt.date | None
    end: dt.date | None
    codes: tuple[str, ...] | None


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: rows, chunks (Parquet row groups), bytes, where, and how long."""

    rows: int
    chunks: int
    format: str
    period: str
    adjust: str
    path: str | None
    bytes: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (the CLI's ``--json`` summary)."""
        return asdict(self)


def parse_export(
    *,
    fmt: str | None,
    period: str | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    codes: Sequence[str] | None = None,
    adjust: str | None = None,
) -> ExportRequest:
    """Validate an export's parameters; InvalidRequest naming the field that is wrong."""
    if not fmt:
        raise InvalidRequest("format is required: csv or parquet", field="format")
    first = None if start is None else parse_date(start, "start")
    last = None if end is None else parse_date(end, "end")
    if first and last and first > last:
        raise InvalidRequest(f"start {first} is after end {last}; swap them", field="start")
    canonical = None
    if codes is not None:
        canonical = tuple(dict.fromkeys(normalize_code(c) for c in codes))
        if not canonical:
            raise InvalidRequest(
                "symbols is empty; leave it out to export every stock", field="symbols"
            )
    return ExportRequest(
        fmt=parse_choice(fmt, ExportFormat, "format", ExportFormat.CSV),
        period=parse_choice(period, Period, "period", Period.DAILY),
        adjust=parse_choice(adjust, Adjust, "adjust", Adjust.NONE),
        start=first,
        end=last,
        codes=canonical,
    )


def export_bars(
    engine: Engine,
    out: BinaryIO | Path | str,
    *,
    fmt: str | None,
    period: str | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    codes: Sequence[str] | None = None,
    adjust: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> ExportResult:
    """Write the stored bars asked for to ``out`` (a path, replaced atomically, or an open binary
    stream), ordered by code and date, in the columns of :data:`COLUMNS`. Dates left out mean
    everything stored. InvalidRequest for bad parameters, or when qfq/hfq needs factors that
    are not stored (checked before anything is written)."""
    request = parse_export(fmt=fmt, period=period, start=start, end=end, codes=codes, adjust=adjust)
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    began = time.perf_counter()
    if isinstance(out, str | Path):
        out = Path(out)
        with open_output(out) as handle:
            rows, chunks, size = _export(engine, request, handle, chunk_rows)
        where: str | None = str(out)
    else:
        rows, chunks, size = _export(engine, request, out, chunk_rows)
        where = None
    return ExportResult(
        rows=rows,
        chunks=chunks,
        format=request.fmt.value,
        period=request.period.value,
        adjust=request.adjust.value,
        path=where,
        bytes=size,
        seconds=round(time.perf_counter() - began, 3),
    )


def _export(
    engine: Engine, request: ExportRequest, sink: BinaryIO, chunk_rows: int
) -> tuple[int, int, int]:
    counter = ByteCounter(sink)
    rows = chunks = 0
    snapshot = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**snapshot) as conn, conn.begin():
        latest = _latest_factors(conn, request)
        writer = open_writer(request.fmt.value, counter, _metadata(request))
        result = conn.execute(_query(request).execution_options(yield_per=chunk_rows))
        try:
            for part in result.partitions():
                writer.write(_columns(part, request.adjust, latest))
                rows += len(part)
                chunks += 1
        except BaseException:
            with suppress(Exception):  # release the writer; the error that matters is this one
                writer.close()
            raise
        writer.close()
    counter.flush()
    return rows, chunks, counter.count


def _filters(request: ExportRequest) -> list[Any]:
    where = [bars.c.period == request.period.value]
    if request.start:
        where.append(bars.c.trade_date >= request.start)
    if request.end:
        where.append(bars.c.trade_date <= request.end)
    if request.codes is not None:
        where.append(bars.c.code.in_(request.codes))
    return where


def _joined(*columns: Any) -> Select[Any]:
    on = (adj_factors.c.code == bars.c.code) & (adj_factors.c.trade_date == bars.c.trade_date)
    return select(*columns).select_from(bars.join(adj_factors, on, isouter=True))


def _query(request: ExportRequest) -> Select[Any]:
    """The rows in export order. Numerics arrive as float8 (PostgreSQL's correctly rounded
    conversion, the same double as ``float(Decimal)``) except prices and factors that are to be
    adjusted, which stay Decimal so that adjusting rounds exactly as ``read_bars`` does."""
    exact = set() if request.adjust is Adjust.NONE else {*PRICE_COLUMNS, "factor"}
    columns = []
    for name in COLUMNS:
        column = adj_factors.c.factor if name == "factor" else bars.c[name]
        numeric = isinstance(column.type, Numeric) and name not in exact
        columns.append(cast(column, DOUBLE_PRECISION).label(name) if numeric else column)
    return _joined(*columns).where(*_filters(request)).order_by(bars.c.code, bars.c.trade_date)


def _latest_factors(conn: Connection, request: ExportRequest) -> dict[str, Decimal]:
    """Each stock's latest stored factor (qfq's base), after checking that every bar to be
    adjusted has its factor. Nothing to look up for raw or hfq bars."""
    if request.adjust is Adjust.NONE:
        return {}
    missing = conn.execute(
        _joined(bars.c.code, func.min(bars.c.trade_date), func.count())
        .where(*_filters(request), adj_factors.c.factor.is_(None))
        .group_by(bars.c.code)
        .order_by(bars.c.code)
    ).all()
    if missing:
        code, first, _ = missing[0]
        who = code if len(missing) == 1 else f"{code} and {len(missing) - 1} other stock(s)"
        raise missing_factors(request.adjust, who, sum(n for *_, n in missing), first)
    if request.adjust is Adjust.HFQ:
        return {}
    newest = select(adj_factors.c.code, func.max(adj_factors.c.trade_date).label("day"))
    if request.codes is not None:
        newest = newest.where(adj_factors.c.code.in_(request.codes))
    day = newest.group_by(adj_factors.c.code).subquery()
    latest = select(adj_factors.c.code, adj_factors.c.factor).join(
        day, (adj_factors.c.code == day.c.code) & (adj_factors.c.trade_date == day.c.day)
    )
    return {code: factor for code, factor in conn.execute(latest)}


def _columns(part: Sequence[Any], how: Adjust, latest: dict[str, Decimal]) -> dict[str, list[Any]]:
    """One chunk of rows as typed columns, prices adjusted as asked."""
    if not part:
        return {name: [] for name in COLUMNS}
    data = dict(zip(COLUMNS, (list(col) for col in zip(*part, strict=True)), strict=True))
    if how is Adjust.NONE:
        return data
    scales = [
        price_scale(how, factor, latest.get(code))
        for code, factor in zip(data["code"], data["factor"], strict=True)
    ]
    for name in PRICE_COLUMNS:
        data[name] = [adjusted_price(v, s) for v, s in zip(data[name], scales, strict=True)]
    data["factor"] = [float(f) for f in data["factor"]]  # every bar has one when adjusting
    return data


def _metadata(request: ExportRequest) -> dict[str, str]:
    return {
        "period": request.period.value,
        "adjust": request.adjust.value,
        "start": request.start.isoformat() if request.start else "",
        "end": request.end.isoformat() if request.end else "",
    }


__all__ = [
    "COLUMNS",
    "ExportFormat",
    "ExportRequest",
    "ExportResult",
    "export_bars",
    "parse_export",
]
