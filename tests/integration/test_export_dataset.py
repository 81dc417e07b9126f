"""The store exported as a hive-partitioned Parquet dataset and as a DuckDB file, then queried
with DuckDB (and polars when installed) with PostgreSQL out of the picture, and compared with
the stored rows: counts, a checksum of closes and volumes, and every column of every row.
One synced market (a few stocks across a year end, daily and 5-minute) is shared."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from inprocess_runs import run_to_end  # type: ignore[import-not-found]
from sqlalchemy import delete, select

from stocksync.errors import InvalidRequest
from stocksync.market import export_dataset as module
from stocksync.market.export_dataset import DATASETS, export_parquet_dataset
from stocksync.market.export_duckdb import duckdb_from_dataset, export_duckdb
from stocksync.sources.sim import sim_market
from stocksync.storage.schema import bars, minute_bars

START, END = dt.date(2024, 12, 23), dt.date(2025, 1, 10)  # across a year end
SYNCED = ("bars", "minute_bars", "adj_factors", "corporate_actions")


@pytest.fixture(scope="module")
def market(module_ctx, settings):
    """A few listed stocks synced for START..END: daily bars, factors, actions, 5-minute bars."""
    sim = sim_market(settings.sim.seed, settings.sim.stocks)
    listed = [s.code for s in sim.securities()
              if s.list_date < dt.date(2023, 1, 1) and s.delist_date is None]  # fmt: skip
    acting = [c for c in listed if sim.corporate_actions(c, START, END)][:1]
    codes = [*listed[:3], *acting]
    run_to_end(module_ctx, {"start_date": str(START), "end_date": str(END), "symbols": codes,
                            "periods": ["daily", "5min"], "datasets": list(SYNCED)})  # fmt: skip
    return module_ctx


def stored(engine, name: str) -> list[tuple]:
    """The database's rows of a dataset, in the dataset's columns and key order."""
    ds = DATASETS[name]
    query = select(*ds.columns).order_by(*(ds.table.c[k] for k in ds.key))
    with engine.connect() as conn:
        return [tuple(float(v) if isinstance(v, Decimal) else v for v in row)
                for row in conn.execute(query)]  # fmt: skip


def from_parquet(con, root: Path, name: str) -> list[tuple]:
    ds = DATASETS[name]
    cols, key = ", ".join(ds.schema.names), ", ".join(ds.key)
    glob = str(root / name / "**" / "*.parquet")
    return con.execute(f"SELECT {cols} FROM read_parquet(?, hive_partitioning = true) "
                       f"ORDER BY {key}", [glob]).fetchall()  # fmt: skip


def checksum(rows: list[tuple], names: tuple[str, ...]) -> tuple[int, float, int]:
    """(rows, sum of closes, sum of volumes) of rows in the dataset's columns."""
    close, volume = names.index("close"), names.index("volume")
    return len(rows), round(sum(r[close] for r in rows), 4), sum(r[volume] for r in rows)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_the_dataset_is_partitioned_by_period_and_year_and_reads_back_without_postgres(
    market, tmp_path
):
    truth = {name: stored(market.engine, name) for name in DATASETS}
    assert all(truth[name] for name in SYNCED)
    out = tmp_path / "store"
    result = export_parquet_dataset(market.engine, out)
    market.engine.dispose()  # from here on, files only

    dirs = {str(p.parent.relative_to(out)) for p in out.rglob("*.parquet")}
    assert {"bars/period=daily/year=2024", "bars/period=daily/year=2025",
            "minute_bars/period=5min/year=2024", "minute_bars/period=5min/year=2025",
            "adj_factors/year=2024", "adj_factors/year=2025"} <= dirs  # fmt: skip
    assert all(p.name == "part-0.parquet" for p in out.rglob("*.parquet"))
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary left
    assert {n: r["rows"] for n, r in result["datasets"].items()} == {
        n: len(rows) for n, rows in truth.items()}  # fmt: skip
    assert result["files"] == len(dirs) and result["bytes"] == sum(
        p.stat().st_size for p in out.rglob("*.parquet"))  # fmt: skip

    con = duckdb.connect()
    for name in DATASETS:  # every column of every row; an empty dataset has no files
        assert (from_parquet(con, out, name) if truth[name] else (out / name).exists()) == (
            truth[name] or False), name  # fmt: skip
    names = tuple(DATASETS["bars"].schema.names)
    for name in ("bars", "minute_bars"):
        got = con.execute(
            "SELECT count(*), round(sum(close), 4), sum(volume) FROM "
            f"read_parquet('{out}/{name}/**/*.parquet', hive_partitioning = true)").fetchone()  # fmt: skip
        names = tuple(DATASETS[name].schema.names)
        assert got == checksum(truth[name], names)
    per_year = con.execute(
        "SELECT period, year, count(*) FROM read_parquet(?, hive_partitioning = true) "
        "GROUP BY ALL ORDER BY ALL", [str(out / "bars" / "**" / "*.parquet")]).fetchall()  # fmt: skip
    trade_date = DATASETS["bars"].schema.names.index("trade_date")
    years = sorted({r[trade_date].year for r in truth["bars"]})
    assert per_year == [("daily", y, sum(1 for r in truth["bars"] if r[trade_date].year == y))
                        for y in years]  # fmt: skip

    pl = pytest.importorskip("polars")
    frame = pl.scan_parquet(str(out / "minute_bars" / "**" / "*.parquet"),
                            hive_partitioning=True).collect()  # fmt: skip
    assert frame.height == len(truth["minute_bars"])
    assert round(frame["close"].sum(), 4) == checksum(truth["minute_bars"],
                                                      tuple(DATASETS["minute_bars"].schema.names))[1]  # fmt: skip
    assert frame["volume"].dtype == pl.Int64 and frame["bar_time"].dtype == pl.Datetime("us")


def test_the_duckdb_file_holds_one_typed_table_per_dataset(market, tmp_path):
    truth = {name: stored(market.engine, name) for name in DATASETS}
    direct = export_duckdb(market.engine, tmp_path / "store.duckdb")
    export_parquet_dataset(market.engine, tmp_path / "parquet")
    market.engine.dispose()
    built = duckdb_from_dataset(tmp_path / "parquet", tmp_path / "built.duckdb")
    assert direct["datasets"] == built["datasets"] == {
        n: {"rows": len(rows)} for n, rows in truth.items()}  # fmt: skip
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] in (
        ["store.duckdb", "built.duckdb"], ["built.duckdb", "store.duckdb"])  # fmt: skip

    for path in (tmp_path / "store.duckdb", tmp_path / "built.duckdb"):
        con = duckdb.connect(str(path), read_only=True)
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        assert tables == set(DATASETS)
        for name in DATASETS:
            ds = DATASETS[name]
            rows = con.execute(f"SELECT * FROM {name} ORDER BY {', '.join(ds.key)}").fetchall()
            assert rows == truth[name], (path.name, name)
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'bars'").fetchall())  # fmt: skip
        assert types["code"] == "VARCHAR" and types["trade_date"] == "DATE"
        assert types["close"] == "DOUBLE" and types["volume"] == "BIGINT"
        assert types["trade_status"] == "SMALLINT" and types["is_st"] == "BOOLEAN"
        assert "fetched_at" not in types
        minute = con.execute("SELECT data_type FROM information_schema.columns WHERE "
                             "table_name = 'minute_bars' AND column_name = 'bar_time'").fetchone()  # fmt: skip
        assert minute == ("TIMESTAMP",)
        got = con.execute("SELECT count(*), round(sum(close), 4), sum(volume) FROM bars").fetchone()
        assert got == checksum(truth["bars"], tuple(DATASETS["bars"].schema.names))
        con.close()


def test_a_reexport_writes_the_same_bytes(market, tmp_path):
    first = export_parquet_dataset(market.engine, tmp_path, start=START, end=END)
    before = digests(tmp_path)
    second = export_parquet_dataset(market.engine, tmp_path, start=START, end=END)
    assert digests(tmp_path) == before and len(before) == first["files"] == second["files"]
    assert first["datasets"] == second["datasets"]


def test_a_failed_export_leaves_the_old_partitions_whole(market, tmp_path, monkeypatch):
    export_parquet_dataset(market.engine, tmp_path, datasets=["bars", "minute_bars"])
    before = digests(tmp_path)
    writes = []

    def failing(self, columns):
        writes.append(len(columns))
        raise OSError("disk full")

    monkeypatch.setattr(module.ParquetWriter, "write", failing)
    with pytest.raises(OSError, match="disk full"):
        export_parquet_dataset(market.engine, tmp_path, datasets=["bars", "minute_bars"])
    assert writes and digests(tmp_path) == before  # no temporary file left either


def test_bad_requests_are_refused_before_anything_is_written(market, tmp_path):
    with pytest.raises(InvalidRequest, match="nope"):
        export_parquet_dataset(market.engine, tmp_path / "x", datasets=["bars", "nope"])
    with pytest.raises(InvalidRequest, match="after end"):
        export_duckdb(market.engine, tmp_path / "x.duckdb", start=END, end=START)
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidRequest, match="not a directory"):
        export_parquet_dataset(market.engine, tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_ranged_export_rewrites_the_years_it_touches_whole_and_no_others(market, tmp_path):
    """Last: it changes the store."""
    export_parquet_dataset(market.engine, tmp_path, datasets=["bars", "minute_bars"])
    old = tmp_path / "bars/period=daily/year=2024/part-0.parquet"
    kept = (digests(tmp_path), old.stat().st_mtime_ns)
    gone = stored(market.engine, "bars")[0][0]
    with market.engine.begin() as conn:  # one stock's bars vanish, and 2025's minute bars
        conn.execute(delete(bars).where(bars.c.code == gone))
        conn.execute(delete(minute_bars).where(minute_bars.c.bar_time >= dt.date(2025, 1, 1)))

    result = export_parquet_dataset(market.engine, tmp_path, datasets=["bars", "minute_bars"],
                                    start=dt.date(2025, 1, 6), end=END)  # fmt: skip
    assert result["years"] == [2025, 2025]
    assert result["datasets"]["bars"]["partitions"] == ["bars/period=daily/year=2025"]
    assert result["datasets"]["minute_bars"]["removed"] == ["minute_bars/period=5min/year=2025"]
    assert not (tmp_path / "minute_bars/period=5min/year=2025").exists()
    now = digests(tmp_path)
    untouched = [k for k in kept[0] if "year=2024" in k]
    assert untouched and all(now[k] == kept[0][k] for k in untouched)
    assert old.stat().st_mtime_ns == kept[1]

    con = duckdb.connect()
    days = con.execute("SELECT DISTINCT trade_date FROM read_parquet(?) ORDER BY 1",
                       [str(tmp_path / "bars/period=daily/year=2025/*.parquet")]).fetchall()  # fmt: skip
    assert days[0][0] < dt.date(2025, 1, 6)  # the whole year, not only the range
    codes = dict(con.execute(
        "SELECT year, count(*) FILTER (WHERE code = ?) FROM read_parquet(?, hive_partitioning = "
        "true) GROUP BY ALL", [gone, str(tmp_path / "bars/**/*.parquet")]).fetchall())  # fmt: skip
    assert codes[2024] > 0 and codes[2025] == 0  # 2024 untouched: still has the stock
