"""Run every phase of the ingest benchmark and assemble the results (see bench/README.md)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from bench import metrics, report
from bench.e2e import E2EResult, Expected, run_phase
from bench.inprocess import (
    Batches,
    Timed,
    generate_by_date,
    generate_by_stock,
    median,
    raw_ingest,
    validate,
)
from bench.services import make_data_dir, reset_state, server_versions, start_services
from bench.workers import BenchFailure, celery_app
from stocksync.config import Settings, SimSettings
from stocksync.context import Context, build_context
from stocksync.sim import SimMarket
from stocksync.sources.base import Shape
from stocksync.sources.sim import sim_market

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = REPO / "bench" / "results"
DEFAULT_START = dt.date(2025, 3, 3)
FULL = {"stocks": 5200, "days": 20}
QUICK = {"stocks": 1000, "days": 5}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.ingest",
        description="Bars ingest benchmark: in-process baselines and end-to-end runs through "
        "real Celery workers, side by side in one run. Reports ratios; asserts no timings.",
    )
    p.add_argument("--stocks", type=int, help=f"simulated stocks (default {FULL['stocks']})")
    p.add_argument("--days", type=int, help=f"trading days (default {FULL['days']})")
    p.add_argument(
        "--start", type=dt.date.fromisoformat, default=DEFAULT_START,
        help=f"first trading day (default {DEFAULT_START})",
    )  # fmt: skip
    p.add_argument("--concurrency", type=int, default=2, help="worker slots (default 2)")
    p.add_argument(
        "--latency-ms", type=float, default=200.0,
        help="simulated per-call latency of the last phase (default 200)",
    )  # fmt: skip
    p.add_argument(
        "--repeat", type=int, default=3,
        help="measure the short per-date phases this many times and report the median "
        "(default 3; the per-stock phases run once)",
    )  # fmt: skip
    p.add_argument(
        "--quick", action="store_true",
        help=f"smoke run: {QUICK['stocks']} stocks × {QUICK['days']} days unless given",
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
    args.stocks = sizes["stocks"] if args.stocks is None else args.stocks
    args.days = sizes["days"] if args.days is None else args.days
    if min(args.stocks, args.days, args.concurrency, args.repeat) < 1 or args.latency_ms <= 0:
        p.error("--stocks, --days, --concurrency, --repeat and --latency-ms must be positive")
    return args


def _days(market: SimMarket, start: dt.date, count: int) -> list[dt.date]:
    days = market.trading_days(start, start + dt.timedelta(days=count * 2 + 30))[:count]
    if len(days) < count:
        raise BenchFailure(f"only {len(days)} trading days from {start}")
    return days


def _warmup_body(market: SimMarket, start: dt.date, slots: int) -> dict[str, Any]:
    """A small per-date run before ``start`` with enough units to reach every pool process:
    ``n`` trading days × ``n`` stocks listed on all of them."""
    n = max(4, 4 * slots)
    days = market.trading_days(start - dt.timedelta(days=3 * n + 14), start - dt.timedelta(1))
    days = days[-n:]
    listed = set.intersection(*({b.code for b in market.bars_for_date(d)} for d in days))
    return {
        "start_date": days[0].isoformat(),
        "end_date": days[-1].isoformat(),
        "symbols": sorted(listed)[:n],
        "periods": ["daily"],
    }


def _expected(batches: Batches) -> Expected:
    return Expected(
        bars=sum(map(len, batches)),
        volume=sum(int(b.volume) for batch in batches for b in batch),
    )


def _raw_phase(ctx: Context, batches: Batches, *, expect_rows: int, what: str) -> Timed:
    timed, written = raw_ingest(ctx.engine, batches)
    if written != expect_rows:
        raise BenchFailure(f"{what} wrote {written} rows, expected {expect_rows}")
    return timed


def _e2e_json(result: E2EResult, work_s: float, raw: Timed) -> dict[str, Any]:
    return result.as_json(
        overhead_s_per_unit=round(
            metrics.overhead_per_unit(result.seconds, work_s, result.slots, result.units), 5
        ),
        e2e_raw_ratio=round(metrics.e2e_raw_ratio(result.bars_per_s, raw.bars_per_s), 4),
    )


def measure(args: argparse.Namespace, ctx: Context, app: Any, log_dir: Path) -> dict[str, Any]:
    """Every phase, in order, each on emptied tables; returns the results document."""
    settings = ctx.settings
    slots = settings.worker_concurrency
    tick = time.perf_counter()
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    market_build_s = time.perf_counter() - tick
    days = _days(market, args.start, args.days)
    body = {
        "start_date": days[0].isoformat(),
        "end_date": days[-1].isoformat(),
        "periods": ["daily"],
    }
    warmup = _warmup_body(market, days[0], slots)
    phases: dict[str, dict[str, Any]] = {}

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    repeat = args.repeat
    # Untimed first calls: the workers are warmed before their timed runs, so is this process.
    market.bars_for_date(days[0])
    market.bars_for_code(market.securities()[0].code, days[0], days[-1])
    say(f"generate: {len(days)} trading days × {settings.sim.stocks} stocks (×{repeat})")
    gens = []
    for _ in range(repeat):
        by_date, timed = generate_by_date(market, days)
        gens.append(timed)
    gen = median(gens)
    expected = _expected(by_date)
    phases["generate"] = gen.as_json(market_build_s=round(market_build_s, 4))
    phases["validate"] = median([validate(by_date) for _ in range(repeat)]).as_json()

    say(f"raw ingest: {expected.bars} bars, one transaction per date, then again (×{repeat})")
    raws, reruns = [], []
    for _ in range(repeat):
        reset_state(ctx.engine, ctx.redis, restart_ids=True)
        raws.append(_raw_phase(ctx, by_date, expect_rows=expected.bars, what="raw ingest"))
        reruns.append(_raw_phase(ctx, by_date, expect_rows=0, what="the update-only rerun"))
    raw, rerun = median(raws), median(reruns)
    phases["raw_ingest"] = raw.as_json(rows_written=expected.bars)
    phases["raw_rerun"] = rerun.as_json(rows_written=0)
    del by_date

    say("raw ingest by stock: bars_for_code and one transaction per stock")
    reset_state(ctx.engine, ctx.redis, restart_ids=True)
    codes = [s.code for s in market.securities()]
    by_stock, gen_stock = generate_by_stock(market, codes, days[0], days[-1])
    if _expected(by_stock) != expected:
        raise BenchFailure("per-stock generation disagrees with per-date generation")
    raw_stock = _raw_phase(ctx, by_stock, expect_rows=expected.bars, what="raw ingest by stock")
    phases["generate_by_stock"] = gen_stock.as_json()
    phases["raw_ingest_by_stock"] = raw_stock.as_json(rows_written=expected.bars)
    del by_stock

    common: dict[str, Any] = {
        "body": body,
        "warmup_body": warmup,
        "expected": expected,
        "log_dir": log_dir,
    }
    say(f"end to end, per date, 0 ms: {len(days)} units on {slots} slots (×{repeat})")
    zero = run_phase(
        ctx, app, name="e2e_0ms", worker_settings=settings, shape=Shape.MARKET_BY_DATE,
        timeout_s=args.timeout, repeat=repeat, **common,
    )  # fmt: skip
    phases["e2e_0ms"] = _e2e_json(zero, gen.seconds + raw.seconds, raw)

    say(f"end to end, per stock, 0 ms: one unit per listed stock on {slots} slots")
    stock = run_phase(
        ctx, app, name="e2e_by_stock", worker_settings=settings, shape=Shape.STOCK_BY_RANGE,
        timeout_s=args.timeout, **common,
    )  # fmt: skip
    phases["e2e_by_stock"] = _e2e_json(stock, gen_stock.seconds + raw_stock.seconds, raw)
    phases["e2e_by_stock"]["e2e_raw_by_stock_ratio"] = round(
        metrics.e2e_raw_ratio(stock.bars_per_s, raw_stock.bars_per_s), 4
    )

    say(f"end to end, per date, {args.latency_ms:g} ms per source call (×{repeat})")
    slow_settings = settings.with_overrides(
        sim=dataclasses.replace(settings.sim, latency_ms=args.latency_ms)
    )
    slow = run_phase(
        ctx, app, name="e2e_latency", worker_settings=slow_settings,
        shape=Shape.MARKET_BY_DATE, timeout_s=args.timeout, repeat=repeat, **common,
    )  # fmt: skip
    phases["e2e_latency"] = _e2e_json(slow, gen.seconds + raw.seconds, raw)
    del phases["e2e_latency"]["overhead_s_per_unit"]  # it would count the latency as overhead

    efficiency = metrics.latency_efficiency(slow.units_per_s, slots, args.latency_ms)
    summary = {
        "e2e_raw_ratio": phases["e2e_0ms"]["e2e_raw_ratio"],
        "units_per_s": phases["e2e_0ms"]["units_per_s"],
        "bars_per_s": phases["e2e_0ms"]["bars_per_s"],
        "raw_bars_per_s": phases["raw_ingest"]["bars_per_s"],
        "overhead_s_per_unit": phases["e2e_0ms"]["overhead_s_per_unit"],
        "create_run_s": phases["e2e_0ms"]["create_run_s"],
        "by_stock_units_per_s": phases["e2e_by_stock"]["units_per_s"],
        "by_stock_e2e_raw_ratio": phases["e2e_by_stock"]["e2e_raw_ratio"],
        "by_stock_overhead_s_per_unit": phases["e2e_by_stock"]["overhead_s_per_unit"],
        "by_stock_create_run_s": phases["e2e_by_stock"]["create_run_s"],
        "latency_units_per_s": phases["e2e_latency"]["units_per_s"],
        "latency_ideal_units_per_s": round(slots / (args.latency_ms / 1000.0), 2),
        "latency_efficiency": round(efficiency, 4) if efficiency is not None else None,
        "latency_added_s_per_unit_per_slot": round(
            metrics.added_per_unit_per_slot(slow.seconds, zero.seconds, slots, slow.units), 4
        ),
    }
    return {
        "parameters": {
            "stocks": settings.sim.stocks,
            "days": len(days),
            "start_date": days[0].isoformat(),
            "end_date": days[-1].isoformat(),
            "trade_dates": [d.isoformat() for d in days],
            "slots": slots,
            "worker_processes": 1,
            "latency_ms": args.latency_ms,
            "seed": settings.sim.seed,
            "quick": args.quick,
            "repeat": repeat,
            "warmup": warmup,
            "by_stock_planning": (
                "same days and stocks as the per-date phases; the planner is shown a sim "
                "source that offers only per-stock calls, so it plans one unit per stock"
            ),
        },
        "phases": phases,
        "summary": summary,
        "definitions": metrics.DEFINITIONS,
    }


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
    print(f"[{time.strftime('%H:%M:%S')}] services in {data_dir}", file=sys.stderr, flush=True)
    try:
        services = start_services(
            base, database_server_url=args.database_url, redis_url=args.redis_url
        )
    except BaseException:
        import shutil

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
        "benchmark": "ingest",
        "started_at": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - began, 1),
        "parameters": results["parameters"]
        | {"services": "external" if args.database_url or args.redis_url else "embedded"},
        "machine": machine,
        "code": report.code_version(REPO),
        **{k: v for k, v in results.items() if k != "parameters"},
    }
    report.print_table(document)
    path = report.write_json(document, args.results_dir, started.strftime("%Y%m%d-%H%M%S"))
    print(f"\nresults: {path}  (whole benchmark {document['wall_s']} s)")
    return 0
