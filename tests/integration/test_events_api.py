"""The event stream's HTTP shape through Flask's test client on real services: a JSON 404 before
any streaming, the SSE headers and wire format, keepalives while a run is idle, and the end."""

from __future__ import annotations

import json

import pytest
from celery import Celery
from inprocess_runs import PlanHere  # type: ignore[import-not-found]

from api import create_app
from workers.dispatch import CeleryDispatcher

VALID = {"start_date": "2025-03-03", "end_date": "2025-03-05"}


@pytest.fixture
def client(ctx, settings):
    broker = Celery("events-tests", broker=settings.redis_url)
    broker.conf.task_default_queue = "stocksync"
    app = create_app(
        {
            "CONTEXT_FACTORY": lambda: ctx,
            "DISPATCHER_FACTORY": lambda: PlanHere(ctx, CeleryDispatcher(broker)),
            "API_TOKEN": None,
            "SSE_POLL_S": 0.05,
            "SSE_KEEPALIVE_S": 0.2,
        }
    )
    return app.test_client()


def parse(chunks: list[bytes]) -> list[dict]:
    """SSE text → one dict per event (``comment`` for ``:`` lines)."""
    events = []
    for block in b"".join(chunks).decode().split("\n\n"):
        fields: dict = {}
        for line in filter(None, block.split("\n")):
            name, _, value = line.partition(":")
            fields[name or "comment"] = value.strip()
        if fields:
            events.append(fields)
    return events


def test_an_unknown_run_is_a_json_404_not_a_stream(client):
    response = client.get("/api/v1/runs/999/events")
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.json["error"] == {"code": "not_found", "message": "run 999 does not exist"}


def test_an_idle_run_streams_its_view_then_keepalives(client):
    run_id = client.post("/api/v1/runs", json=VALID).json["run_id"]  # no worker: it stays put
    response = client.get(f"/api/v1/runs/{run_id}/events")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    stream = response.response
    chunks = [next(stream) for _ in range(4)]  # retry, progress, keepalive, keepalive
    response.close()
    events = parse(chunks)
    assert events[0] == {"retry": "2000"}
    assert (events[1]["id"], events[1]["event"]) == ("1", "progress")
    view = json.loads(events[1]["data"])
    assert view == {**client.get(f"/api/v1/runs/{run_id}").json, "eta_s": view["eta_s"]}
    assert (view["status"], view["done"], view["total"]) == ("running", 0, 3)
    assert events[2:] == [{"comment": "keepalive"}, {"comment": "keepalive"}]


def test_a_finished_run_streams_its_view_and_the_end_then_closes(client):
    run_id = client.post("/api/v1/runs", json=VALID).json["run_id"]
    assert client.post(f"/api/v1/runs/{run_id}/cancel").status_code == 200
    response = client.get(f"/api/v1/runs/{run_id}/events")
    events = parse(list(response.response))  # the generator ends by itself
    assert [(e.get("id"), e.get("event")) for e in events[1:]] == [("1", "progress"), ("2", "end")]
    assert json.loads(events[-1]["data"])["status"] == "cancelled"
