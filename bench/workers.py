"""Celery worker processes for the benchmark, started exactly as ``stocksync sync`` starts them,
and the in-process Celery app that dispatches to them."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import TracebackType

from celery import Celery

from cli import processes
from stocksync.config import Settings, get_settings
from stocksync.embedded import ServiceUrls, resolve_service_urls

READY_TIMEOUT_S = 90.0


class BenchFailure(RuntimeError):
    """The benchmark cannot produce a meaningful number (broken sync, dead worker, …)."""


def celery_app(settings: Settings) -> Celery:
    """The product's Celery app (``workers.app``), pointed at ``settings``' broker.

    ``workers`` reads its broker from the environment (through ``celeryconfig``) when first
    imported, so this exports ``settings.as_env()`` into ``os.environ`` first. ``settings``
    must carry resolved URLs, so that the import starts no embedded server.
    """
    if not (settings.database_url and settings.redis_url):
        raise ValueError("celery_app needs settings with resolved database and Redis URLs")
    os.environ.update(settings.as_env())
    get_settings.cache_clear()
    from workers.app import app

    broker = resolve_service_urls(settings).redis_url  # the store's Redis
    if app.conf.broker_url != broker:
        raise BenchFailure(
            f"workers.app was already configured for {app.conf.broker_url}, not {broker}"
        )
    return app


def workers_answering(app: Celery, timeout: float = 1.0) -> int:
    """How many worker processes answer a broadcast ping."""
    try:
        return len(app.control.ping(timeout=timeout) or [])
    except Exception:
        return 0


class WorkerProcess:
    """One ``celery -A workers worker -c N -O fair`` process (a context manager).

    Started with :func:`cli.processes.child_env` for ``settings`` (so e.g. the simulated
    latency comes from ``settings.sim``), in its own process group, logging to ``log_path``.
    """

    def __init__(
        self,
        settings: Settings,
        urls: ServiceUrls,
        *,
        name: str,
        log_path: Path,
        loglevel: str = "WARNING",
    ) -> None:
        self.settings = settings
        self.urls = urls
        self.name = name
        self.log_path = log_path
        self.loglevel = loglevel
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, app: Celery) -> float:
        """Start the worker and wait until it answers ping; returns the seconds that took."""
        began = time.perf_counter()
        self.proc = processes.start_worker(
            processes.child_env(self.settings, self.urls),
            concurrency=self.settings.worker_concurrency,
            name=self.name,
            log_path=self.log_path,
            loglevel=self.loglevel,
        )
        deadline = began + READY_TIMEOUT_S
        while workers_answering(app) < 1:
            self.check_alive()
            if time.perf_counter() > deadline:
                raise BenchFailure(
                    f"worker {self.name} did not answer ping within {READY_TIMEOUT_S:.0f} s\n"
                    + self.log_tail()
                )
        return time.perf_counter() - began

    def check_alive(self) -> None:
        """Raise :class:`BenchFailure` (with the log's tail) if the worker has exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchFailure(
                f"worker {self.name} exited with code {self.proc.returncode}\n" + self.log_tail()
            )

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the worker's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL (see :func:`cli.processes.stop`)."""
        if self.proc is not None:
            processes.stop(self.proc)

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
