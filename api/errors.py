"""One JSON error shape for every failure: ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from stocksync.errors import InvalidRequest, NotFound, RunConflict, ServiceUnavailable


def error_response(status: int, code: str, message: str, **extra: Any) -> ResponseReturnValue:
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(InvalidRequest)
    def _invalid(exc: InvalidRequest) -> ResponseReturnValue:
        return error_response(400, "invalid_request", exc.message, field=exc.field)

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound) -> ResponseReturnValue:
        return error_response(404, "not_found", str(exc))

    @app.errorhandler(RunConflict)
    def _conflict(exc: RunConflict) -> ResponseReturnValue:
        extra: dict[str, Any] = {"active_run_id": exc.active_run_id}
        if exc.active_run_id is not None:
            extra["active_run"] = f"/api/v1/runs/{exc.active_run_id}"
        return error_response(409, "run_conflict", str(exc), **extra)

    @app.errorhandler(ServiceUnavailable)
    def _unavailable(exc: ServiceUnavailable) -> ResponseReturnValue:
        return error_response(503, "service_unavailable", str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; see the logs")
