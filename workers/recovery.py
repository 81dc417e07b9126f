"""Taking back up work that died with the processes doing it.

When a worker starts, and then three times per liveness TTL while it runs (a quarter of the lock
TTL: every 5 s by default), it sweeps (:func:`stocksync.runs.recovery.recover`): a run left
pending or running whose active-run lock lapsed (all its workers died, or Redis restarted
without its data) is resumed — its unfinished units enqueued again, its counters rebuilt from
the ledger — and the units that a dead worker process left running in the active run are put
back to pending and enqueued again — with the pending units whose messages a dead worker held —
while the other workers carry on. A sweep is cheap (a few
Redis reads while all is well).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import task_received, worker_ready, worker_shutdown

from stocksync.runs.recovery import Recovered, recover, sweep_interval_s
from workers import runtime
from workers.app import app
from workers.dispatch import CeleryDispatcher
from workers.runtime import get_context

log = logging.getLogger(__name__)
_stop = threading.Event()


def sweep() -> Recovered:
    """One recovery check; never raises (Redis may be down right now)."""
    try:
        done = recover(get_context(), CeleryDispatcher(app))
    except Exception as exc:
        log.warning("could not check for interrupted runs: %s", exc)
        return Recovered()
    for run_id in done.resumed:
        log.warning("run %s was interrupted (its lock lapsed): resumed it", run_id)
    if done.dead:
        log.warning(
            "worker process(es) %s died: requeued %d unit(s) of run %s they left running or unrun",
            ", ".join(done.dead), len(done.requeued), done.run_id,
        )  # fmt: skip
    return done


def _sweep_forever(interval_s: float) -> None:
    while not _stop.wait(interval_s):
        runtime.start_worker_beat()  # if it could not start yet
        sweep()


@task_received.connect
def _holding(request: Any, **_: object) -> None:
    """The main process holds a unit's message from now until a pool process is done with it."""
    if request.name == "stocksync.sync_unit":
        item_id = request.kwargs.get("item_id", request.args[0] if request.args else None)
        if item_id is not None:
            runtime.hold(int(item_id))


@worker_ready.connect
def _start(**_: object) -> None:
    runtime.start_worker_beat()
    sweep()
    interval = sweep_interval_s(get_context().settings)
    threading.Thread(
        target=_sweep_forever, args=(interval,), name="stocksync-recovery", daemon=True
    ).start()


@worker_shutdown.connect
def _shutdown(**_: object) -> None:
    _stop.set()
    runtime.stop_worker_beat()
