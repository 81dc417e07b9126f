"""``GET /api/v1/sources``: the configured sources, their availability, limits and circuits."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.deps import app_context
from stocksync.sources.status import source_statuses

bp = Blueprint("sources", __name__)


@bp.get("/sources")
def list_sources() -> ResponseReturnValue:
    check = request.args.get("check", "true").lower() not in ("0", "false", "no")
    return jsonify({"sources": source_statuses(app_context(), check=check)})
