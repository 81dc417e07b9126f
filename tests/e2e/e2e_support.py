"""Real Celery worker processes and a real HTTP API for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from stocksync.config import Settings

REPO = Path(__file__).resolve().parents[2]


def service_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(settings.as_env())
    env["PYTHONPATH"] = str(REPO)
    return env


class Workers:
    """Starts and kills ``celery -A workers worker`` processes."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, *, concurrency: int = 2, **env_overrides: str
    ) -> subprocess.Popen[bytes]:
        env = service_env(self.settings) | env_overrides
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", f"-c{concurrency}",
             "-O", "fair", "--loglevel=INFO", "-n", f"{name}@%h", "--without-mingle",
             "--without-gossip"],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and all its pool children at once (no warm shutdown)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(settings, tmp_path)
    yield pool
    pool.stop_all()


def ctrl_c_stops_it() -> None:
    """``preexec_fn`` for a CLI a test stops with Ctrl-C: a shell that runs a command in the
    background ignores SIGINT, and every process it starts inherits that (Python then never
    turns SIGINT into KeyboardInterrupt); the CLI gets a terminal's default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_api(settings: Settings, log_dir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """Serve the real API (``python -m api.serve``) for ``settings``; its URL once it answers."""
    port = free_port()
    log = open(log_dir / "api.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.serve", "--port", str(port)],
        env=service_env(settings), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return url, proc
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError((log_dir / "api.log").read_text()[-3000:])
        time.sleep(0.2)


def stop_api(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)


@pytest.fixture
def api_url(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """The real API served over HTTP for the session's settings."""
    url, proc = start_api(settings, tmp_path)
    yield url
    stop_api(proc)


def wait_for(
    check: Callable[[], object],
    *,
    timeout: float,
    interval: float = 0.25,
    explain: Callable[[], str] | None = None,
) -> object:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds, with
    what ``explain`` says about the state then (a run's ledger, a worker's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    detail = ""
    if explain is not None:
        try:
            detail = "\n" + explain()
        except Exception as exc:  # the explanation must not hide the timeout
            detail = f"\n(no explanation: {type(exc).__name__}: {exc})"
    raise AssertionError(f"condition not met within {timeout}s{detail}")


def log_tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` of a log file (for failure messages)."""
    if not path.exists():
        return f"{path}: no such log"
    return f"--- {path.name} ---\n" + "\n".join(
        path.read_text(errors="replace").splitlines()[-lines:]
    )
