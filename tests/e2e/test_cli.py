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
    assert '"units": 3' in result.stdout and '"expected_calls": 9' in result.stdout  # 3 datasets


def test_up_serves_the_api_with_workers_and_stops_cleanly_on_ctrl_c(ctx, settings):
    import contextlib
    import os
    import signal
    import socket

    import psutil
    import requests
    from e2e_support import ctrl_c_stops_it, wait_for  # type: ignore[import-not-found]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--port", str(port)],
        env=service_env(settings), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True, preexec_fn=ctrl_c_stops_it,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    children: list[psutil.Process] = []
    try:

        def healthy():
            try:
                return requests.get(f"{base}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(healthy, timeout=60)
        run = requests.post(f"{base}/api/v1/runs", json={"start_date": "2025-03-03",
                            "end_date": "2025-03-04"}, timeout=30).json()  # fmt: skip
        done = wait_for(
            lambda: (
                (v := requests.get(f"{base}{run['link']}", timeout=5).json())["status"] == "success"
                and v
            ),
            timeout=90,
        )
        assert done["success"] == 2
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 3  # the API server, a worker (with its pool) and beat
        assert any("beat" in c.cmdline() for c in children)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # leave nothing to take the next tests' units
            for process in [*children, *psutil.Process(proc.pid).children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            proc.kill()
            output, _ = proc.communicate()
            raise AssertionError(
                f"stocksync up did not stop on Ctrl-C:\n{output[-3000:]}"
            ) from None
    assert proc.returncode == 0, output
    assert "stocksync is up" in output and "stopping" in output
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_every_steering_command_speaks_json_for_scripts(ctx, settings):
    import json

    def run_json(*args: str) -> dict:
        result = stocksync(settings, *args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    first = run_json("sync", "--start", "2025-03-03", "--end", "2025-03-05")
    incremental = run_json("sync", "--kind", "incremental", "--end", "2025-03-07",
                           "--datasets", "bars")  # fmt: skip
    assert incremental["kind"] == "incremental"
    assert incremental["spec"]["start_date"] == "2025-03-06"  # after the last stored bar
    assert (incremental["status"], incremental["total"]) == ("success", 2)

    listing = run_json("runs")
    assert [r["id"] for r in listing["items"]] == [incremental["id"], first["id"]]
    dates = run_json("status", str(first["id"]), "--dates")
    assert [d["date"] for d in dates["dates"]] == ["2025-03-03", "2025-03-04", "2025-03-05"]
    assert run_json("status", str(first["id"]), "--items", "success")["total"] == 3
    assert run_json("reset", str(first["id"]))["reset"] == 0
    covered = run_json("stats", "--coverage", "--start", "2025-03-03", "--end", "2025-03-07")
    assert [d["trade_date"] for d in covered["dates"]][:3] == ["2025-03-03", "2025-03-04",
                                                               "2025-03-05"]  # fmt: skip
    days = run_json("calendar", "--start", "2025-03-03", "--end", "2025-03-07")
    assert days["trading_days"] == [f"2025-03-0{d}" for d in range(3, 8)]
    assert run_json("universe", "--date", "2025-03-05")["count"] > 0
    assert run_json("clear", str(first["id"])) == {"run_id": first["id"], "deleted_items": 3}
    gone = stocksync(settings, "status", str(first["id"]))
    assert gone.returncode == 2 and "does not exist" in gone.stderr

    too_long = stocksync(settings, "sync", "--start", "2025-01-01", "--end", "2025-06-30")
    assert too_long.returncode == 2 and "covers 181 days" in too_long.stderr
