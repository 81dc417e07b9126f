"""Runs: create (202 + link), show with live progress, list, preview."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from api.body import json_body
from api.deps import app_context, dispatcher
from stocksync.errors import InvalidRequest
from stocksync.runs import control
from stocksync.runs import service as runs

bp = Blueprint("runs", __name__)


MAX_PAGE = 10**9  # keeps (page - 1) * per_page within PostgreSQL's bigint OFFSET


def _int_arg(name: str, default: int, *, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    shown = raw if len(raw) <= 40 else raw[:40] + "…"
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number, got {shown!r}", field=name) from None
    if maximum is not None and value > maximum:
        raise InvalidRequest(f"{name} may be at most {maximum}, got {shown}", field=name)
    return value


@bp.post("/runs")
def create_run() -> ResponseReturnValue:
    ctx = app_context()
    spec = runs.parse_spec(ctx, json_body())
    run_id = runs.start_run(ctx, spec)  # asks no source: planning is the worker's
    dispatcher().plan(run_id)
    link = url_for("runs.show_run", run_id=run_id)
    body = {"run_id": run_id, "link": link, "status": "planning"}
    return jsonify(body), 202, {"Location": link}


@bp.post("/runs/preview")
def preview_run() -> ResponseReturnValue:
    ctx = app_context()
    spec = runs.parse_spec(ctx, json_body())
    return jsonify(runs.preview_run(ctx, spec))


@bp.get("/runs/<int:run_id>")
def show_run(run_id: int) -> ResponseReturnValue:
    return jsonify(runs.run_view(app_context(), run_id))


@bp.get("/runs/<int:run_id>/items")
def list_items(run_id: int) -> ResponseReturnValue:
    page = _int_arg("page", 1, maximum=MAX_PAGE)
    per_page = _int_arg("per_page", 50)
    status = request.args.get("status")
    return jsonify(
        runs.list_items(app_context(), run_id, status=status, page=page, per_page=per_page)
    )


@bp.get("/runs")
def list_runs() -> ResponseReturnValue:
    page = _int_arg("page", 1, maximum=MAX_PAGE)
    per_page = _int_arg("per_page", 20)
    return jsonify(runs.list_runs(app_context(), page=page, per_page=per_page))


@bp.post("/runs/<int:run_id>/resume")
def resume_run(run_id: int) -> ResponseReturnValue:
    return jsonify(control.resume(app_context(), run_id, dispatcher())), 202


@bp.post("/runs/<int:run_id>/retry-failed")
def retry_failed(run_id: int) -> ResponseReturnValue:
    return jsonify(control.retry_failed(app_context(), run_id, dispatcher())), 202


@bp.post("/runs/<int:run_id>/reset-failed")
def reset_failed(run_id: int) -> ResponseReturnValue:
    return jsonify({"run_id": run_id, "reset": control.reset_failed(app_context(), run_id)})


@bp.post("/runs/<int:run_id>/pause")
def pause_run(run_id: int) -> ResponseReturnValue:
    return jsonify(control.pause(app_context(), run_id))


@bp.post("/runs/<int:run_id>/cancel")
def cancel_run(run_id: int) -> ResponseReturnValue:
    return jsonify(control.cancel(app_context(), run_id))


@bp.get("/runs/<int:run_id>/dates")
def date_summary(run_id: int) -> ResponseReturnValue:
    return jsonify(runs.date_summary(app_context(), run_id))


@bp.delete("/runs/<int:run_id>")
def clear_run(run_id: int) -> ResponseReturnValue:
    return jsonify(control.clear(app_context(), run_id))
