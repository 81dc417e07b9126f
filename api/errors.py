"""One JSON error shape for every failure: ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

from typing import Any

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc
from flask import Flask, jsonify, make_response
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from stocksync.errors import InvalidRequest, NotFound, RunConflict, ServiceUnavailable

RETRY_AFTER_S = 5  # what a 503 for an unreachable service suggests
DATABASE_DOWN = "the database (PostgreSQL) is unreachable or not answering; try again shortly"
BROKER_DOWN = "the broker (Redis) is unreachable or not answering; try again shortly"


def status_code_name(status: int) -> str:
    """The ``code`` of an HTTP status in error bodies: ``404`` → ``not_found``."""
    return HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The error shape itself (for writers that are not Flask, e.g. the HTTP server)."""
    return {"error": {"code": code, "message": message, **extra}}


def error_response(status: int, code: str, message: str, **extra: Any) -> ResponseReturnValue:
    return jsonify(error_body(code, message, **extra)), status


def _unavailable_response(message: str) -> ResponseReturnValue:
    response = make_response(error_response(503, "service_unavailable", message))
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _is_connection_error(exc: sqlalchemy.exc.DBAPIError) -> bool:
    """Lost or refused connections (and a server that is shutting down or timing out), as
    opposed to a statement the database rejected, which stays a 500 bug report."""
    return exc.connection_invalidated or isinstance(
        exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
    )


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

    @app.errorhandler(sqlalchemy.exc.DBAPIError)
    def _database_error(exc: sqlalchemy.exc.DBAPIError) -> ResponseReturnValue:
        if not _is_connection_error(exc):
            return _unexpected(exc)
        app.logger.warning("database unavailable: %s", str(exc.orig).strip().split("\n")[0])
        return _unavailable_response(DATABASE_DOWN)

    @app.errorhandler(sqlalchemy.exc.TimeoutError)  # no pooled connection came free in time
    def _pool_timeout(exc: sqlalchemy.exc.TimeoutError) -> ResponseReturnValue:
        app.logger.warning("database pool exhausted: %s", exc)
        return _unavailable_response(DATABASE_DOWN)

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(kombu.exceptions.OperationalError)
    def _broker_error(exc: Exception) -> ResponseReturnValue:
        app.logger.warning("broker unavailable: %s", exc)
        return _unavailable_response(BROKER_DOWN)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        code = status_code_name(status)
        response = make_response(error_response(status, code, exc.description or exc.name))
        for name, value in exc.get_headers():  # e.g. a 405's Allow, a 401's WWW-Authenticate
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        app.logger.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "an unexpected error occurred; see the logs")
