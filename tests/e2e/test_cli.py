"""The ``stocksync`` command as a user runs it: real processes end to end."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from e2e_support import REPO, service_env  # type: ignore[import-not-found]

pytestmark = pytest.mark.e2e


def stocksync(settings, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=service_env(settings) | {"COLUMNS": "160"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_sync_starts_its_own_workers_shows_progress_and_exits_0(ctx, settings, oracle):
    result = stocksync(settings, "sync", "--start", "2025-03-03", "--end", "2025-03-07",
                       "--periods", "daily,weekly")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started 1 local worker process" in result.stderr
    assert "run 1: 6 units (6 to do, 0 already synced)" in result.stderr
    assert "100%" in result.stdout and "success" in result.stdout
    days = oracle.trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 7))
    assert len(oracle.stored(ctx.engine)) == len(oracle.expected(days)) + len(
        oracle.expected([days[-1]], "weekly")
    )

    again = stocksync(settings, "sync", "--start", "2025-03-03", "--end", "2025-03-07", "--json")
    assert again.returncode == 0
    assert '"skipped": 5' in again.stdout and '"status": "success"' in again.stdout

    status = stocksync(settings, "status")
    assert status.returncode == 0 and "2025-03-03 → 2025-03-07" in status.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--start", "2025-03-10", "--end", "2025-03-01"), "is after end_date"),
        (
            ("--start", "2025-03-03", "--end", "2025-03-05", "--symbols", "12345"),
            "not a stock code",
        ),
        (("--start", "2025-03-03", "--end", "2025-03-05", "--source", "yahoo"), "unknown source"),
        (("--start", "yesterday", "--end", "2025-03-05"), "not a valid date"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_starts_nothing(ctx, settings, args, message):
    result = stocksync(settings, "sync", *args, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert "started" not in result.stderr


def test_dry_run_previews_the_plan(ctx, settings):
    result = stocksync(settings, "sync", "--start", "2025-03-03", "--end", "2025-03-05",
                       "--dry-run", "--json", timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"units": 3' in result.stdout and '"expected_calls": 3' in result.stdout
