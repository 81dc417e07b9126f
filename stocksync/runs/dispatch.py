"""How services hand units of work to workers without knowing about Celery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Dispatcher(Protocol):
    """Enqueues units for execution. ``workers.dispatch.CeleryDispatcher`` is the real one."""

    def dispatch(self, run_id: int, item_ids: Sequence[int]) -> None:
        """Enqueue one task per item id. Called only after the items are committed."""

    def plan(self, run_id: int) -> None:
        """Enqueue the planning of a run recorded as ``planning``."""
