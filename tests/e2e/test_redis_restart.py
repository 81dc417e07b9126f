"""Redis dies mid-run and comes back empty (no queue, no lock, no counters): the API keeps
answering from the database meanwhile, the workers reconnect, a worker's recovery sweep
resumes the run, and it ends with exactly the oracle's bars and consistent progress."""

from __future__ import annotations

import datetime as dt
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from e2e_support import (  # type: ignore[import-not-found]
    Workers,
    free_port,
    start_api,
    stop_api,
    wait_for,
)

from stocksync.embedded.redis_server import redis_binary

pytestmark = pytest.mark.e2e

START, END = dt.date(2025, 1, 2), dt.date(2025, 2, 28)
SLOW = {"STOCKSYNC_SIM_LATENCY_MS": "300"}


class DisposableRedis:
    """A redis-server of the test's own, without persistence: a restart loses everything."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log = log_dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(redis_binary()), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        wait_for(lambda: _answers(self.port), timeout=10)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_redis_restarted_empty_mid_run_progress_recovers(ctx, settings, tmp_path, oracle):
    redis_server = DisposableRedis(tmp_path)
    redis_server.start()
    own = settings.with_overrides(redis_url=redis_server.url, lock_ttl_s=4)
    workers = Workers(own, tmp_path)
    api = None
    try:
        workers.start("w", **SLOW)
        url, api = start_api(own, tmp_path)

        def view() -> dict:
            return requests.get(f"{url}/api/v1/runs/{run_id}", timeout=10).json()

        created = requests.post(
            f"{url}/api/v1/runs",
            json={"start_date": START.isoformat(), "end_date": END.isoformat()},
            timeout=60,
        ).json()
        run_id = created["run_id"]
        days = oracle.trading_days(START, END)
        wait_for(lambda: view()["done"] >= 5, timeout=60)
        assert view()["total"] == len(days) > 30

        redis_server.kill()  # queue, lock, progress counters: all gone
        during = view()  # the API answers from the ledger while Redis is down
        assert during["status"] == "running" and 5 <= during["done"] < len(days)
        time.sleep(2)
        redis_server.start()  # back, empty

        final = wait_for(
            lambda: (v := view())["status"] not in ("planning", "running", "pending") and v,
            timeout=150,
        )
        assert final["status"] == "success", final
        assert (final["done"], final["success"], final["failed"]) == (len(days),) * 2 + (0,)
        assert final["percent"] == 100.0
        stored = oracle.stored(ctx.engine)
        assert len(stored) == len(oracle.expected(days))  # none lost, none duplicated
        assert set(stored) == oracle.expected(days)
        assert "resumed" in (tmp_path / "w.log").read_text()
    finally:
        workers.stop_all()
        if api is not None:
            stop_api(api)
        if redis_server.proc and redis_server.proc.poll() is None:
            redis_server.kill()
