"""Refuse to expose an unprotected API beyond this machine."""

from __future__ import annotations

from stocksync.hosts import is_loopback

__all__ = ["exposure_problem", "is_loopback"]


def exposure_problem(host: str, api_token: str | None) -> str | None:
    """Why serving the API on ``host`` is refused, or None when it is fine: listening beyond
    loopback needs a token, or anyone who can reach the port could start and cancel runs."""
    if api_token or is_loopback(host):
        return None
    return (
        f"refusing to serve the API on {host!r} without an API token: anyone who can reach it "
        "could start, pause and cancel runs. Set STOCKSYNC_API_TOKEN (clients then send "
        "'Authorization: Bearer <token>'), or listen on 127.0.0.1"
    )
