"""Stopping the CLI as a terminal, systemd, a supervisor or ``docker stop`` does: Ctrl-C
(SIGINT to the foreground group), SIGTERM or SIGHUP to the CLI alone. Every child it started
(API, workers with their pools, beat) is gone soon after, and the API's port is free."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import requests
from e2e_support import (  # type: ignore[import-not-found]
    REPO,
    ctrl_c_stops_it,
    free_port,
    service_env,
    wait_for,
)

pytestmark = pytest.mark.e2e

STOPPED_WITHIN_S = 10  # an idle worker's warm shutdown, beat and the API take ~3 s together
GIVE_UP_AFTER_S = 60


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    def running(proc: psutil.Process) -> bool:
        try:
            return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return [p for p in processes if running(p)]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def descendants_once_up(pid: int, *, count: int) -> list[psutil.Process]:
    """The CLI's descendants once it has started them all (API, worker + pool, beat)."""

    def started() -> list[psutil.Process] | None:
        found = psutil.Process(pid).children(recursive=True)
        return found if len(found) >= count else None

    return wait_for(started, timeout=60)  # type: ignore[return-value]


def stop_leftovers(proc: subprocess.Popen[str], seen: list[psutil.Process]) -> None:
    """Leave nothing behind, whatever the test saw: the CLI, and any child it orphaned."""
    if proc.poll() is None:
        seen = [*seen, *psutil.Process(proc.pid).children(recursive=True)]
        proc.kill()
    for process in alive(seen):
        process.kill()
    proc.wait()


def send(proc: subprocess.Popen[str], how: str) -> None:
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # a terminal signals the foreground group
    else:
        os.kill(proc.pid, getattr(signal, how))  # docker stop / a supervisor: the main pid only


@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM", "SIGHUP"])
def test_up_stops_every_child_and_frees_the_port(ctx, settings, how):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--port", str(port)],
        env=service_env(settings), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True, preexec_fn=ctrl_c_stops_it,
    )  # fmt: skip
    children: list[psutil.Process] = []
    try:

        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
            except requests.ConnectionError:
                return False

        wait_for(healthy, timeout=60)
        children = descendants_once_up(proc.pid, count=5)  # API, worker + a pool of 2, beat
        assert any("beat" in c.cmdline() for c in children)
        sent_at = time.monotonic()
        send(proc, how)
        output, _ = proc.communicate(timeout=GIVE_UP_AFTER_S)
        wait_for(lambda: not alive(children) and port_is_free(port), timeout=5)
        took = time.monotonic() - sent_at
    finally:
        stop_leftovers(proc, children)
    assert proc.returncode == 0, output
    assert "stopping" in output
    assert took < STOPPED_WITHIN_S, f"stopping took {took:.1f} s"


def test_sync_stops_its_workers_on_sigterm(ctx, settings):
    slow = settings.with_overrides(sim=dataclasses.replace(settings.sim, latency_ms=400.0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "sync", "--start", "2025-01-02", "--end", "2025-03-28"],
        env=service_env(slow) | {"COLUMNS": "160"}, cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    workers: list[psutil.Process] = []
    try:
        workers = descendants_once_up(proc.pid, count=3)  # a worker and its pool of 2
        wait_for(lambda: _run_started(ctx), timeout=60)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=GIVE_UP_AFTER_S)
        wait_for(lambda: not alive(workers), timeout=5)
    finally:
        stop_leftovers(proc, workers)
    assert proc.returncode == 130, out + err
    assert "interrupted; run 1 keeps its finished units" in err


def _run_started(ctx) -> bool:
    from sqlalchemy import text

    with ctx.engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM sync_runs")).scalar())
