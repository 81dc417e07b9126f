"""The ingest benchmark runs end to end (``--quick``) and writes its results; no timings are
asserted — only that every phase produced its numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PHASES = {
    "generate", "validate", "raw_ingest", "raw_rerun", "generate_by_stock",
    "raw_ingest_by_stock", "e2e_0ms", "e2e_by_stock", "e2e_latency",
}  # fmt: skip


def test_quick_benchmark_exits_0_and_writes_its_results(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKSYNC_")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.ingest", "--quick", "--results-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "e2e / raw" in proc.stdout

    (path,) = tmp_path.glob("ingest-*.json")
    results = json.loads(path.read_text())
    assert {"benchmark", "parameters", "machine", "phases", "summary", "definitions"} <= set(
        results
    )
    assert set(results["phases"]) == PHASES
    assert results["parameters"]["quick"] is True
    assert {"cpu_count", "python", "postgresql", "redis"} <= set(results["machine"])

    phases, summary = results["phases"], results["summary"]
    bars = phases["generate"]["bars"]
    assert bars > 0
    for name in ("e2e_0ms", "e2e_by_stock", "e2e_latency"):
        assert phases[name]["bars"] == bars and phases[name]["units"] > 0
    assert phases["raw_rerun"]["rows_written"] == 0
    assert phases["e2e_by_stock"]["units"] > phases["e2e_0ms"]["units"]
    assert summary["e2e_raw_ratio"] > 0
    for key in ("units_per_s", "bars_per_s", "by_stock_units_per_s", "latency_units_per_s"):
        assert summary[key] > 0
