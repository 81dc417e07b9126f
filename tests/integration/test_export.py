"""``stocksync export``: stored bars to CSV and Parquet, read back and compared with the database
and with ``read_bars``, on real PostgreSQL. One synced market is shared by the module's tests."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, event, insert, select

from stocksync.errors import InvalidRequest
from stocksync.market.export import COLUMNS, export_bars
from stocksync.market.reading import read_bars
from stocksync.runs import service as runs
from stocksync.runs.execution import run_unit
from stocksync.storage.schema import adj_factors, bars

REPO = Path(__file__).resolve().parents[2]
START, END = dt.date(2024, 12, 2), dt.date(2025, 1, 10)
SPLIT_CODE = "000315.SZ"  # its factor changes within the range (the sim's seed and size)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, run_id, item_ids):
        self.sent.extend(item_ids)


@pytest.fixture(scope="module")
def market(module_ctx):
    """The simulated market synced for START..END, daily and weekly, by in-process units."""
    ctx = module_ctx
    body = {"start_date": START.isoformat(), "end_date": END.isoformat(),
            "periods": "daily,weekly"}  # fmt: skip
    recorder = Recorder()
    runs.create_run(ctx, runs.parse_spec(ctx, body), recorder)
    for item in recorder.sent:
        assert run_unit(ctx, item).outcome == "success"
    return ctx


def stored(engine, period="daily", codes=None) -> list[tuple]:
    """The database's rows in export order, as plain Python values."""
    on = (adj_factors.c.code == bars.c.code) & (adj_factors.c.trade_date == bars.c.trade_date)
    cols = [adj_factors.c.factor if n == "factor" else bars.c[n] for n in COLUMNS]
    query = select(*cols).select_from(bars.join(adj_factors, on, isouter=True))
    query = query.where(bars.c.period == period).order_by(bars.c.code, bars.c.trade_date)
    if codes:
        query = query.where(bars.c.code.in_(codes))
    with engine.connect() as conn:
        return [
            tuple(float(v) if isinstance(v, Decimal) else v for v in row)
            for row in conn.execute(query)
        ]


def read_csv(data: bytes) -> tuple[list[str], list[tuple]]:
    def value(name: str, text: str):
        if text == "":
            return None
        if name in ("code", "period", "source"):
            return text
        if name == "trade_date":
            return dt.date.fromisoformat(text)
        if name in ("volume", "trade_status"):
            return int(text)
        if name == "is_st":
            return {"true": True, "false": False}[text]
        return float(text)

    header, *rows = csv.reader(io.StringIO(data.decode("utf-8")))
    return header, [tuple(value(n, t) for n, t in zip(header, row, strict=True)) for row in rows]


def read_parquet(path: Path) -> list[tuple]:
    return [tuple(row.values()) for row in pq.read_table(path).to_pylist()]


def test_csv_and_parquet_hold_every_stored_bar_in_order_with_types(market, oracle, tmp_path):
    days = oracle.trading_days(START, END)
    expected = stored(market.engine)
    assert len(expected) == len(oracle.expected(days)) > 5_000

    result = export_bars(market.engine, tmp_path / "bars.csv", fmt="csv")
    header, rows = read_csv((tmp_path / "bars.csv").read_bytes())
    assert header == list(COLUMNS)
    assert rows == expected
    assert (result.rows, result.format, result.path) == (
        len(expected),
        "csv",
        str(tmp_path / "bars.csv"),
    )
    assert result.bytes == (tmp_path / "bars.csv").stat().st_size
    assert (result.period, result.adjust, result.chunks) == ("daily", "none", 1)

    result = export_bars(market.engine, tmp_path / "bars.parquet", fmt="PARQUET")
    assert read_parquet(tmp_path / "bars.parquet") == expected
    assert result.bytes == (tmp_path / "bars.parquet").stat().st_size
    schema = pq.read_schema(tmp_path / "bars.parquet")
    assert schema.names == list(COLUMNS)
    types = {
        n: schema.field(n).type for n in ("trade_date", "close", "volume", "is_st", "trade_status")
    }
    assert types == {"trade_date": pa.date32(), "close": pa.float64(), "volume": pa.int64(),
                     "is_st": pa.bool_(), "trade_status": pa.int16()}  # fmt: skip
    assert schema.metadata[b"stocksync.adjust"] == b"none"
    assert any(r[13] for r in expected) and any(r[12] == 0 for r in expected)  # ST, suspended


def test_codes_dates_and_period_filter_what_is_exported(market, tmp_path):
    out = tmp_path / "some.csv"
    result = export_bars(market.engine, out, fmt="csv", codes=["sz.000315", "000315", "600000"],
                         start="2024-12-16", end="20241231")  # fmt: skip
    _, rows = read_csv(out.read_bytes())
    expected = [
        r for r in stored(market.engine, codes=["000315.SZ", "600000.SH"])
        if dt.date(2024, 12, 16) <= r[1] <= dt.date(2024, 12, 31)
    ]  # fmt: skip
    assert rows == expected and result.rows == len(expected) > 0
    assert {r[0] for r in rows} <= {"000315.SZ", "600000.SH"}

    weekly = export_bars(market.engine, tmp_path / "weekly.parquet", fmt="parquet", period="weekly")
    assert read_parquet(tmp_path / "weekly.parquet") == stored(market.engine, "weekly")
    assert weekly.rows > 0 and weekly.period == "weekly"


@pytest.mark.parametrize("adjust", ["qfq", "hfq"])
def test_adjusted_exports_match_read_bars(market, tmp_path, adjust):
    out = tmp_path / f"{adjust}.parquet"
    end = "2024-12-31"  # qfq stays relative to the latest factor stored, not to the range's end
    export_bars(market.engine, out, fmt="parquet", adjust=adjust, end=end)
    table = pq.read_table(out)
    assert table.schema.metadata[b"stocksync.adjust"] == adjust.encode()
    exported = [r for r in table.to_pylist() if r["code"] == SPLIT_CODE]
    api = read_bars(market, code=SPLIT_CODE, start=START.isoformat(), end=end, adjust=adjust)
    assert len(exported) == len(api["bars"]) > 10
    for row, bar in zip(exported, api["bars"], strict=True):
        assert row["trade_date"].isoformat() == bar["trade_date"]
        assert {k: row[k] for k in bar if k != "trade_date"} == {
            k: v for k, v in bar.items() if k != "trade_date"
        }
    assert len({r["factor"] for r in exported}) > 1
    raw = {r[1]: r for r in stored(market.engine, codes=[SPLIT_CODE])}
    assert any(row["close"] != raw[row["trade_date"]][6] for row in exported)

    whole = export_bars(market.engine, tmp_path / f"{adjust}.csv", fmt="csv", adjust=adjust)
    assert whole.rows == len(stored(market.engine))


def test_an_empty_result_still_has_the_header_or_schema(market, tmp_path):
    none = export_bars(market.engine, tmp_path / "e.csv", fmt="csv", codes=["600999"])
    assert (tmp_path / "e.csv").read_text() == ",".join(COLUMNS) + "\n"
    assert (none.rows, none.chunks) == (0, 0)
    export_bars(market.engine, tmp_path / "e.parquet", fmt="parquet", start="2030-01-01")
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 0 and table.schema.names == list(COLUMNS)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"fmt": "xlsx"}, "format", "format 'xlsx' is unknown; use csv, parquet"),
        ({"fmt": None}, "format", "format is required"),
        ({"period": "hourly"}, "period", "period 'hourly' is unknown"),
        ({"adjust": "forward"}, "adjust", "adjust 'forward' is unknown; use none, qfq, hfq"),
        ({"start": "yesterday"}, "start", "is not a valid date"),
        ({"start": "2025-01-10", "end": "2025-01-02"}, "start", "start 2025-01-10 is after end"),
        ({"codes": ["12"]}, "symbols", "is not a stock code"),
        ({"codes": []}, "symbols", "symbols is empty"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(market, tmp_path, kwargs, field, message):
    out = tmp_path / "x.csv"
    with pytest.raises(InvalidRequest) as caught:
        export_bars(market.engine, out, **({"fmt": "csv"} | kwargs))
    assert caught.value.field == field and message in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_or_missing_factors_are_clear_errors(market, tmp_path):
    with pytest.raises(InvalidRequest, match="does not exist") as caught:
        export_bars(market.engine, tmp_path / "nope" / "x.csv", fmt="csv")
    assert caught.value.field == "out"

    with market.engine.begin() as conn:
        kept = conn.execute(select(adj_factors).where(adj_factors.c.code == SPLIT_CODE)).all()
        conn.execute(delete(adj_factors).where(adj_factors.c.code == SPLIT_CODE))
    try:
        with pytest.raises(InvalidRequest, match=f"qfq needs adjustment factors.*{SPLIT_CODE}"):
            export_bars(market.engine, tmp_path / "q.csv", fmt="csv", adjust="qfq")
        assert list(tmp_path.iterdir()) == []
        raw = export_bars(market.engine, tmp_path / "raw.csv", fmt="csv", codes=[SPLIT_CODE])
        _, rows = read_csv((tmp_path / "raw.csv").read_bytes())
        assert raw.rows == len(rows) > 0 and {r[14] for r in rows} == {None}  # no factor stored
    finally:
        with market.engine.begin() as conn:
            conn.execute(insert(adj_factors), [r._asdict() for r in kept])


def test_rows_stream_from_a_server_side_cursor_one_chunk_at_a_time(market, tmp_path):
    expected = stored(market.engine)
    cursors = []

    def record(conn, cursor, statement, *_):
        if "FROM bars" in statement and "ORDER BY bars.code, bars.trade_date" in statement:
            cursors.append(cursor.name)  # psycopg2 names server-side cursors only

    event.listen(market.engine, "before_cursor_execute", record)
    try:
        result = export_bars(market.engine, tmp_path / "c.parquet", fmt="parquet", chunk_rows=1_000)
    finally:
        event.remove(market.engine, "before_cursor_execute", record)
    assert len(cursors) == 1 and cursors[0] is not None
    assert result.chunks == math.ceil(len(expected) / 1_000) > 5
    meta = pq.ParquetFile(tmp_path / "c.parquet").metadata
    assert meta.num_row_groups == result.chunks
    assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) == 1_000
    assert read_parquet(tmp_path / "c.parquet") == expected

    small = export_bars(market.engine, tmp_path / "c.csv", fmt="csv", chunk_rows=1_000)
    assert small.chunks == result.chunks
    assert read_csv((tmp_path / "c.csv").read_bytes())[1] == expected


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_failure_mid_write_leaves_no_file_under_the_final_name(
    market, tmp_path, monkeypatch, fmt
):
    from stocksync.market import export_files

    writer = export_files.CsvWriter if fmt == "csv" else export_files.ParquetWriter
    original = writer.write
    calls = []

    def failing_write(self, columns):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        original(self, columns)

    monkeypatch.setattr(writer, "write", failing_write)
    out = tmp_path / f"bars.{fmt}"
    with pytest.raises(RuntimeError, match="disk full"):
        export_bars(market.engine, out, fmt=fmt, chunk_rows=500)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its partial twin

    out.write_bytes(b"the previous export")
    calls.clear()
    with pytest.raises(RuntimeError):
        export_bars(market.engine, out, fmt=fmt, chunk_rows=500)
    assert list(tmp_path.iterdir()) == [out] and out.read_bytes() == b"the previous export"


def test_a_stream_gets_the_same_bytes_as_a_file(market, tmp_path):
    sink = io.BytesIO()
    streamed = export_bars(market.engine, sink, fmt="csv", codes=[SPLIT_CODE], chunk_rows=7)
    export_bars(market.engine, tmp_path / "f.csv", fmt="csv", codes=[SPLIT_CODE])
    assert sink.getvalue() == (tmp_path / "f.csv").read_bytes()
    assert streamed.bytes == len(sink.getvalue()) and streamed.path is None


def test_a_symlink_keeps_pointing_at_the_new_file_and_devices_are_written_through(market, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "bars.csv").write_text("old")
    (tmp_path / "latest.csv").symlink_to(tmp_path / "real" / "bars.csv")
    done = export_bars(market.engine, str(tmp_path / "latest.csv"), fmt="csv", codes=[SPLIT_CODE])
    assert (tmp_path / "latest.csv").is_symlink()
    assert (tmp_path / "real" / "bars.csv").stat().st_size == done.bytes > 100
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["bars.csv"]

    devnull = Path(os.devnull)
    before = devnull.stat()
    assert export_bars(market.engine, devnull, fmt="parquet", codes=[SPLIT_CODE]).rows > 10
    after = devnull.stat()
    assert (after.st_mode, after.st_ino, after.st_rdev) == (
        before.st_mode,
        before.st_ino,
        before.st_rdev,
    )


def test_the_cli_exports_to_a_file_or_stdout(market, settings, tmp_path):
    env = dict(os.environ) | settings.as_env() | {"PYTHONPATH": str(REPO)}

    def stocksync(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "cli.main", "export", *args]
        return subprocess.run(command, env=env, cwd=REPO, capture_output=True, timeout=120)

    out = tmp_path / "cli.parquet"
    done = stocksync("--format", "parquet", "--out", str(out), "--symbols", "000315,600000",
                     "--adjust", "qfq", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    summary = json.loads(done.stdout)
    assert (
        summary["rows"]
        == pq.read_table(out).num_rows
        == len(stored(market.engine, codes=["000315.SZ", "600000.SH"]))
    )
    assert (summary["path"], summary["format"]) == (str(out), "parquet")
    assert summary["bytes"] == out.stat().st_size and summary["seconds"] >= 0

    piped = stocksync("--out", "-", "--symbols", "000315", "--start", "2024-12-02",
                      "--end", "2024-12-06")  # fmt: skip
    assert piped.returncode == 0, piped.stderr.decode()
    header, rows = read_csv(piped.stdout)
    assert header == list(COLUMNS) and len(rows) == 5
    assert "exported 5 rows" in piped.stderr.decode()

    bad = stocksync("--format", "parquet", "--out", "-")
    assert bad.returncode == 2 and b"parquet" in bad.stderr and bad.stdout == b""
    bad = stocksync(
        "--format", "csv", "--out", str(out), "--start", "2025-02-01", "--end", "2025-01-01"
    )
    assert bad.returncode == 2 and b"is after end" in bad.stderr
    assert pq.read_table(out).num_rows == summary["rows"]  # untouched
