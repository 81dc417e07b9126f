"""``GET /api/v1/bars``: stored bars of one stock, unadjusted or qfq/hfq; ``GET
/api/v1/index-bars``: stored bars of one main index."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.deps import app_context
from stocksync.market.index_reading import read_index_bars
from stocksync.market.reading import read_bars

bp = Blueprint("bars", __name__)


@bp.get("/bars")
def get_bars() -> ResponseReturnValue:
    args = request.args
    return jsonify(
        read_bars(
            app_context(),
            code=args.get("code"),
            start=args.get("start"),
            end=args.get("end"),
            period=args.get("period"),
            adjust=args.get("adjust"),
        )
    )


@bp.get("/index-bars")
def get_index_bars() -> ResponseReturnValue:
    args = request.args
    return jsonify(
        read_index_bars(
            app_context(),
            code=args.get("code"),
            start=args.get("start"),
            end=args.get("end"),
            period=args.get("period"),
        )
    )
