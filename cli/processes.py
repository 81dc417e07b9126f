"""Child processes the CLI starts: Celery workers, beat and the API server.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the CLI, which
then stops its children in order (warm shutdown first). Every child started here is remembered,
and :func:`stop_all` stops the ones still running: ``cli.main`` calls it however the command
ends, so no child outlives the CLI (unless the CLI itself is SIGKILLed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from stocksync.config import Settings, current_environment
from stocksync.embedded import ServiceUrls

REPO_ROOT = Path(__file__).resolve().parents[1]

_started: list[subprocess.Popen[bytes]] = []


def _remember(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    _started.append(proc)
    return proc


def child_env(settings: Settings, urls: ServiceUrls) -> dict[str, str]:
    """Environment for children: same settings and store, pointed at the already-resolved
    services (the main store's URLs, from which a child in the sim store derives its own)."""
    env = current_environment()
    env.update(settings.as_env())
    env["STOCKSYNC_STORE"] = urls.store
    env["STOCKSYNC_DATABASE_URL"] = urls.main_database_url
    env["STOCKSYNC_REDIS_URL"] = urls.main_redis_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def start_worker(
    env: Mapping[str, str], *, concurrency: int, name: str, log_path: Path, loglevel: str = "INFO"
) -> subprocess.Popen[bytes]:
    """Start ``celery -A workers worker`` in its own process group, logging to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
    cmd = [
        sys.executable, "-m", "celery", "-A", "workers", "worker",
        f"--concurrency={concurrency}", "-O", "fair", f"--loglevel={loglevel}",
        "-n", f"{name}@%h", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    return _remember(subprocess.Popen(
        cmd, env=dict(env), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    ))  # fmt: skip


def start_workers(
    settings: Settings, urls: ServiceUrls, *, count: int, role: str, loglevel: str = "INFO"
) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker processes for this CLI command (named after ``role``)."""
    env = child_env(settings, urls)
    return [
        start_worker(
            env,
            concurrency=settings.worker_concurrency,
            name=f"stocksync-{role}-{n}",
            log_path=worker_log(settings),
            loglevel=loglevel,
        )
        for n in range(count)
    ]


def worker_log(settings: Settings) -> Path:
    return settings.data_dir / "logs" / "worker.log"


def beat_log(settings: Settings) -> Path:
    return settings.data_dir / "logs" / "beat.log"


def start_beat(
    settings: Settings, urls: ServiceUrls, *, loglevel: str = "INFO"
) -> subprocess.Popen[bytes]:
    """Start ``celery -A workers beat`` with stocksync's scheduler (the schedules stored in the
    database; only one beat process acts however many run), logging to ``beat_log``."""
    log_path = beat_log(settings)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
    cmd = [
        sys.executable, "-m", "celery", "-A", "workers", "beat",
        "-S", "workers.beat:StocksyncScheduler", f"--loglevel={loglevel}",
    ]  # fmt: skip
    return _remember(subprocess.Popen(
        cmd, env=child_env(settings, urls), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    ))  # fmt: skip


def start_api(env: Mapping[str, str], *, host: str, port: int) -> subprocess.Popen[bytes]:
    """Start ``python -m api.serve`` in its own process group; it logs to the CLI's output."""
    cmd = [sys.executable, "-m", "api.serve", "--host", host, "--port", str(port)]
    return _remember(subprocess.Popen(cmd, env=dict(env), cwd=REPO_ROOT, start_new_session=True))


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 20.0) -> None:
    """Warm shutdown (SIGTERM to the process group), then SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        time.sleep(0.1)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def stop_all(*, timeout: float = 20.0) -> None:
    """:func:`stop` every child started by this process that is still running, newest first
    (beat and workers before the API they were started after)."""
    while _started:
        stop(_started.pop(), timeout=timeout)
