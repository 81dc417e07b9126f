"""``GET /api/v1/universe`` (stocks listed on a date) and ``GET /api/v1/calendar`` (trading
days between two dates)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.deps import app_context
from stocksync.market.universe import listed_on, trading_days

bp = Blueprint("universe", __name__)


@bp.get("/universe")
def universe() -> ResponseReturnValue:
    args = request.args
    return jsonify(listed_on(app_context(), args.get("date"), args.get("index")))


@bp.get("/calendar")
def calendar() -> ResponseReturnValue:
    args = request.args
    return jsonify(trading_days(app_context(), args.get("start"), args.get("end")))
