"""``GET /api/v1/stats`` and ``GET /api/v1/stats/coverage``: what is stored."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.deps import app_context
from stocksync.market.stats import coverage, storage_stats

bp = Blueprint("stats", __name__)


@bp.get("/stats")
def stats() -> ResponseReturnValue:
    ctx = app_context()
    return jsonify({**storage_stats(ctx), "store": ctx.store})


@bp.get("/stats/coverage")
def stats_coverage() -> ResponseReturnValue:
    return jsonify(coverage(app_context(), request.args.get("start"), request.args.get("end")))
