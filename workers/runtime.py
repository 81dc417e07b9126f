"""One stocksync Context per worker process, built after fork and never shared across it, and
the process's liveness heartbeat (one thread per process, started with its first unit)."""

from __future__ import annotations

import os

from celery.signals import worker_process_init, worker_process_shutdown

from stocksync.config import get_settings
from stocksync.context import Context, build_context
from stocksync.coordination.liveness import ProcessBeat

_context: Context | None = None
_pid: int | None = None
_beat: ProcessBeat | None = None


def get_context() -> Context:
    """This process's Context (database engine, Redis client, sources)."""
    global _context, _pid
    if _context is None or _pid != os.getpid():
        _context = build_context(get_settings(), migrate=False)
        _pid = os.getpid()
    return _context


def claimer() -> str:
    """This process's identity on the units it claims, kept alive in Redis from now on (a
    Redis error when Redis is out of reach: nothing is claimed then)."""
    global _beat
    if _beat is None or _beat.pid != os.getpid():
        _beat = ProcessBeat(get_context().liveness).start()
    return _beat.identity


@worker_process_init.connect
def _fresh_context_after_fork(**_: object) -> None:
    global _context, _pid, _beat
    _context, _pid, _beat = None, None, None  # the parent's engine and sockets must not be reused


@worker_process_shutdown.connect
def _close_context(**_: object) -> None:
    if _beat is not None and _beat.pid == os.getpid():
        _beat.stop()  # a clean exit: its units are finished or handed back
    if _context is not None and _pid == os.getpid():
        _context.close()
