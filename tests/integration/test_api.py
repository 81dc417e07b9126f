"""The API's contract through Flask's test client on real services: shapes, links, and a clear
400/404/409 for every kind of bad request. Messages go to a real Redis broker."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from celery import Celery
from inprocess_runs import PlanHere  # type: ignore[import-not-found]

from api import create_app
from stocksync.runs import service as runs
from workers.dispatch import CeleryDispatcher

VALID = {"start_date": "2025-03-03", "end_date": "2025-03-05"}


@pytest.fixture
def client(ctx, settings):
    broker = Celery("api-tests", broker=settings.redis_url)
    broker.conf.task_default_queue = "stocksync"
    app = create_app(
        {
            "CONTEXT_FACTORY": lambda: ctx,
            "DISPATCHER_FACTORY": lambda: PlanHere(ctx, CeleryDispatcher(broker)),
        }
    )
    return app.test_client()


def queued(settings) -> int:
    return int(redis.Redis.from_url(settings.redis_url).llen("stocksync"))


def test_healthz_checks_both_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_create_returns_202_with_a_link_and_enqueues_one_message_per_unit(client, settings):
    response = client.post("/api/v1/runs", json=VALID)
    assert response.status_code == 202
    body = response.json
    assert body["link"] == f"/api/v1/runs/{body['run_id']}" == response.headers["Location"]
    assert body["status"] == "planning"  # planned by the plan_run task (here: in process)
    assert queued(settings) == 3

    shown = client.get(body["link"]).json
    for key in (
        "total",
        "done",
        "success",
        "failed",
        "skipped",
        "pending",
        "percent",
        "current_date",
        "message",
        "rows_written",
        "started_at",
        "finished_at",
        "eta_s",
    ):
        assert key in shown  # fmt: skip
    assert (shown["status"], shown["total"], shown["pending"], shown["percent"]) == (
        "running", 3, 3, 0.0,
    )  # fmt: skip


def test_runs_are_listed_newest_first_with_pagination(client, ctx):
    first = client.post("/api/v1/runs", json=VALID).json["run_id"]
    client.post(f"/api/v1/runs/{first}/cancel")  # let a second run start
    second = client.post("/api/v1/runs", json=VALID | {"force": True}).json["run_id"]
    page = client.get("/api/v1/runs?per_page=1").json
    assert (page["total"], page["page"], page["per_page"]) == (2, 1, 1)
    assert [r["id"] for r in page["items"]] == [second]
    assert [r["id"] for r in client.get("/api/v1/runs?page=2&per_page=1").json["items"]] == [first]
    assert client.get("/api/v1/runs?page=0").status_code == 400
    assert client.get("/api/v1/runs?per_page=lots").json["error"]["field"] == "per_page"


def test_conflict_is_409_naming_the_active_run(client):
    first = client.post("/api/v1/runs", json=VALID).json
    response = client.post("/api/v1/runs", json=VALID)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "run_conflict"
    assert response.json["error"]["active_run"] == first["link"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"start_date": "2025-13-01", "end_date": "2025-03-05"}, "start_date", "not a valid date"),
        ({"start_date": "2025-03-06", "end_date": "2025-03-05"}, "start_date", "after end_date"),
        (VALID | {"symbols": ["600046", "699998"]}, "symbols", "unknown stock code(s): 699998.SH"),
        (VALID | {"symbols": ["hello"]}, "symbols", "not a stock code"),
        (VALID | {"sources": ["yahoo"]}, "sources", "unknown source"),
        (VALID | {"periods": "hourly"}, "periods", "unknown period"),
        (VALID | {"start": "2025-01-01"}, "start", "unknown field"),
        ({"start_date": "2030-01-01", "end_date": "2030-01-02"}, "end_date", "in the future"),
        ({"start_date": "2025-03-08", "end_date": "2025-03-09"}, "start_date", "no trading days"),
    ],
)
def test_bad_requests_are_400_with_a_message_and_nothing_enqueued(
    client, ctx, settings, body, field, words
):
    month = {"start_date": "2025-03-01", "end_date": "2025-03-31"}
    runs.preview_run(ctx, runs.parse_spec(ctx, month))  # the stored list and calendar decide
    response = client.post("/api/v1/runs", json=body)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "invalid_request" and error["field"] == field
    assert words in error["message"]
    assert queued(settings) == 0
    assert client.get("/api/v1/runs").json["total"] == 0


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_not_a_json_object_is_400(client, payload):
    response = client.post("/api/v1/runs", data=payload, content_type="application/json")
    assert response.status_code == 400
    assert "JSON object" in response.json["error"]["message"]


def test_unknown_runs_and_routes_are_json_404s(client):
    missing = client.get("/api/v1/runs/4242")
    assert missing.status_code == 404
    assert missing.json["error"] == {"code": "not_found", "message": "run 4242 does not exist"}
    assert client.get("/api/v1/nothing-here").json["error"]["code"] == "not_found"
    assert client.delete("/api/v1/runs").status_code == 405


def test_preview_shows_the_plan_without_starting_anything(client, settings):
    week = {"start_date": "2025-03-03", "end_date": "2025-03-07", "periods": ["daily", "weekly"]}
    preview = client.post("/api/v1/runs/preview", json=week)
    assert preview.status_code == 200
    assert preview.json["units"] == 6 and preview.json["already_done"] == 0  # 5 days + 1 week
    short = client.post("/api/v1/runs/preview", json=week | {"end_date": "2025-03-06"})
    assert short.json["units"] == 4  # the week is not over on Thursday: no weekly bar yet
    assert queued(settings) == 0 and client.get("/api/v1/runs").json["total"] == 0


def test_runs_can_be_paused_resumed_cancelled_and_retried_over_http(client, settings):
    run = client.post("/api/v1/runs", json=VALID).json
    link = run["link"]
    assert client.post(f"{link}/pause").json["status"] == "paused"
    resumed = client.post(f"{link}/resume")
    assert resumed.status_code == 202 and resumed.json["requeued"] == 3
    assert queued(settings) == 6  # the first three messages, and three again
    cancelled = client.post(f"{link}/cancel")
    assert cancelled.json["status"] == "cancelled"
    again = client.post(f"{link}/resume")
    assert again.status_code == 400 and "cancelled" in again.json["error"]["message"]
    assert client.post(f"{link}/cancel").status_code == 400
    assert client.post("/api/v1/runs/999/retry-failed").status_code == 404
    assert client.post(f"{link}/reset-failed").json == {"run_id": run["run_id"], "reset": 0}


def test_a_runs_units_can_be_listed_by_status_with_their_errors(client, ctx):
    import dataclasses

    from stocksync.context import build_context
    from stocksync.runs.execution import RetryLater, run_unit

    run = client.post("/api/v1/runs", json=VALID).json
    broken = build_context(
        ctx.settings.with_overrides(sim=dataclasses.replace(ctx.settings.sim, garbage_rate=1.0))
    )
    first = client.get(f"{run['link']}/items?status=pending").json["items"][0]
    with pytest.raises(RetryLater):  # a corrupted reply is often transient: retried once
        run_unit(broken, first["id"])
    run_unit(broken, first["id"])
    broken.close()
    failed = client.get(f"{run['link']}/items?status=failed").json
    assert failed["total"] == 1
    item = failed["items"][0]
    assert (item["id"], item["attempts"], item["source"]) == (first["id"], 2, "sim")
    assert "quarantined" in item["error"]
    assert client.get(f"{run['link']}/items").json["total"] == 3
    bad = client.get(f"{run['link']}/items?status=broken")
    assert bad.status_code == 400 and "unknown status" in bad.json["error"]["message"]
    assert client.get("/api/v1/runs/999/items").status_code == 404


def test_bars_are_read_back_raw_or_adjusted(client, ctx, oracle, settings):
    from decimal import Decimal

    from stocksync.runs.execution import run_unit
    from stocksync.sources.sim import sim_market

    market = sim_market(settings.sim.seed, settings.sim.stocks)
    start, end = "2024-12-02", "2025-01-31"
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    code = next(  # a stock whose factor changes within the range
        s.code
        for s in market.securities()
        if s.is_listed_on(first)
        and len({f.factor for f in market.adj_factors(s.code, first, last)}) > 1
    )
    run = client.post("/api/v1/runs", json={"start_date": start, "end_date": end,
                                            "symbols": [code]}).json  # fmt: skip
    for item in client.get(f"{run['link']}/items").json["items"]:
        run_unit(ctx, item["id"])

    raw = client.get(f"/api/v1/bars?code={code[:6]}&start={start}&end={end}").json
    hfq = client.get(f"/api/v1/bars?code={code}&start={start}&end={end}&adjust=hfq").json
    qfq = client.get(f"/api/v1/bars?code={code}&start={start}&end={end}&adjust=QFQ").json
    truth = {b.trade_date.isoformat(): b for b in market.bars_for_code(code, first, last)}
    factors = {
        f.trade_date.isoformat(): Decimal(repr(f.factor))
        for f in market.adj_factors(code, first, last)
    }
    latest = factors[max(factors)]
    assert [b["trade_date"] for b in raw["bars"]] == sorted(truth)
    for r, h, q in zip(raw["bars"], hfq["bars"], qfq["bars"], strict=True):
        day = r["trade_date"]
        assert r["close"] == truth[day].close and r["volume"] == truth[day].volume
        close = Decimal(repr(truth[day].close))
        assert h["close"] == float(round(close * factors[day], 4))
        assert q["close"] == float(round(close * factors[day] / latest, 4))
    assert len({b["factor"] for b in raw["bars"]}) > 1

    for query, field in [
        ("code=12&start=2025-01-01&end=2025-01-02", "code"),
        (f"code={code}&start=2025-02-01&end=2025-01-01", "start"),
        (f"code={code}&start=2025-01-01&end=2025-01-02&adjust=forward", "adjust"),
        (f"code={code}&start=2025-01-01&end=2025-01-02&period=hourly", "period"),
        (f"start={start}&end={end}", "code"),
        (f"code=600999.SH&start={start}&end={end}", "code"),
    ]:
        response = client.get(f"/api/v1/bars?{query}")
        assert response.status_code == 400 and response.json["error"]["field"] == field, query


def test_stats_report_rows_latest_dates_and_coverage(client, ctx, oracle):
    from stocksync.runs.execution import run_unit

    empty = client.get("/api/v1/stats").json
    assert empty["bars"] == [] and empty["adj_factors"] == {"rows": 0, "latest_date": None}
    run = client.post("/api/v1/runs", json=VALID).json
    for item in client.get(f"{run['link']}/items").json["items"]:
        run_unit(ctx, item["id"])
    days = oracle.trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 5))
    expected = oracle.expected(days)
    stats = client.get("/api/v1/stats").json
    assert stats["bars"] == [{
        "period": "daily", "source": "sim", "rows": len(expected),
        "stocks": len({r[0] for r in expected}), "first_date": "2025-03-03",
        "latest_date": "2025-03-05",
    }]  # fmt: skip
    assert stats["valuations"]["latest_date"] == "2025-03-05"
    cover = client.get("/api/v1/stats/coverage?start=2025-03-01&end=2025-03-10").json
    assert [d["trade_date"] for d in cover["dates"]] == [d.isoformat() for d in days]
    first = cover["dates"][0]
    assert first["bars"] == sum(1 for r in expected if r[2] == days[0])
    assert first["adj_factors"] == first["bars"]
    assert 0 < first["valuations"] <= first["bars"]  # suspended stocks have no valuation
    bad = client.get("/api/v1/stats/coverage?start=2024-01-01&end=2025-06-01")
    assert bad.status_code == 400 and bad.json["error"]["field"] == "end"
