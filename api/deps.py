"""Per-process handles the routes use, built on first use from the app's config."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from stocksync.context import Context
from stocksync.dispatch import Dispatcher


def app_context() -> Context:
    """The process-wide stocksync Context of the running Flask app (built on first use)."""
    ext = current_app.extensions.setdefault("stocksync", {})
    if "context" not in ext:
        factory: Callable[[], Context] = current_app.config["CONTEXT_FACTORY"]
        ext["context"] = factory()
    return ext["context"]  # type: ignore[no-any-return]


def dispatcher() -> Dispatcher:
    ext = current_app.extensions.setdefault("stocksync", {})
    if "dispatcher" not in ext:
        ext["dispatcher"] = current_app.config["DISPATCHER_FACTORY"]()
    return ext["dispatcher"]  # type: ignore[no-any-return]
