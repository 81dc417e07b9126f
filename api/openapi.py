"""``GET /api/v1/openapi.json``: the API described as OpenAPI 3.1.

Paths come from the app's own URL map, so no route can be left out; request bodies are the very
JSON Schemas (:mod:`stocksync.runs.schemas`) the request parsers validate against. An
endpoint without an entry in :data:`OPERATIONS` fails the test suite rather than appear
undocumented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from stocksync.runs.schemas import DATE, RUN_REQUEST, SCHEDULE_UPDATE

bp = Blueprint("openapi", __name__)

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "examples": ["invalid_request"]},
                "message": {"type": "string", "description": "what is wrong, for a person"},
                "field": {"type": ["string", "null"], "description": "the offending field"},
            },
        }
    },
}
PAGE = [
    ("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
    ("per_page", {"type": "integer", "minimum": 1, "maximum": 500}, "items per page"),
]
ITEM_STATUS = {"type": "string", "enum": ["pending", "running", "success", "failed", "skipped"]}


@dataclass(frozen=True)
class Operation:
    summary: str
    body: dict[str, Any] | None = None
    query: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    ok: int = 200
    errors: tuple[int, ...] = ()
    media: str = "application/json"


OPERATIONS: dict[str, Operation] = {
    "health.healthz": Operation("Liveness: can the API reach PostgreSQL and Redis", errors=(503,)),
    "runs.create_run": Operation(
        "Start a run (202 with a link to follow it)", RUN_REQUEST, ok=202, errors=(400, 409, 503)
    ),
    "runs.preview_run": Operation(
        "What a run would do: units, already done, calls, ETA", RUN_REQUEST, errors=(400,)
    ),
    "runs.list_runs": Operation("Runs, newest first", query=PAGE, errors=(400,)),
    "runs.show_run": Operation("A run with live progress and an ETA", errors=(404,)),
    "runs.list_items": Operation(
        "A run's units, e.g. the failed ones with their errors and attempts",
        query=[("status", ITEM_STATUS, "only units in this status"), *PAGE],
        errors=(400, 404),
    ),
    "runs.date_summary": Operation(
        "A run's progress per trade date (the seeds' sync_progress_summary)", errors=(404,)
    ),
    "runs.resume_run": Operation(
        "Continue a paused or interrupted run", ok=202, errors=(400, 404, 409)
    ),
    "runs.retry_failed": Operation(
        "Failed units back to pending, and run them", ok=202, errors=(400, 404, 409)
    ),
    "runs.reset_failed": Operation("Failed units back to pending, not run", errors=(404,)),
    "runs.pause_run": Operation("Stop dispatching; resume continues", errors=(400, 404)),
    "runs.cancel_run": Operation("Stop the run for good", errors=(400, 404)),
    "runs.clear_run": Operation(
        "Delete a finished run's ledger (bars stay; the work can be done again)",
        errors=(404, 409),
    ),
    "events.run_events": Operation(
        "Server-sent events: the run's progress on every change, then 'end'",
        errors=(404,),
        media="text/event-stream",
    ),
    "sources.list_sources": Operation("Sources in priority order: availability, limits, circuits"),
    "bars.get_bars": Operation(
        "Stored bars of one stock, raw or forward/backward adjusted",
        query=[
            ("code", {"type": "string"}, "stock code, e.g. 600000 or 600000.SH"),
            ("start", DATE, "first date"),
            ("end", DATE, "last date"),
            ("period", {"type": "string", "enum": ["daily", "weekly", "monthly"]}, "bar period"),
            ("adjust", {"type": "string", "enum": ["none", "qfq", "hfq"]}, "price adjustment"),
        ],
        errors=(400, 404),
    ),
    "stats.stats": Operation("Rows and latest dates per period and source"),
    "stats.stats_coverage": Operation(
        "Coverage per dataset and trade date",
        query=[("start", DATE, "first date"), ("end", DATE, "last date")],
        errors=(400,),
    ),
    "schedules.list_schedules": Operation("The beat schedules, with their next firing"),
    "schedules.show_schedule": Operation("One schedule", errors=(404,)),
    "schedules.update_schedule": Operation(
        "Change a schedule's cron, enabled flag or run body", SCHEDULE_UPDATE, errors=(400, 404)
    ),
    "schedules.run_schedule": Operation(
        "Fire a schedule now (recorded as skipped if another run is active)", errors=(404,)
    ),
    "openapi.openapi_document": Operation("This document"),
}

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
STATUS_TEXT = {200: "OK", 202: "Accepted", 400: "Invalid request", 401: "Token missing or wrong",
               403: "A request from another site's page, or (without a token) not to localhost",
               404: "Not found", 409: "Conflict", 413: "The body is larger than 1 MiB",
               503: "A service is unavailable"}  # fmt: skip
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s JSON API (the HTML page and static files excluded)."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in ("static",) or rule.endpoint.startswith("web."):
            continue
        op = OPERATIONS.get(rule.endpoint)
        if op is None:
            raise LookupError(f"endpoint {rule.endpoint} ({rule.rule}) has no OpenAPI entry")
        path = _PARAM.sub(r"{\2}", rule.rule)
        params = [
            {"name": name, "in": "path", "required": True,
             "schema": {"type": "integer" if conv == "int" else "string"}}
            for conv, name in _PARAM.findall(rule.rule)
        ]  # fmt: skip
        params += [
            {"name": name, "in": "query", "required": False, "schema": schema,
             "description": text}
            for name, schema, text in op.query
        ]  # fmt: skip
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(
                rule.endpoint, op, method, params
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stocksync",
            "version": "1",
            "description": (
                "Resumable, observable sync of China A-share market data into PostgreSQL. When "
                "STOCKSYNC_API_TOKEN is set, every POST/PUT/DELETE needs "
                "'Authorization: Bearer <token>'."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": ERROR,
                "RunRequest": RUN_REQUEST,
                "ScheduleUpdate": SCHEDULE_UPDATE,
            },
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(endpoint: str, op: Operation, method: str, params: list[Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(op.ok): {"description": STATUS_TEXT[op.ok], "content": {op.media: {}}}
    }
    errors = set(op.errors) | ({401, 403} if method in MUTATING else set())
    if op.body is not None:
        errors.add(413)
    for code in sorted(errors):
        responses[str(code)] = {
            "description": STATUS_TEXT[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": op.summary,
        "parameters": params,
        "responses": responses,
    }
    if op.body is not None:
        ref = {"$ref": f"#/components/schemas/{op.body['title']}"}
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref}},
        }
    if method in MUTATING:
        operation["security"] = [{"token": []}]
    return operation


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(build_document(current_app))
