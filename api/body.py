"""Request bodies: a size limit checked before anything is read, and JSON parsed without
letting a hostile document reach the interpreter's recursion limit."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from stocksync.errors import InvalidRequest

MAX_BODY_BYTES = 1024 * 1024  # the default MAX_CONTENT_LENGTH; run requests are a few hundred
MAX_JSON_DEPTH = 32  # nesting levels; a run request needs 3


def _limit_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"


def refuse_large_bodies() -> None:
    """``before_request`` hook: a declared body above ``MAX_CONTENT_LENGTH`` is refused with a
    413 before any of it is read, whatever the route (Flask alone only checks when a route
    reads the body; a chunked body is cut off at the limit when it is read)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(f"the request body may be at most {_limit_text(limit)}")


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def json_body() -> Any:
    """The request's JSON document; :class:`InvalidRequest` when there is none, it does not
    parse, or it nests deeper than :data:`MAX_JSON_DEPTH` levels."""
    nested_too_deep = InvalidRequest(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise nested_too_deep from None
    if body is None:
        raise InvalidRequest("send a JSON object body with Content-Type: application/json")
    if _too_deep(body, MAX_JSON_DEPTH):
        raise nested_too_deep
    return body


def register_body_limits(app: Flask) -> None:
    """Refuse every request whose body is larger than the app's ``MAX_CONTENT_LENGTH``."""
    app.before_request(refuse_large_bodies)
