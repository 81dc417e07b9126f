"""The minute-bar benchmark: ``python -m bench.minutes`` (see bench/README.md).

In one run, side by side: the ``minute_bars`` dataset's own write path vs raw COPY + merge for
the same rows; a full-market 5-minute backfill end to end through real Celery workers, its rows
checked exactly against the simulated market; and the workers' peak RSS for a short and a long
range. Reports ratios; asserts no timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, TextIO

from bench import metrics, report
from bench.e2e import E2EResult, run_phase
from bench.minute_phases import (
    drop_partitions,
    expected_for,
    generate_truth,
    ingest_compare,
    verify_minute_bars,
    worker_memory,
)
from bench.runner import _days, _warmup_body
from bench.services import make_data_dir, reset_state, server_versions, start_services
from bench.workers import BenchFailure, WorkerProcess, celery_app
from stocksync.config import Settings, SimSettings
from stocksync.context import Context, build_context
from stocksync.domain import Period
from stocksync.sources.base import Shape
from stocksync.sources.sim import sim_market

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / "bench" / "results"
DEFAULT_START = dt.date(2025, 3, 3)
PERIOD = Period.MIN5
FULL = {"stocks": 5200, "days": 20, "short_days": 5, "ingest_days": 4}
QUICK = {"stocks": 600, "days": 4, "short_days": 2, "ingest_days": 2}

DEFINITIONS: dict[str, str] = {
    "ingest_ratio": (
        "rows/s of MINUTE_BARS.write (the dataset's write path: creates the month's partition, "
        "COPY into a staging table, merge that skips unchanged rows) ÷ rows/s of raw COPY + "
        "INSERT … ON CONFLICT into the same partitioned table (partition made beforehand, "
        "untimed), for the same rows: each day written once each way into an empty table in one "
        "transaction, in alternating order; target ≥ 0.75"
    ),
    "rows_per_s": (
        "rows the timed run stored ÷ its seconds (create_run → the run's finished_at, one "
        "unit per trade date)"
    ),
    "e2e_raw_ratio": (
        "end-to-end rows/s ÷ raw COPY+merge rows/s of the ingest phase (one process, one "
        "transaction per date); 1.0 would mean the source, validation and orchestration cost "
        "nothing; it can exceed 1 with several slots on enough cores"
    ),
    "pool_peak_mib": (
        "the largest peak resident set (VmHWM) of any worker pool process over the warm-up and "
        "the timed run; each phase starts a fresh worker"
    ),
    "rss_long_short_ratio": (
        "pool_peak_mib of the long range ÷ that of the short range: about 1.0 when a worker's "
        "memory depends on a unit (one trade date), not on the run's length"
    ),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.minutes",
        description="Minute-bar benchmark: dataset write path vs raw COPY+merge, a full-market "
        "5-minute backfill end to end through real Celery workers, and the workers' peak RSS "
        "for a short and a long range, side by side in one run. Asserts no timings.",
    )
    p.add_argument("--stocks", type=int, help=f"simulated stocks (default {FULL['stocks']})")
    p.add_argument(
        "--days", type=int, help=f"trading days of the long run (default {FULL['days']})"
    )
    p.add_argument(
        "--short-days", type=int,
        help="trading days of the short run, for the RSS comparison "
        f"(default {FULL['short_days']})",
    )  # fmt: skip
    p.add_argument(
        "--ingest-days", type=int,
        help=f"days written each way in the ingest comparison (default {FULL['ingest_days']})",
    )  # fmt: skip
    p.add_argument(
        "--start", type=dt.date.fromisoformat, default=DEFAULT_START,
        help=f"first trading day (default {DEFAULT_START})",
    )  # fmt: skip
    p.add_argument("--concurrency", type=int, default=2, help="worker slots (default 2)")
    p.add_argument(
        "--quick", action="store_true",
        help=f"smoke run: {QUICK['stocks']} stocks, {QUICK['days']}/{QUICK['short_days']} days, "
        f"{QUICK['ingest_days']} ingest days unless given",
    )  # fmt: skip
    p.add_argument(
        "--database-url",
        help="an external PostgreSQL server: a fresh database is created on it and dropped at "
        "the end (default: embedded PostgreSQL in a temp dir)",
    )
    p.add_argument(
        "--redis-url",
        help="an external Redis database; it is FLUSHED between phases, and no other "
        "stocksync worker may consume from it (default: embedded Redis in a temp dir)",
    )
    p.add_argument(
        "--results-dir", type=Path, default=DEFAULT_RESULTS,
        help=f"where the JSON goes (default {DEFAULT_RESULTS.relative_to(REPO)})",
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=float, default=1800.0,
        help="give up on a run after this many seconds (default 1800)",
    )  # fmt: skip
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for key in ("stocks", "days", "short_days", "ingest_days"):
        if getattr(args, key) is None:
            setattr(args, key, sizes[key])
    if min(args.stocks, args.days, args.short_days, args.ingest_days, args.concurrency) < 1:
        p.error("--stocks, --days, --short-days, --ingest-days and --concurrency must be positive")
    if args.short_days > args.days or args.ingest_days > args.days:
        p.error("--short-days and --ingest-days may not exceed --days")
    if args.days > 90:
        p.error("a range run covers at most 90 days")
    return args


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _e2e_json(result: E2EResult, raw_rows_per_s: float, memory: dict[str, Any]) -> dict[str, Any]:
    fields = result.as_json(
        e2e_raw_ratio=round(metrics.e2e_raw_ratio(result.bars_per_s, raw_rows_per_s), 4),
        memory=memory,
    )
    fields["rows"] = fields.pop("bars")
    fields["rows_per_s"] = fields.pop("bars_per_s")
    return fields


def measure(args: argparse.Namespace, ctx: Context, app: Any, log_dir: Path) -> dict[str, Any]:
    """Every phase, in order; returns the results document (without machine and code)."""
    settings = ctx.settings
    slots = settings.worker_concurrency
    tick = time.perf_counter()
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    market_build_s = time.perf_counter() - tick
    days = _days(market, args.start, args.days)
    short_days = days[: args.short_days]
    phases: dict[str, dict[str, Any]] = {}

    market.market_minute_bars(PERIOD, days[0])  # untimed first call, as the workers are warmed
    say(f"truth: {PERIOD.value} bars of {len(days)} trading days × {settings.sim.stocks} stocks")
    truth, gen_s = generate_truth(market, PERIOD, days)
    expected, expected_short = expected_for(truth), expected_for(truth[: len(short_days)])
    phases["generate"] = {
        "units": len(days),
        "rows": expected.bars,
        "volume": expected.volume,
        "seconds": round(gen_s, 4),
        "rows_per_s": round(expected.bars / gen_s, 1) if gen_s > 0 else 0.0,
        "market_build_s": round(market_build_s, 4),
        "rows_per_day": [t.rows for t in truth],
    }

    ingest_days = days[: args.ingest_days]
    say(f"ingest: {len(ingest_days)} days written through MINUTE_BARS.write and raw, alternating")
    reset_state(ctx.engine, ctx.redis, restart_ids=True)
    ingest = ingest_compare(ctx.engine, market, PERIOD, ingest_days, {t.day: t for t in truth})
    phases.update(ingest)
    raw_rows_per_s = ingest["raw_write"]["rows_per_s"]
    ingest_ratio = metrics.e2e_raw_ratio(ingest["dataset_write"]["rows_per_s"], raw_rows_per_s)

    warmup = _warmup_body(market, days[0], slots)
    memory: dict[str, dict[str, Any]] = {}

    def e2e(name: str, run_days: list[dt.date], want: Any) -> E2EResult:
        body = {
            "start_date": run_days[0].isoformat(),
            "end_date": run_days[-1].isoformat(),
            "periods": [PERIOD.value],
            "datasets": ["minute_bars"],
            "sources": ["sim"],
        }
        seen: dict[str, Any] = {}

        def probe(when: str, worker: WorkerProcess) -> None:
            seen[when] = worker_memory(worker)

        say(f"end to end, {name}: {len(run_days)} units ({want.bars:,} rows) on {slots} slots")
        drop_partitions(ctx.engine)  # the run creates its months' partitions, as a first backfill
        result = run_phase(
            ctx, app, name=name, worker_settings=settings, body=body, warmup_body=warmup,
            shape=Shape.MARKET_BY_DATE, expected=want, log_dir=log_dir,
            timeout_s=args.timeout, verify=verify_minute_bars, probe=probe,
        )  # fmt: skip
        memory[name] = seen.get("run", {}) | {"after_warmup": seen.get("warm", {})}
        phases[name] = _e2e_json(result, raw_rows_per_s, memory[name]) | {"body": body}
        return result

    short = e2e(f"e2e_{len(short_days)}d", short_days, expected_short)
    long = e2e(f"e2e_{len(days)}d", days, expected)
    short_peak = memory[short.name].get("pool_peak_mib") or 0.0
    long_peak = memory[long.name].get("pool_peak_mib") or 0.0

    summary = {
        "ingest_ratio": round(ingest_ratio, 4),
        "dataset_write_rows_per_s": ingest["dataset_write"]["rows_per_s"],
        "raw_write_rows_per_s": raw_rows_per_s,
        "rows_per_s": round(long.bars_per_s, 1),
        "e2e_raw_ratio": round(metrics.e2e_raw_ratio(long.bars_per_s, raw_rows_per_s), 4),
        "e2e_seconds": round(long.seconds, 3),
        "create_run_s": round(long.create_run_s, 4),
        "short_rows_per_s": round(short.bars_per_s, 1),
        "short_e2e_raw_ratio": round(metrics.e2e_raw_ratio(short.bars_per_s, raw_rows_per_s), 4),
        "rss_short_days": len(short_days),
        "rss_long_days": len(days),
        "rss_short_pool_peak_mib": short_peak,
        "rss_long_pool_peak_mib": long_peak,
        "rss_long_short_ratio": round(long_peak / short_peak, 4) if short_peak else None,
        "rss_short_after_warmup_mib": memory[short.name]["after_warmup"].get("pool_peak_mib"),
        "rss_long_after_warmup_mib": memory[long.name]["after_warmup"].get("pool_peak_mib"),
        "rss_short_total_mib": memory[short.name].get("total_hwm_mib"),
        "rss_long_total_mib": memory[long.name].get("total_hwm_mib"),
    }
    return {
        "parameters": {
            "stocks": settings.sim.stocks,
            "period": PERIOD.value,
            "days": len(days),
            "short_days": len(short_days),
            "ingest_days": len(ingest_days),
            "start_date": days[0].isoformat(),
            "end_date": days[-1].isoformat(),
            "trade_dates": [d.isoformat() for d in days],
            "slots": slots,
            "worker_processes": 1,
            "seed": settings.sim.seed,
            "quick": args.quick,
            "warmup": warmup,
        },
        "phases": phases,
        "summary": summary,
        "definitions": DEFINITIONS,
    }


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}"
    return f"{text} {unit}".rstrip()


def print_table(results: dict[str, Any], out: TextIO = sys.stdout) -> None:
    """The phases as a table, then the derived numbers, then their definitions."""
    params, machine, summary = results["parameters"], results["machine"], results["summary"]
    ph = results["phases"]
    print(
        f"\nstocksync minute-bar benchmark — {params['stocks']} stocks, {params['period']}, "
        f"{params['days']} trading days ({params['start_date']} … {params['end_date']}), "
        f"{params['slots']} worker slots, {params['services']} services",
        file=out,
    )
    print(
        f"machine: {machine['cpu_count']} cores ({machine['cpu_model']}), Python "
        f"{machine['python']}, PostgreSQL {machine['postgresql']}, Redis {machine['redis']}; "
        f"load avg {machine['load_avg_start']} → {machine['load_avg_end']}\n",
        file=out,
    )
    labels = [
        ("generate", "generate (market_minute_bars, in-process)"),
        ("check", "MINUTE_BARS.check (in-process)"),
        ("dataset_write", "MINUTE_BARS.write, 1 txn/date"),
        ("raw_write", "raw COPY + ON CONFLICT, 1 txn/date"),
    ] + [(key, f"end to end, {ph[key]['units']} units") for key in ph if key.startswith("e2e_")]
    header = ("phase", "units", "rows", "time", "rows/s", "pool peak RSS")
    rows = [header]
    for key, label in labels:
        p = ph[key]
        peak = p.get("memory", {}).get("pool_peak_mib")
        rows.append(
            (label, _fmt(p["units"]), _fmt(p["rows"]), _fmt(p["seconds"], "s"),
             _fmt(p["rows_per_s"]), _fmt(peak, "MiB") if peak is not None else "")
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
    print("", file=out)
    s = summary
    for label, value in (
        ("ingest: dataset write / raw rows/s  ← target ≥ 0.75", _fmt(s["ingest_ratio"], "×")),
        (f"e2e rows/s ({s['rss_long_days']} days)", _fmt(s["rows_per_s"])),
        (f"e2e / raw rows/s ({s['rss_long_days']} days)", _fmt(s["e2e_raw_ratio"], "×")),
        (f"e2e / raw rows/s ({s['rss_short_days']} days)", _fmt(s["short_e2e_raw_ratio"], "×")),
        ("create_run (plan + ledger + dispatch)", _fmt(s["create_run_s"], "s")),
        (
            f"worker pool peak RSS, {s['rss_short_days']} → {s['rss_long_days']} days",
            f"{_fmt(s['rss_short_pool_peak_mib'], 'MiB')} → "
            f"{_fmt(s['rss_long_pool_peak_mib'], 'MiB')}",
        ),
        ("  ratio long / short  ← flat ≈ 1.0", _fmt(s["rss_long_short_ratio"], "×")),
        (
            "  pool peak after the warm-up alone",
            f"{_fmt(s['rss_short_after_warmup_mib'], 'MiB')} → "
            f"{_fmt(s['rss_long_after_warmup_mib'], 'MiB')}",
        ),
        (
            "worker total peak RSS (main + pool)",
            f"{_fmt(s['rss_short_total_mib'], 'MiB')} → {_fmt(s['rss_long_total_mib'], 'MiB')}",
        ),
    ):
        print(f"  {label:<52} {value}", file=out)
    print("\ndefinitions:", file=out)
    for key, text in results["definitions"].items():
        print(
            textwrap.fill(f"{key}: {text}", 100, initial_indent="  ", subsequent_indent="    "),
            file=out,
        )


def _code_version() -> dict[str, Any]:
    """The checkout's commit, read from ``.git`` without running git (best effort; whether the
    work tree is dirty is not known here)."""
    git = REPO / ".git"
    commit = None
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            if (git / ref).is_file():
                commit = (git / ref).read_text().strip()
            elif (git / "packed-refs").is_file():
                for line in (git / "packed-refs").read_text().splitlines():
                    if line.endswith(" " + ref):
                        commit = line.split()[0]
        else:
            commit = head
    except OSError:
        pass
    return {"commit": commit, "dirty": None}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 when a phase failed or stored the wrong rows."""
    args = parse_args(argv)
    started = dt.datetime.now()
    began = time.perf_counter()
    load_start = report.load_average()
    data_dir = make_data_dir()
    base = Settings(
        data_dir=data_dir,
        sim=SimSettings(stocks=args.stocks, latency_ms=0.0),
        sources=("sim",),
        store="sim",  # the simulated market never writes where real data lives
        worker_concurrency=args.concurrency,
    )
    say(f"services in {data_dir}")
    try:
        services = start_services(
            base, database_server_url=args.database_url, redis_url=args.redis_url
        )
    except BaseException:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    try:
        settings = services.settings
        app = celery_app(settings)
        ctx = build_context(settings)
        try:
            machine = report.machine_info() | server_versions(ctx.engine, ctx.redis)
            results = measure(args, ctx, app, data_dir / "logs")
        finally:
            ctx.close()
    except BenchFailure as failure:
        print(f"\n*** BENCHMARK FAILED ***\n{failure}\n", file=sys.stderr, flush=True)
        return 1
    finally:
        services.close()
    machine |= {"load_avg_start": load_start, "load_avg_end": report.load_average()}
    document = {
        "benchmark": "minutes",
        "started_at": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - began, 1),
        "parameters": results["parameters"]
        | {"services": "external" if args.database_url or args.redis_url else "embedded"},
        "machine": machine,
        "code": _code_version(),
        **{k: v for k, v in results.items() if k != "parameters"},
    }
    print_table(document)
    path = report.write_json(
        document, args.results_dir, started.strftime("%Y%m%d-%H%M%S"), prefix="minutes"
    )
    print(f"\nresults: {path}  (whole benchmark {document['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
