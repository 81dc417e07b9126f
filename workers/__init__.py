"""The Celery app (``celery -A workers worker``) and its thin, idempotent tasks."""

from workers.app import app

__all__ = ["app"]
