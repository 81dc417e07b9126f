"""When a worker starts, it takes back up a run whose every worker died (its lock lapsed)."""

from __future__ import annotations

import logging

from celery.signals import worker_ready

from stocksync.control import recover_stale_runs
from workers.app import app
from workers.dispatch import CeleryDispatcher
from workers.runtime import get_context

log = logging.getLogger(__name__)


@worker_ready.connect
def _recover(**_: object) -> None:
    try:
        resumed = recover_stale_runs(get_context(), CeleryDispatcher(app))
    except Exception:  # never keep a worker from starting
        log.exception("could not check for interrupted runs")
        return
    for run_id in resumed:
        log.warning("run %s was interrupted (its lock lapsed): resumed it", run_id)
