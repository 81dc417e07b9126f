"""One stocksync Context per worker process, built after fork and never shared across it, and
the processes' liveness heartbeats (one thread per process: a pool process's from its first
unit, the main process's from when the worker is ready). The main process also records which
units' messages it holds, so that they are enqueued again if it dies."""

from __future__ import annotations

import logging
import os

from celery.signals import worker_init, worker_process_init, worker_process_shutdown

from stocksync.config import get_settings
from stocksync.context import Context, build_context
from stocksync.coordination.liveness import ProcessBeat, process_identity

log = logging.getLogger(__name__)
_context: Context | None = None
_pid: int | None = None
_beat: ProcessBeat | None = None
# The worker's main process, named before the pool forks (so its children know it too).
_worker_identity: str | None = None
_worker_beat: ProcessBeat | None = None


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


def start_worker_beat() -> None:
    """Beat the main process's liveness (again after a failed start); never raises."""
    global _worker_beat
    if _worker_identity is None or (_worker_beat is not None and _worker_beat.pid == os.getpid()):
        return
    try:
        _worker_beat = ProcessBeat(get_context().liveness, _worker_identity).start()
    except Exception as exc:  # Redis out of reach: the next sweep tries again
        log.warning("could not start the worker's liveness heartbeat: %s", exc)


def stop_worker_beat() -> None:
    if _worker_beat is not None and _worker_beat.pid == os.getpid():
        _worker_beat.stop()


def hold(item_id: int) -> None:
    """The main process received a message for ``item_id``; never raises."""
    if _worker_identity is None:
        return
    ctx = get_context()
    try:
        ctx.liveness.hold(_worker_identity, item_id, for_s=ctx.settings.visibility_timeout_s)
    except Exception as exc:
        log.warning("could not record the message held for item %s: %s", item_id, exc)


def let_go(item_id: int) -> None:
    """A pool process is done with a message for ``item_id`` (acknowledged or retried)."""
    if _worker_identity is None:
        return
    try:
        get_context().liveness.let_go(_worker_identity, item_id)
    except Exception as exc:
        log.warning("could not record the message for item %s as done: %s", item_id, exc)


@worker_init.connect
def _name_the_worker(**_: object) -> None:
    global _worker_identity
    _worker_identity = process_identity()


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
