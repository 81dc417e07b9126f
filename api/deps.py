"""Per-process handles the routes use, built on first use from the app's config."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import current_app

from stocksync.context import Context
from stocksync.runs.dispatch import Dispatcher

_building = threading.Lock()


def _once(name: str, factory_key: str) -> object:
    ext = current_app.extensions.setdefault("stocksync", {})
    if name not in ext:
        with _building:  # the server is threaded: build each handle once
            if name not in ext:
                factory: Callable[[], object] = current_app.config[factory_key]
                ext[name] = factory()
    return ext[name]


def app_context() -> Context:
    """The process-wide stocksync Context of the running Flask app (built on first use)."""
    return _once("context", "CONTEXT_FACTORY")  # type: ignore[return-value]


def dispatcher() -> Dispatcher:
    """The dispatcher that enqueues units (Celery by default)."""
    return _once("dispatcher", "DISPATCHER_FACTORY")  # type: ignore[return-value]
