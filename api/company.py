"""``GET /api/v1/corporate-actions``, ``/profile``, ``/financials`` and ``/checks/factors``:
what the store knows of a stock besides its bars."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from api.deps import app_context
from stocksync.market.company import (
    actions_of,
    factor_check,
    financials_of,
    minute_check,
    profile_of,
)

bp = Blueprint("company", __name__)


@bp.get("/corporate-actions")
def corporate_actions() -> ResponseReturnValue:
    args = request.args
    return jsonify(actions_of(app_context(), args.get("code"), args.get("start"), args.get("end")))


@bp.get("/profile")
def profile() -> ResponseReturnValue:
    args = request.args
    return jsonify(profile_of(app_context(), args.get("code"), args.get("date")))


@bp.get("/financials")
def financials() -> ResponseReturnValue:
    args = request.args
    return jsonify(
        financials_of(app_context(), args.get("codes"), args.get("as_of"), args.get("periods"))
    )


@bp.get("/checks/factors")
def check_factors() -> ResponseReturnValue:
    args = request.args
    return jsonify(
        factor_check(app_context(), args.get("start"), args.get("end"), args.get("codes"))
    )


@bp.get("/checks/minute-bars")
def check_minute_bars() -> ResponseReturnValue:
    args = request.args
    return jsonify(minute_check(app_context(), args.get("start"), args.get("end"),
                                args.get("period"), args.get("codes")))  # fmt: skip
