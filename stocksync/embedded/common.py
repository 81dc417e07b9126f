"""Helpers shared by the embedded PostgreSQL and Redis: the data-dir lock, process checks, logs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from stocksync.errors import ServiceUnavailable

LOCK_NAME = ".services.lock"
LOCK_TIMEOUT_S = 120.0

# How a user starts the embedded servers by hand; used in "not running" errors.
START_HINT = "run `stocksync services start` (or any stocksync command that starts them)"


def ensure_writable_dir(path: Path, what: str = "data directory") -> None:
    """Create ``path`` (and parents) if missing; raise ``ServiceUnavailable`` if that fails or
    the directory cannot be written to."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ServiceUnavailable(_not_writable(path, what, exc)) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise ServiceUnavailable(_not_writable(path, what, None))


def _not_writable(path: Path, what: str, exc: OSError | None) -> str:
    why = f" ({exc.strerror or exc})" if exc is not None else ""
    return (
        f"the {what} {path} is not writable{why}; "
        "set STOCKSYNC_DATA_DIR to a directory you can write to"
    )


@contextlib.contextmanager
def services_lock(data_dir: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``data_dir/.services.lock`` for the block.

    Every stocksync process takes it around "is the server running? if not, start it" and
    around stopping, so concurrent processes never start two servers on one data dir. The
    data dir is created if needed. Raises ``ServiceUnavailable`` if it is not writable or the
    lock is not granted within ``timeout_s``.
    """
    ensure_writable_dir(data_dir)
    lock_path = data_dir / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ServiceUnavailable(_not_writable(data_dir, "data directory", exc)) from exc
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        f"another stocksync process has held {lock_path} for over "
                        f"{timeout_s:.0f}s while starting or stopping the embedded servers"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def read_int(path: Path) -> int | None:
    """The integer in the first line of ``path``, or None if missing or not a number."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def live_process(pid: int | None, name_prefix: str, cwd: Path | None) -> psutil.Process | None:
    """The process ``pid`` if it is alive (not a zombie), its name starts with ``name_prefix``
    and (unless ``cwd`` is None) its working directory is ``cwd``; None otherwise.

    Both servers chdir into their data directory, so the cwd check tells *our* server apart
    from an unrelated process that got a recycled pid.
    """
    if pid is None or pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if not proc.name().startswith(name_prefix):
            return None
        if cwd is not None and Path(proc.cwd()).resolve() != cwd.resolve():
            return None
    except (psutil.Error, OSError):
        return None
    return proc


def processes_in(cwd: Path, name_prefix: str) -> list[psutil.Process]:
    """Live processes named ``name_prefix*`` whose working directory is ``cwd``."""
    found = []
    target = cwd.resolve()
    for proc in psutil.process_iter(["name"]):
        try:
            name = proc.info["name"] or ""
            if not name.startswith(name_prefix) or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if Path(proc.cwd()).resolve() == target:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def wait_gone(proc: psutil.Process, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``proc`` to exit; True if it did.

    A zombie counts as gone: daemons are reparented to pid 1, which may reap them late.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            # is_running() is False for a recycled pid too (it compares create times)
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.Error:  # NoSuchProcess
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def log_tail(path: Path, lines: int = 20, *, since: int = 0) -> str:
    """The last ``lines`` lines of the log at ``path`` (from byte ``since`` on), for errors."""
    try:
        with path.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror or exc})"
    tail = text.rstrip("\n").splitlines()[-lines:]
    if not tail:
        return f"({path} is empty)"
    return "\n".join(tail)


def file_size(path: Path) -> int:
    """Size of ``path`` in bytes, 0 if it does not exist."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
