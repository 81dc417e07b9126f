"""``python -m bench.chaos``: parse the command line, run the chosen scenarios on the bench's
own services, print the table, write the JSON, exit 1 if any scenario broke an invariant."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from bench import report
from bench.chaos.driver import Params, run_scenario
from bench.chaos.lab import Lab, make_data_dir
from bench.chaos.scenarios import KILL_SCENARIOS, QUICK, SCENARIOS
from bench.services import server_versions
from stocksync.config import Settings, SimSettings

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RESULTS = REPO / "bench" / "results"
FULL = {"stocks": 300, "days": 40, "latency_ms": 400.0, "kills": 10, "error_rate": 0.1}
QUICK_SIZES = {"stocks": 100, "days": 10, "latency_ms": 250.0, "kills": 1, "error_rate": 0.05}
COLUMNS = (
    "scenario",
    "status",
    "lost",
    "dup",
    "wrong",
    "counters ok",
    "extra calls",
    "recovery s",
    "wall s",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description="The chaos matrix: real runs on the simulated market with workers, Redis "
        "and PostgreSQL killed or starved mid-run, each checked against the market's truth.",
    )
    p.add_argument("--scenarios", help=f"comma-separated, from: {', '.join(SCENARIOS)}")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"the CI subset ({', '.join(QUICK)}) on a tiny market, 1 kill",
    )
    p.add_argument("--stocks", type=int, help=f"simulated stocks (default {FULL['stocks']})")
    p.add_argument("--days", type=int, help=f"trading days (default {FULL['days']})")
    p.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=dt.date(2025, 1, 2),
        help="first trading day (default 2025-01-02)",
    )
    p.add_argument(
        "--latency-ms",
        type=float,
        help=f"simulated latency per source call (default {FULL['latency_ms']:g})",
    )
    p.add_argument(
        "--kills",
        type=int,
        help=f"kill points shared by the {len(KILL_SCENARIOS)} worker-kill "
        f"scenarios (default {FULL['kills']})",
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--concurrency", type=int, default=2, help="pool size each (default 2)")
    p.add_argument(
        "--lock-ttl",
        type=int,
        default=10,
        help="run-lock TTL in seconds (liveness TTL = a quarter; default 10)",
    )
    p.add_argument("--seed", type=int, default=7, help="random kill points (default 7)")
    p.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="give up on a run after this many seconds (default 300)",
    )
    p.add_argument(
        "--error-rate",
        type=float,
        help="source_faults: the share of source calls that fail (default 0.1; 0.05 with "
        "--quick, where 5 failures in a row would open the source's breaker for 120 s)",
    )
    p.add_argument(
        "--retry-failed",
        action=argparse.BooleanOptionalAction,
        help="after a source_faults run ending with failed units, POST …/retry-failed once and "
        "check the retried run (default: on, off with --quick)",
    )
    p.add_argument(
        "--results-dir",
        type=Path,
        default=DEFAULT_RESULTS,
        help="where the JSON goes (default bench/results)",
    )
    p.add_argument(
        "--keep-logs",
        type=Path,
        help="copy the services' and workers' logs here before cleaning up",
    )
    args = p.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.retry_failed is None:
        args.retry_failed = not args.quick
    chosen = (
        args.scenarios.split(",") if args.scenarios else list(QUICK if args.quick else SCENARIOS)
    )
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    args.chosen = chosen
    return args


def share_kills(total: int, chosen: list[str]) -> dict[str, int]:
    """``total`` kill points spread over the chosen worker-kill scenarios (at least one each)."""
    kinds = [s for s in KILL_SCENARIOS if s in chosen]
    if not kinds:
        return {}
    base, rest = divmod(max(total, len(kinds)), len(kinds))
    return {s: base + (1 if i < rest else 0) for i, s in enumerate(kinds)}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:g}" if isinstance(value, float) else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (a failed scenario's status is marked FAIL)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        status = r.get("status", "error") + ("" if r["ok"] else " FAIL")
        cells = (
            r["scenario"],
            status,
            r.get("lost"),
            r.get("duplicated"),
            r.get("wrong"),
            r.get("counters_ok"),
            r.get("extra_calls"),
            r.get("recovery_s"),
            r["wall_s"],
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _terminate(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the matrix; 0 when every scenario held its invariants, 1 otherwise."""
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    started = dt.datetime.now()
    began = time.perf_counter()
    params = Params(
        stocks=args.stocks,
        days=args.days,
        start=args.start,
        latency_ms=args.latency_ms,
        workers=args.workers,
        concurrency=args.concurrency,
        kills=args.kills,
        seed=args.seed,
        timeout_s=args.timeout,
        retry_failed=args.retry_failed,
        error_rate=args.error_rate,
    )
    kills = share_kills(args.kills, args.chosen)
    data_dir = make_data_dir()
    base = Settings(
        data_dir=data_dir,
        sim=SimSettings(stocks=args.stocks, seed=20240601),
        sources=("sim",),
        store="sim",
        worker_concurrency=args.concurrency,
        lock_ttl_s=args.lock_ttl,
        retry_backoff_s=0.2,
        retry_backoff_max_s=2.0,
        task_soft_time_limit_s=40,
        task_time_limit_s=50,
        visibility_timeout_s=120,
    )
    say(f"services in {data_dir}; scenarios: {', '.join(args.chosen)}")
    rows: list[dict[str, Any]] = []
    versions: dict[str, str] = {}
    lab = None
    interrupted = False
    try:
        lab = Lab.open(base, data_dir)
        versions = server_versions(lab.ctx.engine, lab.ctx.redis)
        for index, name in enumerate(args.chosen):
            rows.append(_one(lab, params, name, index, kills.get(name, 0)))
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: stopping every process and server the bench started")
    except Exception as exc:
        traceback.print_exc()
        rows.append({"scenario": "(setup)", "ok": False, "problems": [repr(exc)], "wall_s": 0.0})
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # let the cleanup finish
            signal.signal(sig, signal.SIG_IGN)
        if lab is not None:
            if args.keep_logs:
                _keep_logs(lab, args.keep_logs)
            lab.close()
        shutil.rmtree(data_dir, ignore_errors=True)
    if interrupted:
        print(table(rows))
        return 130
    document = {
        "benchmark": "chaos",
        "started_at": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - began, 1),
        "parameters": vars(params)
        | {
            "start": args.start.isoformat(),
            "kills_by_scenario": kills,
            "lock_ttl_s": args.lock_ttl,
            "quick": args.quick,
            "retry_failed": args.retry_failed,
        },
        "machine": report.machine_info() | versions,
        "code": report.code_version(REPO),
        "scenarios": rows,
    }
    print(table(rows))
    path = write_json(document, args.results_dir, started.strftime("%Y%m%d-%H%M%S"))
    print(f"\nresults: {path}  (whole matrix {document['wall_s']} s)")
    return 0 if rows and all(r["ok"] for r in rows) else 1


def _one(lab: Lab, params: Params, name: str, index: int, kills: int) -> dict[str, Any]:
    """One scenario's row; an exception is a failed row, not the end of the matrix."""
    say(f"{name}: {SCENARIOS[name].what}")
    tick = time.monotonic()
    try:
        row = run_scenario(lab, params, SCENARIOS[name], index, kills=kills)
    except Exception as exc:
        traceback.print_exc()
        row = {
            "scenario": name,
            "ok": False,
            "problems": [f"{type(exc).__name__}: {exc}"],
            "wall_s": round(time.monotonic() - tick, 1),
        }
    say(f"{name}: {'ok' if row['ok'] else 'FAILED: ' + '; '.join(row['problems'])}")
    return row


def write_json(document: dict[str, Any], directory: Path, stamp: str) -> Path:
    """Write ``document`` to ``<directory>/chaos-<stamp>.json`` and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"chaos-{stamp}.json"
    path.write_text(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n")
    return path


def _keep_logs(lab: Lab, target: Path) -> None:
    shutil.copytree(lab.log_dir, target / "logs", dirs_exist_ok=True)
    if (lab.data_dir / "calls").is_dir():
        shutil.copytree(lab.data_dir / "calls", target / "calls", dirs_exist_ok=True)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
