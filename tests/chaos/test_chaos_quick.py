"""The chaos matrix's CI subset (``python -m bench.chaos --quick``) on a tiny market: a pool
child SIGKILLed mid-run, 50 racing triggers, and a flaky, corrupting, rate-limited source —
each run ends with exactly the truth's rows and the same counters everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
QUICK = ["kill_pool_child", "racing_triggers", "source_faults"]


def test_quick_chaos_subset_holds_every_invariant(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKSYNC_")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--quick", "--results-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, output

    (path,) = tmp_path.glob("chaos-*.json")
    rows = {row["scenario"]: row for row in json.loads(path.read_text())["scenarios"]}
    assert list(rows) == QUICK
    for name, row in rows.items():
        assert row["ok"], (name, row["problems"])
        assert (row["lost"], row["duplicated"], row["wrong"]) == (0, 0, 0), name
        assert row["counters_ok"], (name, row["counters"])
        counters = row["counters"]
        assert counters["run_row"] == counters["ledger"] == counters["redis"] == counters["api"]
        for table in ("bars", "adj_factors", "valuations"):
            seen = row["rows"][table]  # rows of failed units (source_faults) are "unsynced"
            assert seen["stored"] + seen["unsynced"] == seen["expected"] > 0, (name, table)
        assert row["calls"]["needed"] > 0

    kill = rows["kill_pool_child"]
    assert kill["status"] == "success" and len(kill["faults"]) == 1
    assert kill["recovery_s"] is not None
    assert rows["racing_triggers"]["facts"]["replies"] == {"202": 1, "409": 49}
    faults = rows["source_faults"]
    assert faults["status"] in ("success", "success_with_errors")
    calls = faults["calls"]  # (how many calls fail or get corrupted is random: not asserted)
    assert calls["answered"] == calls["needed"] + calls["extra"] >= calls["needed"]
    if calls["by_outcome"].get("TransientSourceError"):
        assert faults["extra_calls"] > 0  # a failed call was made again
    assert "| scenario | status |" in proc.stdout
