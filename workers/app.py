"""The Celery application, configured from ``celeryconfig.py``.

Importing it starts and contacts nothing: Celery reads ``celeryconfig`` the first time the
configuration is used — a worker or beat starting, a producer sending, ``app.conf`` read — and
only then is the broker resolved (``STOCKSYNC_REDIS_URL``, or the embedded Redis under the data
directory, started or reused, together with the embedded PostgreSQL when no database URL is set).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from stocksync.config import get_settings
from stocksync.embedded import resolve_service_urls

app = Celery("stocksync")
app.config_from_object("celeryconfig")


@app.on_after_configure.connect
def _resolve_broker(sender: Celery, source: Any, **_: Any) -> None:
    """The broker is the Redis stocksync resolves, unless Celery was given one
    (``CELERY_BROKER_URL``, ``app.conf.broker_url``)."""
    if not source.broker_url:
        source["broker_url"] = resolve_service_urls(get_settings()).redis_url


app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
app.autodiscover_tasks(["workers"], related_name="recovery", force=True)
