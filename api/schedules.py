"""Schedules: list, show, change (cron, switch, body) and run now."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api.body import json_body
from api.deps import app_context, dispatcher
from stocksync.schedules import definitions as schedules
from stocksync.schedules import firing as scheduling

bp = Blueprint("schedules", __name__)


@bp.get("/schedules")
def list_schedules() -> ResponseReturnValue:
    return jsonify({"items": schedules.list_schedules(app_context())})


@bp.get("/schedules/<name>")
def show_schedule(name: str) -> ResponseReturnValue:
    return jsonify(schedules.schedule_view(app_context(), name))


@bp.put("/schedules/<name>")
def update_schedule(name: str) -> ResponseReturnValue:
    return jsonify(schedules.update_schedule(app_context(), name, json_body()))


@bp.post("/schedules/<name>/run")
def run_schedule(name: str) -> ResponseReturnValue:
    """Fire the schedule now: 202 with the run it started, or the skipped run it recorded."""
    outcome = scheduling.fire_schedule(
        app_context(), name, dt.datetime.now(dt.UTC), dispatcher(), manual=True
    )
    if outcome["run_id"] is not None:
        outcome["link"] = f"/api/v1/runs/{outcome['run_id']}"
    return jsonify(outcome), 202 if outcome["outcome"] == "started" else 200
