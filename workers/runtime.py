"""One stocksync Context per worker process, built after fork and never shared across it."""

from __future__ import annotations

import os

from celery.signals import worker_process_init, worker_process_shutdown

from stocksync.config import get_settings
from stocksync.context import Context, build_context

_context: Context | None = None
_pid: int | None = None


def get_context() -> Context:
    """This process's Context (database engine, Redis client, sources)."""
    global _context, _pid
    if _context is None or _pid != os.getpid():
        _context = build_context(get_settings(), migrate=False)
        _pid = os.getpid()
    return _context


@worker_process_init.connect
def _fresh_context_after_fork(**_: object) -> None:
    global _context, _pid
    _context, _pid = None, None  # the parent's engine and sockets must not be reused


@worker_process_shutdown.connect
def _close_context(**_: object) -> None:
    if _context is not None and _pid == os.getpid():
        _context.close()
