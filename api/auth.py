"""Who may change things. With an API token, every request that changes something (any method
but GET, HEAD and OPTIONS) must present it. Without one, changes are accepted only when
addressed to a loopback name (a DNS-rebinding page cannot steer runs) and never from another
site's page. Reading stays open either way. A token is never accepted from the URL."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Flask, current_app, make_response, request
from flask.typing import ResponseReturnValue

from api.errors import error_response
from stocksync.hosts import is_loopback

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOW_TO_SEND = "send 'Authorization: Bearer <token>' (or 'X-API-Token: <token>')"
# Query parameters a client might put a token in; the request is refused and never logged
# with its value (see api.serve).
TOKEN_PARAMETERS = frozenset({
    "token", "api_token", "apitoken", "access_token", "auth_token", "api_key", "apikey",
    "auth", "authorization", "bearer", "x_api_token",
})  # fmt: skip


def is_token_parameter(name: str) -> bool:
    """Whether a query parameter named ``name`` looks like it carries a token."""
    return name.strip().lower().replace("-", "_") in TOKEN_PARAMETERS


def is_loopback_host(host: str) -> bool:
    """Whether a ``Host`` header (``name[:port]``) names this machine's loopback interface:
    ``localhost``, 127.0.0.0/8 or ``[::1]``. Names are not resolved."""
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return False
    return is_loopback(name)


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


def refuse_token_in_query() -> ResponseReturnValue | None:
    """``before_request`` hook: a token in the query string (which ends up in access logs,
    proxies and browser history) is refused on every method, whether or not it is right."""
    expected: str | None = current_app.config.get("API_TOKEN")
    for name, values in request.args.lists():
        carries_token = expected is not None and any(
            hmac.compare_digest(value.encode(), expected.encode()) for value in values
        )
        if is_token_parameter(name) or carries_token:
            return error_response(
                400,
                "token_in_query",
                "an API token may not be sent in the URL, where logs and browser history keep "
                "it: send it in the Authorization header as 'Authorization: Bearer <token>'",
                field=name,
            )
    return None


def require_token() -> ResponseReturnValue | None:
    """``before_request`` hook: None lets the request through, a 401/403 response stops it.

    A browser page of another site must not steer runs on a local, tokenless API: a changing
    request that carries an ``Origin`` of another host than the API's own is refused (curl, the
    CLI and scripts send no Origin; the progress page's own requests match). A page that
    rebinds its own name to 127.0.0.1 passes that check, so without a token a change must also
    be addressed to a loopback name."""
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        return error_response(
            403, "cross_site_request", f"requests from {origin} may not change runs"
        )
    expected: str | None = current_app.config.get("API_TOKEN")
    if not expected:
        if is_loopback_host(request.host):
            return None
        return error_response(
            403,
            "host_not_allowed",
            f"without an API token this server accepts changes only when addressed as "
            f"localhost, 127.0.0.1 or [::1], not as {request.host[:100]!r}; set "
            "STOCKSYNC_API_TOKEN to serve it under other names",
        )
    given = presented_token()
    if given is None:
        return _unauthorized(f"this server requires an API token for changes: {HOW_TO_SEND}")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _unauthorized(f"the API token is not valid; {HOW_TO_SEND} with the server's token")
    return None


def register_token_check(app: Flask) -> None:
    """Guard every route of ``app``, including blueprints registered later."""
    app.before_request(refuse_token_in_query)
    app.before_request(require_token)
