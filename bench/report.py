"""The benchmark's output: a table on stdout and a JSON file with every number."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory, OS and Python of this machine (server versions are added by
    the caller)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def code_version(repo: Path) -> dict[str, Any]:
    """The checkout's commit and whether tracked files differ from it (best effort)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def load_average() -> list[float]:
    """The 1/5/15-minute load averages (other work on the machine skews timings)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def write_json(
    results: Mapping[str, Any], directory: Path, stamp: str, *, prefix: str = "ingest"
) -> Path:
    """Write ``results`` to ``<directory>/<prefix>-<stamp>.json`` and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{prefix}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return path


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}"
    return f"{text} {unit}".rstrip()


def _rows(results: Mapping[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    ph = results["phases"]
    rows = []
    for key, label in (
        ("generate", "generate (bars_for_date, in-process)"),
        ("validate", "validate (in-process)"),
        ("raw_ingest", "raw COPY+merge, 1 txn/date"),
        ("raw_rerun", "raw rerun (update-only)"),
        ("generate_by_stock", "generate (bars_for_code, in-process)"),
        ("raw_ingest_by_stock", "raw COPY+merge, 1 txn/stock"),
        ("e2e_0ms", "end to end, per date, 0 ms"),
        ("e2e_by_stock", "end to end, per stock, 0 ms"),
        ("e2e_latency", f"end to end, per date, {results['parameters']['latency_ms']:g} ms"),
    ):
        p = ph.get(key)
        if p is None:
            continue
        rows.append(
            (
                label,
                _fmt(p["units"]),
                _fmt(p["bars"]),
                _fmt(p["seconds"], "s"),
                _fmt(p["units_per_s"]),
                _fmt(p["bars_per_s"]),
            )
        )
    return rows


def print_table(results: Mapping[str, Any], out: TextIO = sys.stdout) -> None:
    """The phases as a table, then the derived numbers with their definitions."""
    params, machine, summary = results["parameters"], results["machine"], results["summary"]
    print(
        f"\nstocksync ingest benchmark — {params['stocks']} stocks × {params['days']} trading days "
        f"({params['start_date']} … {params['end_date']}), {params['slots']} worker slots, "
        f"{params['services']} services",
        file=out,
    )
    print(
        f"machine: {machine['cpu_count']} cores ({machine['cpu_model']}), Python "
        f"{machine['python']}, PostgreSQL {machine['postgresql']}, Redis {machine['redis']}; "
        f"load avg {machine['load_avg_start']} → {machine['load_avg_end']}\n",
        file=out,
    )
    header = ("phase", "units", "bars", "time", "units/s", "bars/s")
    rows = [header, *_rows(results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
    print("", file=out)
    for key, label, unit in (
        ("e2e_raw_ratio", "e2e / raw bars/s (per date, 0 ms)   ← headline", "×"),
        ("overhead_s_per_unit", "overhead per unit (per date, 0 ms)", "s"),
        ("create_run_s", "create_run (plan + ledger + dispatch)", "s"),
        ("by_stock_e2e_raw_ratio", "e2e / raw bars/s (per stock, 0 ms)", "×"),
        ("by_stock_overhead_s_per_unit", "overhead per unit (per stock, 0 ms)", "s"),
        ("by_stock_create_run_s", "create_run, per-stock plan", "s"),
        ("latency_ideal_units_per_s", "ideal units/s at latency (slots ÷ latency)", ""),
        ("latency_efficiency", "units/s at latency ÷ ideal", "×"),
        ("latency_added_s_per_unit_per_slot", "latency added per unit per slot", "s"),
    ):
        print(f"  {label:<48} {_fmt(summary.get(key), unit)}", file=out)
    print("\ndefinitions:", file=out)
    for key, text in results["definitions"].items():
        print(
            textwrap.fill(f"{key}: {text}", 100, initial_indent="  ", subsequent_indent="    "),
            file=out,
        )
