"""Watch a run's view and report what a live stream should send: the view at once, the view
again whenever it changes, a keepalive when nothing changed for a while, and an end once the run
reached a final status.

Transport-agnostic (the API turns these events into server-sent events) and clock-injectable, so
the timing rules are tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from stocksync.domain import RUN_ACTIVE_STATUSES

View = dict[str, Any]
EventKind = Literal["progress", "keepalive", "end"]

# Fields that move with the clock alone; a change in them is not news worth an event.
VOLATILE_FIELDS = frozenset({"eta_s"})


@dataclass(frozen=True)
class StreamEvent:
    """One thing to send: ``progress`` and ``end`` carry the run's view, ``keepalive`` none."""

    kind: EventKind
    view: View | None = None


def is_final(view: View) -> bool:
    """True when the run can no longer change by itself (not pending, running or paused)."""
    return view["status"] not in {status.value for status in RUN_ACTIVE_STATUSES}


def _fingerprint(view: View) -> View:
    return {key: value for key, value in view.items() if key not in VOLATILE_FIELDS}


def watch_run(
    fetch: Callable[[], View],
    *,
    interval_s: float = 0.5,
    keepalive_s: float = 15.0,
    max_duration_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[StreamEvent]:
    """Events for a run whose current view ``fetch`` returns.

    Yields ``progress`` with the first view immediately, then polls every ``interval_s`` and
    yields ``progress`` only when the view changed (ignoring :data:`VOLATILE_FIELDS`), or
    ``keepalive`` when nothing was sent for ``keepalive_s``. When the view has a final status it
    yields ``end`` with that view and stops. After ``max_duration_s`` it stops without ``end``
    (a client reconnects and gets the current view). Errors from ``fetch`` propagate; the first
    ``fetch`` runs on the first ``next()``, so a caller can surface "no such run" before
    streaming.
    """
    started = clock()
    view = fetch()
    last = _fingerprint(view)
    last_sent = clock()
    yield StreamEvent("progress", view)
    while not is_final(view):
        if max_duration_s is not None and clock() - started >= max_duration_s:
            return
        sleep(interval_s)
        view = fetch()
        current = _fingerprint(view)
        if current != last:
            last, last_sent = current, clock()
            yield StreamEvent("progress", view)
        elif clock() - last_sent >= keepalive_s:
            last_sent = clock()
            yield StreamEvent("keepalive")
    yield StreamEvent("end", view)
