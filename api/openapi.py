"""``GET /api/v1/openapi.json``: the API described as OpenAPI 3.1.

Paths come from the app's own URL map, so no route can be left out; request bodies are the very
JSON Schemas (:mod:`stocksync.runs.schemas`) the request parsers validate against. An
endpoint without an entry in :data:`OPERATIONS` fails the test suite rather than appear
undocumented. Query and path parameters say what the routes read (required or not, ranges,
the values a choice takes), and every answer has its schema; schemathesis checks the document
against the running server (tests/integration/test_openapi_conformance.py).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from api.openapi_company import COMPANY_OPERATIONS
from api.openapi_schema import (
    CHOICE,
    ERROR,
    FIRED,
    HEALTH,
    INT,
    ITEM_STATUS,
    LIST,
    OBJ,
    PAGED,
    REQUEUED,
    RUN_VIEW,
    SCHEDULE,
    STR,
    Operation,
    Param,
    any_case_choice,
    obj,
    paging,
)
from stocksync.market.index_reading import index_code_pattern
from stocksync.runs.schemas import (
    CODE_PATTERN,
    DATE,
    RUN_REQUEST,
    SCHEDULE_UPDATE,
)

bp = Blueprint("openapi", __name__)

OPERATIONS: dict[str, Operation] = {
    "health.healthz": Operation(
        "Liveness: can the API reach PostgreSQL and Redis", response=HEALTH, also={503: HEALTH}
    ),
    "runs.create_run": Operation(
        "Start a run (202 with a link to follow it)",
        RUN_REQUEST,
        ok=202,
        errors=(400, 409, 503),
        response=obj(["run_id", "link"], run_id=INT, link=STR, status=STR),
        headers={"Location": {"description": "the run's link", "schema": STR}},
    ),
    "runs.preview_run": Operation(
        "What a run would do: units, already done, calls, ETA",
        RUN_REQUEST,
        errors=(400,),
    ),
    "runs.list_runs": Operation(
        "Runs, newest first", query=paging(200), errors=(400,), response=PAGED
    ),
    "runs.show_run": Operation(
        "A run with live progress and an ETA", errors=(404,), response=RUN_VIEW
    ),
    "runs.list_items": Operation(
        "A run's units, e.g. the failed ones with their errors and attempts",
        query=[Param("status", ITEM_STATUS, "only units in this status"), *paging(500)],
        errors=(400, 404),
        response=PAGED,
    ),
    "runs.date_summary": Operation(
        "A run's progress per trade date (the seeds' sync_progress_summary)",
        errors=(404,),
        response=obj(["run_id", "dates"], run_id=INT, dates=LIST),
    ),
    "runs.resume_run": Operation(
        "Continue a paused or interrupted run", ok=202, errors=(400, 404, 409), response=REQUEUED
    ),
    "runs.retry_failed": Operation(
        "Failed units back to pending, and run them",
        ok=202,
        errors=(400, 404, 409),
        response=REQUEUED,
    ),
    "runs.reset_failed": Operation(
        "Failed units back to pending, not run",
        errors=(404,),
        response=obj(["run_id", "reset"], run_id=INT, reset=INT),
    ),
    "runs.pause_run": Operation("Stop dispatching; resume continues", errors=(400, 404)),
    "runs.cancel_run": Operation("Stop the run for good", errors=(400, 404)),
    "runs.clear_run": Operation(
        "Delete a finished run's ledger (bars stay; the work can be done again)",
        errors=(404, 409),
        response=obj(["run_id", "deleted_items"], run_id=INT, deleted_items=INT),
    ),
    "events.run_events": Operation(
        "Server-sent events: the run's progress on every change, then 'end'",
        errors=(404,),
        media="text/event-stream",
        response=obj(
            ["event", "data"],
            event={"type": "string", "enum": ["progress", "end"]},
            data={"type": "string", "description": "the run's view as JSON"},
            id=STR,
        ),
    ),
    "sources.list_sources": Operation(
        "Sources in priority order: availability, limits, circuits",
        query=[Param("check", STR, "false, no or 0: do not probe the sources' availability")],
        response=obj(["sources"], sources=LIST),
    ),
    "bars.get_bars": Operation(
        "Stored bars of one stock, raw or forward/backward adjusted",
        query=[
            Param(
                "code",
                {"type": "string", "pattern": CODE_PATTERN},
                "stock code, e.g. 600000 or 600000.SH",
                required=True,
            ),
            Param("start", DATE, "first date", required=True),
            Param("end", DATE, "last date (not before start)", required=True),
            Param("period", any_case_choice(CHOICE["period"]), "bar period (default daily)"),
            Param("adjust", any_case_choice(CHOICE["adjust"]), "price adjustment (default none)"),
        ],
        errors=(400, 404),
        response=obj(
            ["code", "period", "adjust", "bars"], code=STR, period=STR, adjust=STR, bars=LIST
        ),
    ),
    "bars.get_index_bars": Operation(
        "Stored bars of one main index (points, volume in shares, amount in yuan)",
        query=[
            Param(
                "code",
                {"type": "string", "pattern": index_code_pattern()},
                "index code, e.g. 000300 or 000300.SH",
                required=True,
            ),
            Param("start", DATE, "first date", required=True),
            Param("end", DATE, "last date (not before start)", required=True),
            Param("period", any_case_choice(CHOICE["period"]), "bar period (default daily)"),
        ],
        errors=(400, 404),
        response=obj(["code", "name", "period", "bars"], code=STR, name=STR, period=STR, bars=LIST),
    ),
    "universe.universe": Operation(
        "The stored stocks listed on a date, or an index's members then",
        query=[
            Param("date", DATE, "the date", required=True),
            Param(
                "index",
                {"type": "string", "pattern": index_code_pattern(optional=True)},
                "an index whose members to list (its latest snapshot on or before the date)",
            ),
        ],
        errors=(400,),
        response=obj(["date", "count", "stocks"], date=STR, count=INT, stocks=LIST),
    ),
    "universe.calendar": Operation(
        "The trading days between two dates, from the stored calendar",
        query=[
            Param("start", DATE, "first date", required=True),
            Param("end", DATE, "last date (not before start)", required=True),
        ],
        errors=(400,),
        response=obj(
            ["start", "end", "count", "trading_days"],
            start=STR,
            end=STR,
            count=INT,
            trading_days={"type": "array", "items": STR},
        ),
    ),
    "stats.stats": Operation(
        "Rows and latest dates per period and source, of stocks' bars and index bars",
        response=obj(
            ["bars", "index_bars", "minute_bars", "adj_factors", "valuations", "index_members",
             "corporate_actions", "profiles", "financials", "adj_factor_revisions"],
            bars=LIST,
            index_bars=LIST,
            minute_bars=LIST,
            adj_factors=OBJ,
            valuations=OBJ,
            index_members=OBJ,
            corporate_actions=OBJ,
            profiles=OBJ,
            financials=OBJ,
            adj_factor_revisions=OBJ,
        ),
    ),
    "stats.stats_coverage": Operation(
        "Coverage per dataset and trade date",
        query=[
            Param("start", DATE, "first date", required=True),
            Param(
                "end", DATE, "last date (not before start, at most a year after it)", required=True
            ),
        ],
        errors=(400,),
        response=obj(["start", "end", "dates"], start=STR, end=STR, dates=LIST),
    ),
    "schedules.list_schedules": Operation(
        "The beat schedules, with their next firing",
        response=obj(["items"], items={"type": "array", "items": SCHEDULE}),
    ),
    "schedules.show_schedule": Operation("One schedule", errors=(404,), response=SCHEDULE),
    "schedules.update_schedule": Operation(
        "Change a schedule's cron, enabled flag or run body",
        SCHEDULE_UPDATE,
        errors=(400, 404),
        response=SCHEDULE,
    ),
    "schedules.run_schedule": Operation(
        "Fire a schedule now: 202 with the run's link when it started, 200 with the record of "
        "a fire that was skipped (another run active, not a trading day, nothing to sync)",
        ok=202,
        errors=(404,),
        response=obj(
            ["outcome", "run_id", "link"],
            outcome={"const": "started"},
            run_id=INT,
            link=STR,
            message=STR,
        ),
        also={200: FIRED},
    ),
    "openapi.openapi_document": Operation(
        "This document", response=obj(["openapi", "paths"], openapi=STR, paths={"type": "object"})
    ),
    **COMPANY_OPERATIONS,
}

_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
STATUS_TEXT = {200: "OK", 202: "Accepted", 400: "Invalid request", 401: "Token missing or wrong",
               403: "A request from another site's page, or (without a token) not to localhost",
               404: "Not found", 409: "Conflict", 413: "The body is larger than 1 MiB",
               503: "A service is unavailable"}  # fmt: skip
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# What Flask's converters match: <int:…> only digits (no sign), <…> one path segment.
PATH_SCHEMA = {
    "int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
    "": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
}


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
            {"name": name, "in": "path", "required": True, "schema": PATH_SCHEMA[conv]}
            for conv, name in _PARAM.findall(rule.rule)
        ]
        params += [
            {"name": p.name, "in": "query", "required": p.required, "schema": p.schema,
             "description": p.text}
            for p in op.query
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
    ok: dict[str, Any] = {
        "description": STATUS_TEXT[op.ok],
        "content": {op.media: {"schema": op.response}},
    }
    if op.headers:
        ok["headers"] = op.headers
    responses: dict[str, Any] = {str(op.ok): ok}
    for code, schema in op.also.items():
        responses[str(code)] = {
            "description": STATUS_TEXT[code],
            "content": {"application/json": {"schema": schema}},
        }
    errors = set(op.errors) | ({401, 403} if method in MUTATING else set())
    if op.body is not None:
        errors.add(413)
    for code in sorted(errors - set(op.also)):
        responses[str(code)] = {
            "description": STATUS_TEXT[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    responses = dict(sorted(responses.items()))
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
