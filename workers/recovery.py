"""Taking back up a run whose every worker died, or whose queue and lock Redis lost.

When a worker starts, and then every lock TTL while it runs, it checks for a run left pending or
running in PostgreSQL whose active-run lock lapsed (all its workers died, or Redis restarted
without its data) and resumes it: its unfinished units are enqueued again and its counters
rebuilt from the ledger. A sweep is cheap (one Redis GET while a run is healthy).
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown

from stocksync.runs.control import recover_stale_runs
from workers.app import app
from workers.dispatch import CeleryDispatcher
from workers.runtime import get_context

log = logging.getLogger(__name__)
_stop = threading.Event()


def sweep() -> list[int]:
    """One recovery check; never raises (Redis may be down right now)."""
    try:
        resumed = recover_stale_runs(get_context(), CeleryDispatcher(app))
    except Exception as exc:
        log.warning("could not check for interrupted runs: %s", exc)
        return []
    for run_id in resumed:
        log.warning("run %s was interrupted (its lock lapsed): resumed it", run_id)
    return resumed


def _sweep_forever(interval_s: float) -> None:
    while not _stop.wait(interval_s):
        sweep()


@worker_ready.connect
def _start(**_: object) -> None:
    sweep()
    interval = max(1.0, float(get_context().settings.lock_ttl_s))
    threading.Thread(
        target=_sweep_forever, args=(interval,), name="stocksync-recovery", daemon=True
    ).start()


@worker_shutdown.connect
def _shutdown(**_: object) -> None:
    _stop.set()
