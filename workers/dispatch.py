"""Enqueue units as ``stocksync.sync_unit`` messages (the real :class:`Dispatcher`)."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery


class CeleryDispatcher:
    """Sends one ``stocksync.sync_unit`` message per item over one broker connection."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def plan(self, run_id: int) -> None:
        self.app.send_task("stocksync.plan_run", args=(run_id,))

    def dispatch(self, run_id: int, item_ids: Sequence[int]) -> None:
        with self.app.producer_or_acquire() as producer:
            for item_id in item_ids:
                self.app.send_task("stocksync.sync_unit", args=(item_id, run_id), producer=producer)
