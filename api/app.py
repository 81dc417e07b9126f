"""Application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from api.auth import register_token_check
from api.bars import bp as bars_bp
from api.body import MAX_BODY_BYTES, register_body_limits
from api.company import bp as company_bp
from api.errors import register_error_handlers
from api.events import bp as events_bp
from api.headers import register_security_headers
from api.health import bp as health_bp
from api.openapi import bp as openapi_bp
from api.runs import bp as runs_bp
from api.schedules import bp as schedules_bp
from api.sources import bp as sources_bp
from api.stats import bp as stats_bp
from api.universe import bp as universe_bp
from api.web import bp as web_bp
from stocksync.config import get_settings
from stocksync.context import build_context
from stocksync.runs.dispatch import Dispatcher

MAX_ROW_ID = 2**63 - 1  # PostgreSQL's bigint


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in stocksync's routes: an id PostgreSQL's bigint can hold; a larger number
    is a 404 (as for any id that does not exist) instead of failing a query — for every method
    (werkzeug would call it a 405 for a method another rule of the same path serves)."""

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ROW_ID:
            raise NotFound()
        return number


def _default_dispatcher() -> Dispatcher:
    from workers.app import app as celery_app
    from workers.dispatch import CeleryDispatcher

    return CeleryDispatcher(celery_app)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API. ``config`` may set ``CONTEXT_FACTORY`` (a callable returning a Context)
    and ``DISPATCHER_FACTORY``; by default both come from stocksync's settings. ``API_TOKEN``
    (default: ``STOCKSYNC_API_TOKEN``) guards every mutating request; ``SSE_*`` time the
    progress stream; ``MAX_CONTENT_LENGTH`` (default 1 MiB) limits request bodies."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["int"] = RowIdConverter
    app.config.update(
        CONTEXT_FACTORY=lambda: build_context(get_settings(), migrate=True),
        DISPATCHER_FACTORY=_default_dispatcher,
        API_TOKEN=get_settings().api_token,  # None: mutating endpoints are open
        SSE_POLL_S=0.5,
        SSE_KEEPALIVE_S=15.0,
        SSE_MAX_DURATION_S=3600.0,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    if config:
        app.config.update(config)
    register_error_handlers(app)
    register_body_limits(app)
    register_token_check(app)
    register_security_headers(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(runs_bp, url_prefix="/api/v1")
    app.register_blueprint(events_bp, url_prefix="/api/v1")
    app.register_blueprint(web_bp)
    app.register_blueprint(sources_bp, url_prefix="/api/v1")
    app.register_blueprint(bars_bp, url_prefix="/api/v1")
    app.register_blueprint(stats_bp, url_prefix="/api/v1")
    app.register_blueprint(universe_bp, url_prefix="/api/v1")
    app.register_blueprint(company_bp, url_prefix="/api/v1")
    app.register_blueprint(schedules_bp, url_prefix="/api/v1")
    app.register_blueprint(openapi_bp, url_prefix="/api/v1")
    return app
