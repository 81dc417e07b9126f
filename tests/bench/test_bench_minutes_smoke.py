"""The minute-bar benchmark runs end to end (``--quick``) and writes its results; no timings
are asserted — only that it exits 0 and that every number is in the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SUMMARY = {
    "ingest_ratio", "dataset_write_rows_per_s", "raw_write_rows_per_s", "rows_per_s",
    "e2e_raw_ratio", "e2e_seconds", "create_run_s", "short_rows_per_s", "short_e2e_raw_ratio",
    "rss_short_pool_peak_mib", "rss_long_pool_peak_mib", "rss_long_short_ratio",
    "rss_short_total_mib", "rss_long_total_mib",
}  # fmt: skip


def test_quick_minute_benchmark_exits_0_and_writes_its_results(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKSYNC_")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.minutes", "--quick", "--results-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "BENCHMARK FAILED" not in proc.stdout + proc.stderr
    assert "ingest: dataset write / raw" in proc.stdout

    (path,) = tmp_path.glob("minutes-*.json")
    results = json.loads(path.read_text())
    assert {"benchmark", "parameters", "machine", "phases", "summary", "definitions"} <= set(
        results
    )
    assert results["benchmark"] == "minutes"
    params = results["parameters"]
    assert params["quick"] is True
    assert {"cpu_count", "python", "postgresql", "redis"} <= set(results["machine"])

    phases, summary = results["phases"], results["summary"]
    short, long = f"e2e_{params['short_days']}d", f"e2e_{params['days']}d"
    assert {"generate", "check", "dataset_write", "raw_write", short, long} <= set(phases)
    rows = phases["generate"]["rows"]
    assert rows > 0
    assert phases[long]["rows"] == rows and phases[long]["units"] == params["days"]
    assert phases[short]["units"] == params["short_days"]
    for name in ("dataset_write", "raw_write"):
        assert phases[name]["rows"] > 0 and phases[name]["rows_per_s"] > 0
    for name in (short, long):
        assert phases[name]["rows_per_s"] > 0 and phases[name]["e2e_raw_ratio"] > 0
        assert phases[name]["memory"]["pool_processes"] >= 1
    for key in SUMMARY:
        value = summary[key]
        assert isinstance(value, int | float) and value > 0, (key, value)
