"""The API token on real services: with one configured, every change needs it (and auth comes
before anything else), reading stays open, the token is never echoed; without one the API is
open; and ``stocksync up`` will not serve an unprotected API beyond loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from inprocess_runs import PlanHere  # type: ignore[import-not-found]

from api import create_app
from cli.safety import exposure_problem, is_loopback
from workers.dispatch import CeleryDispatcher

REPO = Path(__file__).resolve().parents[2]
TOKEN = "tok-7f3a9c-never-shown"
VALID = {"start_date": "2025-03-03", "end_date": "2025-03-05"}


def make_client(ctx, settings, token):
    broker = Celery("api-token-tests", broker=settings.redis_url)
    broker.conf.task_default_queue = "stocksync"
    app = create_app(
        {
            "CONTEXT_FACTORY": lambda: ctx,
            "DISPATCHER_FACTORY": lambda: PlanHere(ctx, CeleryDispatcher(broker)),
            "API_TOKEN": token,
        }
    )
    # A route added after the app was built (as other blueprints are) is guarded too.
    app.add_url_rule("/api/v1/later", "later", lambda: ({"ok": True}, 200), methods=["PUT"])
    return app.test_client()


@pytest.fixture
def responses():
    seen = []
    yield seen
    for response in seen:  # whatever happened, the token was never sent back
        assert TOKEN not in response.get_data(as_text=True)
        assert TOKEN not in str(response.headers)


def test_changes_need_the_token_and_auth_comes_before_validation(ctx, settings, responses):
    client = make_client(ctx, settings, TOKEN)

    def post(path, **kwargs):
        response = client.post(path, **kwargs)
        responses.append(response)
        return response

    missing = post("/api/v1/runs", json=VALID)
    assert missing.status_code == 401
    assert missing.json["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer <token>" in missing.json["error"]["message"]
    assert "X-API-Token" in missing.json["error"]["message"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")

    wrong = post("/api/v1/runs", json=VALID, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "not valid" in wrong.json["error"]["message"]
    near = post("/api/v1/runs", json=VALID, headers={"Authorization": f"Bearer {TOKEN}x"})
    assert near.status_code == 401
    basic = post("/api/v1/runs", json=VALID, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401

    # Authorised, a bad body is a 400 — so the 401s above came before any validation.
    bad = post("/api/v1/runs", json={"start_date": "nope"},
               headers={"Authorization": f"Bearer {TOKEN}"})  # fmt: skip
    assert bad.status_code == 400 and bad.json["error"]["code"] == "invalid_request"

    created = post("/api/v1/runs", json=VALID, headers={"Authorization": f"bearer {TOKEN}"})
    assert created.status_code == 202, created.json
    run_id = created.json["run_id"]
    assert ctx.lock.holder().run_id == run_id

    # Steering is guarded the same way, and X-API-Token works too.
    assert post(f"/api/v1/runs/{run_id}/pause").status_code == 401
    paused = post(f"/api/v1/runs/{run_id}/pause", headers={"X-API-Token": TOKEN})
    assert paused.status_code == 200 and paused.json["status"] == "paused"
    assert post(f"/api/v1/runs/{run_id}/cancel").status_code == 401
    assert client.get(f"/api/v1/runs/{run_id}").json["status"] == "paused"  # unchanged

    later = client.put("/api/v1/later")
    responses.append(later)
    assert later.status_code == 401
    assert client.put("/api/v1/later", headers={"X-API-Token": TOKEN}).status_code == 200


def test_reading_stays_open_with_a_token(ctx, settings, responses):
    client = make_client(ctx, settings, TOKEN)
    created = client.post("/api/v1/runs", json=VALID, headers={"X-API-Token": TOKEN})
    run_id = created.json["run_id"]
    for path in ("/healthz", "/api/v1/runs", f"/api/v1/runs/{run_id}",
                 f"/api/v1/runs/{run_id}/items?status=failed", "/", f"/runs/{run_id}"):  # fmt: skip
        response = client.get(path)
        responses.append(response)
        assert response.status_code == 200, (path, response.data[:200])


def test_without_a_token_changes_are_open(ctx, settings, responses):
    client = make_client(ctx, settings, None)
    created = client.post("/api/v1/runs", json=VALID)
    responses.append(created)
    assert created.status_code == 202
    assert client.post(f"/api/v1/runs/{created.json['run_id']}/cancel").status_code == 200
    assert client.put("/api/v1/later").status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("::1", True),
     ("[::1]", True), ("LOCALHOST", True), ("0.0.0.0", False), ("::", False),
     ("192.168.1.20", False), ("example.internal", False), ("", False)],
)  # fmt: skip
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback
    assert (exposure_problem(host, None) is None) is loopback
    assert exposure_problem(host, TOKEN) is None  # with a token any address is allowed


def test_the_refusal_explains_itself_without_any_token():
    problem = exposure_problem("0.0.0.0", None)
    assert problem and "STOCKSYNC_API_TOKEN" in problem and "127.0.0.1" in problem


def test_up_on_all_interfaces_without_a_token_exits_2_at_once(settings):
    env = dict(os.environ) | settings.as_env() | {"PYTHONPATH": str(REPO), "COLUMNS": "200"}
    env.pop("STOCKSYNC_API_TOKEN", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "up", "--host", "0.0.0.0", "--port", "1"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refusing to serve the API on '0.0.0.0' without an API token" in result.stderr
    assert "STOCKSYNC_API_TOKEN" in result.stderr
    assert "stocksync is up" not in result.stdout
    assert time.monotonic() - started < 30


def test_a_page_of_another_site_cannot_steer_a_tokenless_api(ctx, settings):
    client = make_client(ctx, settings, None)
    foreign = client.post("/api/v1/runs", json=VALID, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert foreign.json["error"]["code"] == "cross_site_request"
    own = client.post("/api/v1/runs", json=VALID, headers={"Origin": "http://localhost"})
    assert own.status_code == 202  # the progress page's own requests (test client host)
    assert client.get("/api/v1/runs", headers={"Origin": "http://evil.example"}).status_code == 200
