"""The progress web page: one static page (``api/static/``) that reads the JSON API and the
event stream. No build step, no external assets."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

bp = Blueprint("web", __name__)


@bp.get("/")
@bp.get("/runs/<int:run_id>")
def page(run_id: int | None = None) -> ResponseReturnValue:
    """The runs list at ``/``, one run's live progress at ``/runs/<id>`` (chosen by the page)."""
    response = current_app.send_static_file("index.html")
    response.headers["Cache-Control"] = "no-cache"
    return response
