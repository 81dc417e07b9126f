"""Server-sent events: a run's live progress as ``text/event-stream``."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app
from flask.typing import ResponseReturnValue

from api.deps import app_context
from stocksync.runs import service as runs
from stocksync.runs.events import StreamEvent, watch_run

bp = Blueprint("events", __name__)

RETRY_MS = 2000  # how long a browser waits before reconnecting after a dropped stream


def sse(event: str, data: Any, event_id: int) -> str:
    """One server-sent event: ``id``, ``event`` and one ``data`` line of compact JSON."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event_id}\nevent: {event}\ndata: {payload}\n\n"


def _encode(events: Iterator[StreamEvent], log: logging.Logger) -> Iterator[str]:
    ids = itertools.count(1)
    yield f"retry: {RETRY_MS}\n\n"
    try:
        for event in events:
            if event.kind == "keepalive":
                yield ": keepalive\n\n"
            else:
                yield sse(event.kind, event.view, next(ids))
    except Exception:  # the stream has started: report in-band, the client reconnects
        log.exception("progress stream failed")
        error = {"code": "internal_error", "message": "the progress stream failed; reconnect"}
        yield sse("error", {"error": error}, next(ids))


@bp.get("/runs/<int:run_id>/events")
def run_events(run_id: int) -> ResponseReturnValue:
    """The run's view now, again on every change, keepalives, and ``end`` at a final status."""
    ctx = app_context()
    events = watch_run(
        lambda: runs.run_view(ctx, run_id),
        interval_s=current_app.config["SSE_POLL_S"],
        keepalive_s=current_app.config["SSE_KEEPALIVE_S"],
        max_duration_s=current_app.config["SSE_MAX_DURATION_S"],
    )
    first = next(events)  # an unknown run raises NotFound here: a JSON 404, not a stream
    stream = _encode(itertools.chain([first], events), current_app.logger)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream, mimetype="text/event-stream", headers=headers)
