"""The minute-bar benchmark's in-process pieces: the truth (row count and volume total per day),
the ingest comparison (the dataset's own write path vs raw COPY + ``INSERT … ON CONFLICT``), the
check of what a run stored, and the workers' peak RSS."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from bench.e2e import Expected
from bench.workers import BenchFailure, WorkerProcess
from stocksync.context import Context
from stocksync.datasets.minute_bars import COLUMNS, MINUTE_BARS, ensure_partitions
from stocksync.domain import MinuteBar, Period
from stocksync.sim import SimMarket

TABLE = "minute_bars"
KEYS = COLUMNS[:3]  # code, period, bar_time


@dataclass(frozen=True)
class DayTruth:
    """What one trading day's minute bars must leave in ``minute_bars``."""

    day: dt.date
    rows: int
    volume: int


def generate_truth(
    market: SimMarket, period: Period, days: Sequence[dt.date]
) -> tuple[list[DayTruth], float]:
    """Each day's row count and volume total from ``market_minute_bars`` (rows are dropped as
    soon as they are counted: 20 full-market days would not fit in memory), and the seconds
    generating them took."""
    truth = []
    seconds = 0.0
    for day in days:
        tick = time.perf_counter()
        rows = market.market_minute_bars(period, day)
        seconds += time.perf_counter() - tick
        truth.append(DayTruth(day, len(rows), sum(int(r.volume) for r in rows)))
        del rows
    return truth, seconds


def expected_for(truth: Sequence[DayTruth]) -> Expected:
    return Expected(bars=sum(t.rows for t in truth), volume=sum(t.volume for t in truth))


# --- the tables ------------------------------------------------------------------------------


def partitions(engine: Engine) -> list[str]:
    """The names of ``minute_bars``' partitions."""
    with engine.connect() as conn:
        return [
            str(name)
            for (name,) in conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'minute_bars'::regclass ORDER BY 1"
                )
            )
        ]


def drop_partitions(engine: Engine) -> None:
    """Back to an empty ``minute_bars`` with no partition: the next write creates its month."""
    names = partitions(engine)
    if names:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE {', '.join(names)}"))


def empty_minute_bars(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLE}"))


def stored(engine: Engine) -> tuple[int, int]:
    """``minute_bars``' row count and volume total."""
    with engine.connect() as conn:
        count, volume = conn.execute(
            text(f"SELECT count(*), coalesce(sum(volume), 0) FROM {TABLE}")
        ).one()
    return int(count), int(volume)


def verify_minute_bars(ctx: Context, expected: Expected, view: Mapping[str, Any]) -> None:
    """Raise :class:`BenchFailure` unless ``minute_bars`` holds exactly the expected rows' count
    and volume total and the run says it wrote them all (``run_phase``'s ``verify``)."""
    count, volume = stored(ctx.engine)
    problems = []
    if count != expected.bars:
        problems.append(f"minute_bars holds {count} rows, the sim has {expected.bars}")
    if volume != expected.volume:
        problems.append(f"stored volume total {volume} != the sim's {expected.volume}")
    if view.get("rows_written") != expected.bars:
        problems.append(f"the run reports {view.get('rows_written')} rows written")
    if problems:
        raise BenchFailure(f"run {view.get('id')}: " + "; ".join(problems))


# --- ingest: the dataset's write path vs raw COPY + merge -------------------------------------


def raw_write(conn: Any, rows: Sequence[MinuteBar], *, source: str) -> int:
    """The baseline: the rows as COPY text into a temp staging table, then one
    ``INSERT … SELECT … ON CONFLICT DO UPDATE`` into the partitioned table (whose partitions
    must exist). Inside the caller's transaction; returns the rows inserted or updated."""
    buf = io.StringIO()
    write = buf.write
    for r in rows:
        write(
            f"{r.code}\t{r.period.value}\t{r.bar_time.isoformat(' ')}\t{r.open!r}\t{r.high!r}\t"
            f"{r.low!r}\t{r.close!r}\t{r.volume}\t{r.amount!r}\t{source}\n"
        )
    buf.seek(0)
    cols = ", ".join(COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in KEYS)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE raw_stage (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DROP")
        cur.copy_expert(f"COPY raw_stage ({cols}) FROM STDIN", buf)
        cur.execute(
            f"INSERT INTO {TABLE} ({cols}) SELECT {cols} FROM raw_stage "
            f"ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {updates}"
        )
        return int(cur.rowcount)


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _timed_dataset_write(engine: Engine, rows: Sequence[MinuteBar]) -> tuple[float, int]:
    """``MINUTE_BARS.write`` into an empty table with no partition (it creates the month's)."""
    empty_minute_bars(engine)
    drop_partitions(engine)
    tick = time.perf_counter()
    with engine.begin() as conn:
        written = MINUTE_BARS.write(conn, rows, source="sim")
    return time.perf_counter() - tick, written


def _timed_raw_write(engine: Engine, rows: Sequence[MinuteBar], day: dt.date) -> tuple[float, int]:
    """:func:`raw_write` into an empty table whose partition exists (made untimed)."""
    empty_minute_bars(engine)
    with engine.begin() as conn:
        ensure_partitions(conn, {_month(day)})
    tick = time.perf_counter()
    with engine.begin() as conn:
        written = raw_write(conn, rows, source="sim")
    return time.perf_counter() - tick, written


def ingest_compare(
    engine: Engine,
    market: SimMarket,
    period: Period,
    days: Sequence[dt.date],
    truth: Mapping[dt.date, DayTruth],
) -> dict[str, Any]:
    """For each day: its rows written once through the dataset and once raw, each into an
    empty ``minute_bars`` in one transaction, the order alternating day by day; each write is
    checked against the truth. Also times the workers' row check (``MINUTE_BARS.check``)."""
    samples: dict[str, list[float]] = {"dataset": [], "raw": [], "check": []}
    rows_total = 0
    for n, day in enumerate(days):
        rows = market.market_minute_bars(period, day)
        want = truth[day]
        if len(rows) != want.rows:
            raise BenchFailure(f"{day}: {len(rows)} rows, the truth pass had {want.rows}")
        tick = time.perf_counter()
        good, rejected = MINUTE_BARS.check(rows, period)
        samples["check"].append(time.perf_counter() - tick)
        if rejected or len(good) != len(rows):
            raise BenchFailure(f"{day}: {len(rejected)} generated minute bars fail the check")
        del good
        order = ("dataset", "raw") if n % 2 == 0 else ("raw", "dataset")
        for which in order:
            if which == "dataset":
                seconds, written = _timed_dataset_write(engine, rows)
            else:
                seconds, written = _timed_raw_write(engine, rows, day)
            if written != want.rows or stored(engine) != (want.rows, want.volume):
                raise BenchFailure(
                    f"{day}: the {which} write wrote {written} rows and left "
                    f"{stored(engine)} (count, volume), expected ({want.rows}, {want.volume})"
                )
            samples[which].append(seconds)
        rows_total += len(rows)
        del rows
    empty_minute_bars(engine)

    def phase(name: str) -> dict[str, Any]:
        seconds = sum(samples[name])
        return {
            "units": len(days),
            "rows": rows_total,
            "seconds": round(seconds, 4),
            "rows_per_s": round(rows_total / seconds, 1) if seconds > 0 else 0.0,
            "samples_s": [round(v, 4) for v in samples[name]],
        }

    return {"dataset_write": phase("dataset"), "raw_write": phase("raw"), "check": phase("check")}


# --- worker memory ---------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def worker_memory(worker: WorkerProcess) -> dict[str, Any]:
    """Peak (VmHWM) and current (VmRSS) resident memory in MiB of the worker's main process and
    of each pool process (its descendants). VmHWM is each process's lifetime peak, and the
    benchmark's workers are fresh per phase and never recycle pool processes."""
    if worker.proc is None:
        return {}
    root = worker.proc.pid

    def mib(kb: int | None) -> float | None:
        return round(kb / 1024, 1) if kb is not None else None

    pool = _descendants(root)
    pool_hwm = [v for pid in pool if (v := mib(_status_kb(pid, "VmHWM"))) is not None]
    main_hwm = mib(_status_kb(root, "VmHWM"))
    return {
        "main_hwm_mib": main_hwm,
        "main_rss_mib": mib(_status_kb(root, "VmRSS")),
        "pool_processes": len(pool),
        "pool_hwm_mib": pool_hwm,
        "pool_rss_mib": [v for pid in pool if (v := mib(_status_kb(pid, "VmRSS"))) is not None],
        "pool_peak_mib": max(pool_hwm, default=None),
        "total_hwm_mib": round((main_hwm or 0.0) + sum(pool_hwm), 1),
    }
