"""The optional API token: when the app has one, every request that changes something (any
method but GET, HEAD and OPTIONS) must present it; reading stays open."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Flask, current_app, make_response, request
from flask.typing import ResponseReturnValue

from api.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOW_TO_SEND = "send 'Authorization: Bearer <token>' (or 'X-API-Token: <token>')"


def presented_token() -> str | None:
    """The token the request carries, from ``Authorization: Bearer`` or ``X-API-Token``."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Token", "").strip() or None


def _unauthorized(message: str) -> ResponseReturnValue:
    response = make_response(error_response(401, "unauthorized", message))
    response.headers["WWW-Authenticate"] = 'Bearer realm="stocksync"'
    return response


def require_token() -> ResponseReturnValue | None:
    """``before_request`` hook: None lets the request through, a 401/403 response stops it.

    A browser page of another site must not steer runs on a local, tokenless API: a changing
    request that carries an ``Origin`` of another host than the API's own is refused (curl, the
    CLI and scripts send no Origin; the progress page's own requests match)."""
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return error_response(
            403, "cross_site_request", f"requests from {origin} may not change runs"
        )
    expected: str | None = current_app.config.get("API_TOKEN")
    if not expected:
        return None
    given = presented_token()
    if given is None:
        return _unauthorized(f"this server requires an API token for changes: {HOW_TO_SEND}")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _unauthorized(f"the API token is not valid; {HOW_TO_SEND} with the server's token")
    return None


def register_token_check(app: Flask) -> None:
    """Guard every mutating route of ``app``, including blueprints registered later."""
    app.before_request(require_token)
