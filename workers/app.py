"""The Celery application, configured from ``celeryconfig.py``."""

from __future__ import annotations

from celery import Celery

app = Celery("stocksync")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
app.autodiscover_tasks(["workers"], related_name="recovery", force=True)
