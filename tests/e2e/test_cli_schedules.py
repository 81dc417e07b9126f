"""``stocksync schedules`` as a user runs it: list, change, refuse a bad change, run now."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from e2e_support import REPO, service_env  # type: ignore[import-not-found]

from stocksync.runs import service as runs

pytestmark = pytest.mark.e2e


def stocksync(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "schedules", *args],
        env=service_env(settings) | {"COLUMNS": "200"},
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_schedules_list_set_and_run(ctx, settings):
    listed = stocksync(settings)
    assert listed.returncode == 0, listed.stderr
    assert "30 17 * * 1-5" in listed.stdout and "Asia/Shanghai" in listed.stdout

    body = '{"start_date": "2025-03-03", "end_date": "2025-03-04", "sources": ["sim"]}'
    changed = stocksync(settings, "set", "weekly", "--cron", "0 3 * * 2", "--disable",
                        "--body", body, "--json")  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    view = json.loads(changed.stdout)
    assert (view["cron"], view["enabled"], view["next_run_at"]) == ("0 3 * * 2", False, None)
    shown = {s["name"]: s for s in json.loads(stocksync(settings, "--json").stdout)}
    assert shown["weekly"]["body"]["sources"] == ["sim"] and not shown["weekly"]["enabled"]

    bad = stocksync(settings, "set", "weekly", "--cron", "0 3 * *")
    assert bad.returncode == 2 and "it needs five" in bad.stderr
    unknown = stocksync(settings, "set", "hourly", "--enable")
    assert unknown.returncode == 2 and "schedule 'hourly' does not exist" in unknown.stderr

    ran = stocksync(settings, "run", "weekly", "--json")  # run now works while disabled
    assert ran.returncode == 0, ran.stderr
    outcome = json.loads(ran.stdout)
    assert outcome["outcome"] == "started"
    assert runs.run_view(ctx, outcome["run_id"])["trigger"] == "schedule:weekly"
    again = stocksync(settings, "run", "weekly")  # its run is still active: recorded, exit 3
    assert again.returncode == 3 and f"run {outcome['run_id']} was active" in again.stdout
