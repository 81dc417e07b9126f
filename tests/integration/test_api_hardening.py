"""Hostile and unlucky requests on real services: no input gets a 5xx, every error (the HTTP
server's own included) is in the JSON shape, bodies are limited, an unreachable PostgreSQL is a
503, a DNS-rebinding page cannot steer runs, the page cannot be framed, and a token in a URL is
refused and kept out of the access log."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from celery import Celery
from inprocess_runs import PlanHere  # type: ignore[import-not-found]
from werkzeug.serving import make_server

from api import create_app
from api.serve import RequestHandler
from stocksync.context import build_context
from workers.dispatch import CeleryDispatcher

VALID = {"start_date": "2025-03-03", "end_date": "2025-03-05"}
TOKEN = "tok-hardening-3b9e71-secret"
EVIL = "http://evil.example:8000"


def make_app(ctx, settings, **config):
    broker = Celery("api-hardening-tests", broker=settings.redis_url)
    broker.conf.task_default_queue = "stocksync"
    return create_app(
        {
            "CONTEXT_FACTORY": lambda: ctx,
            "DISPATCHER_FACTORY": lambda: PlanHere(ctx, CeleryDispatcher(broker)),
            **config,
        }
    )


@pytest.fixture
def client(ctx, settings):
    return make_app(ctx, settings).test_client()


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` behind the same Werkzeug server and handler ``python -m api.serve`` uses."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def raw_exchange(base: str, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection and read the answer until the server closes it."""
    host, port = base.removeprefix("http://").split(":")
    chunks = []
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:  # the server closed with our unread bytes in its buffer
            pass
    return b"".join(chunks)


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    error = response.json["error"]
    assert error["code"] == code and error["message"]
    return error


# --- no 5xx from input ------------------------------------------------------------------------


def test_pages_and_ids_beyond_postgres_bigint_are_400_and_404(client):
    run_id = client.post("/api/v1/runs", json=VALID).json["run_id"]

    items = client.get(f"/api/v1/runs/{run_id}/items?page=292987707795239488")
    error = assert_error_shape(items, 400, "invalid_request")
    assert error["field"] == "page" and "at most 1000000000" in error["message"]
    listing = client.get(f"/api/v1/runs?page={10**18}")
    assert assert_error_shape(listing, 400, "invalid_request")["field"] == "page"
    huge = client.get(f"/api/v1/runs?page={'9' * 5000}")  # beyond int()'s digit limit
    assert len(assert_error_shape(huge, 400, "invalid_request")["message"]) < 120

    assert_error_shape(client.get(f"/api/v1/runs/{10**20}"), 404, "not_found")
    assert_error_shape(client.get(f"/api/v1/runs/{10**20}/items"), 404, "not_found")
    assert_error_shape(client.get(f"/api/v1/runs/{2**63 - 1}"), 404, "not_found")
    assert client.get(f"/api/v1/runs/{run_id}/items?page=2").status_code == 200


@pytest.fixture
def schedule_name(client) -> str:
    return client.get("/api/v1/schedules").json["items"][0]["name"]


@pytest.mark.parametrize("depth", [100_000, 40])
def test_deeply_nested_json_bodies_are_400(client, schedule_name, depth):
    nested = "[" * depth + "]" * depth
    for method, path, document in (
        ("post", "/api/v1/runs", nested),
        ("post", "/api/v1/runs/preview", f'{{"start_date": "2025-03-03", "symbols": {nested}}}'),
        ("put", f"/api/v1/schedules/{schedule_name}", f'{{"body": {nested}}}'),
    ):
        response = getattr(client, method)(path, data=document, content_type="application/json")
        error = assert_error_shape(response, 400, "invalid_request")
        assert "nests deeper than 32 levels" in error["message"]


def test_a_cron_longer_than_the_stored_column_is_400_naming_the_limit(client, schedule_name):
    before = client.get(f"/api/v1/schedules/{schedule_name}").json["cron"]
    every_minute = ",".join(str(m) for m in range(60)) + " * * * *"  # valid, 177 characters
    assert len(every_minute) > 170
    response = client.put(f"/api/v1/schedules/{schedule_name}", json={"cron": every_minute})
    error = assert_error_shape(response, 400, "invalid_request")
    assert error["field"] == "cron" and "120" in error["message"]
    assert client.get(f"/api/v1/schedules/{schedule_name}").json["cron"] == before


def test_bodies_over_1_mib_are_413_on_every_route(client):
    big = b'{"start_date": "' + b"x" * (1024 * 1024) + b'"}'
    for path in ("/api/v1/runs", "/api/v1/runs/1/cancel", "/api/v1/nothing-here"):
        response = client.post(path, data=big, content_type="application/json")
        error = assert_error_shape(response, 413, "request_entity_too_large")
        assert "1 MiB" in error["message"]
    small = client.post("/api/v1/runs/preview", json=VALID | {"pad": "x" * 1000})
    assert small.status_code == 400  # under the limit the body is read (and its field refused)


def test_a_413_is_answered_before_the_body_is_read(ctx, settings):
    with serving(make_app(ctx, settings)) as base:
        head = (
            "POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n"
        ).encode()
        answer = raw_exchange(base, head + b'{"start_date": "')  # 50 MiB announced, 16 B sent
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 413")
    assert b"Content-Type: application/json" in rest and b'"request_entity_too_large"' in rest


def test_404_and_405_are_json_and_a_405_says_what_is_allowed(client):
    assert_error_shape(client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error_shape(client.get("/no/such/page"), 404, "not_found")
    wrong = client.delete("/api/v1/runs")
    assert_error_shape(wrong, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in wrong.headers["Allow"].split(",")}
    assert "PUT" in client.post("/api/v1/schedules/daily").headers["Allow"]


def test_the_http_servers_own_errors_are_json(ctx, settings):
    with serving(make_app(ctx, settings)) as base:
        too_long = requests.get(f"{base}/api/v1/runs?q={'x' * 70_000}", timeout=10)
        malformed = raw_exchange(base, b"GET /api/v1/runs HTTP/1.1 trailing\r\n\r\n")
    assert too_long.status_code == 414
    assert too_long.headers["Content-Type"] == "application/json"
    assert too_long.json()["error"]["code"] == "request_uri_too_long"
    assert malformed.startswith(b"HTTP/1.1 400") or malformed.startswith(b"HTTP/1.0 400")
    assert b'{"error": {"code": "bad_request"' in malformed


def unused_port() -> int:
    with socket.socket() as sock:  # nothing listens on it once closed
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_run_is_503_not_500_while_postgres_is_unreachable(settings):
    unreachable = settings.with_overrides(
        database_url=f"postgresql://stocksync@127.0.0.1:{unused_port()}/stocksync"
    )
    down = build_context(unreachable, start=False)
    try:
        client = make_app(down, settings).test_client()
        for path in ("/api/v1/runs/1", "/api/v1/runs", "/api/v1/runs/1/items"):
            response = client.get(path)
            error = assert_error_shape(response, 503, "service_unavailable")
            assert "PostgreSQL" in error["message"] and "unreachable" in error["message"]
            assert response.headers["Retry-After"] == "5"
        assert client.get("/healthz").json["checks"]["redis"] == "ok"
    finally:
        down.close()


def test_starting_a_run_is_503_while_redis_is_unreachable(ctx, settings):
    down = build_context(
        settings.with_overrides(redis_url=f"redis://127.0.0.1:{unused_port()}/0"), start=False
    )
    try:
        response = make_app(down, down.settings).test_client().post("/api/v1/runs", json=VALID)
        error = assert_error_shape(response, 503, "service_unavailable")
        assert "Redis" in error["message"] and response.headers["Retry-After"] == "5"
    finally:
        down.close()


# --- security ---------------------------------------------------------------------------------


def test_without_a_token_a_rebinding_page_cannot_change_runs(client):
    run = client.post("/api/v1/runs", json=VALID).json
    rebound = client.post(
        f"/api/v1/runs/{run['run_id']}/cancel", base_url=EVIL, headers={"Origin": EVIL}
    )
    error = assert_error_shape(rebound, 403, "host_not_allowed")
    assert "evil.example:8000" in error["message"] and "STOCKSYNC_API_TOKEN" in error["message"]
    assert client.get(run["link"]).json["status"] == "running"

    # Reading stays open, as it is with a token: the ledger and bars are not secrets.
    assert client.get(run["link"], base_url=EVIL).status_code == 200
    for base in ("http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000",
                 "http://127.0.0.2", "http://LOCALHOST"):  # fmt: skip
        assert client.post("/api/v1/runs/preview", json=VALID, base_url=base).status_code == 200
    assert client.post(f"/api/v1/runs/{run['run_id']}/cancel").status_code == 200


def test_with_a_token_any_host_may_change_runs_with_it(ctx, settings):
    client = make_app(ctx, settings, API_TOKEN=TOKEN).test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/v1/runs/preview", json=VALID, base_url=EVIL).status_code == 401
    allowed = client.post("/api/v1/runs/preview", json=VALID, base_url=EVIL, headers=bearer)
    assert allowed.status_code == 200


def test_the_page_and_the_api_cannot_be_framed(client):
    for path in ("/", "/runs/1", "/api/v1/runs", "/api/v1/nothing-here"):
        response = client.get(path)
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in client.get("/").headers["Content-Security-Policy"]


def test_a_token_in_the_url_is_refused_and_never_logged(ctx, settings, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    with serving(make_app(ctx, settings, API_TOKEN=TOKEN)) as base:
        refused = [
            requests.get(f"{base}/api/v1/runs?token={TOKEN}", timeout=10),
            requests.get(f"{base}/api/v1/runs?page=1&Access-Token={TOKEN}", timeout=10),
            requests.post(f"{base}/api/v1/runs?api_key={TOKEN}", json=VALID, timeout=10),
            requests.get(f"{base}/api/v1/runs?q={TOKEN}", timeout=10),  # under any name
        ]
        encoded = raw_exchange(  # a percent-encoded name is still a token's name
            base, f"GET /api/v1/runs?%74oken={TOKEN} HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
        )
        malformed = raw_exchange(base, f"GET /?token={TOKEN} HTTP/1.1 x\r\n\r\n".encode())
        fine = requests.get(f"{base}/api/v1/runs?page=1", timeout=10)
    for response in refused:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "token_in_query"
        assert "Authorization header" in error["message"] and TOKEN not in response.text
    assert encoded.startswith(b"HTTP/1.1 400") and b'"token_in_query"' in encoded
    assert malformed.startswith(b"HTTP/1.1 400") and TOKEN.encode() not in malformed
    assert fine.status_code == 200
    assert TOKEN not in caplog.text
    assert caplog.text.count("/api/v1/runs?[redacted]") == len(refused) + 1
    assert "/api/v1/runs?page=1 HTTP/1.1" in caplog.text
