"""The ledger views through the API on real services: progress per trade date (the seeds'
sync_progress_summary), clearing a run's ledger, the range cap's 400, and run kinds."""

from __future__ import annotations

import pytest
from celery import Celery
from inprocess_runs import PlanHere  # type: ignore[import-not-found]

from api import create_app
from stocksync.runs.execution import run_unit
from workers.dispatch import CeleryDispatcher


class InProcess:
    """Plays the worker: runs each dispatched unit at once."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx

    def dispatch(self, run_id, item_ids):
        for item in item_ids:
            run_unit(self.ctx, item, self)


@pytest.fixture
def client(ctx):
    app = create_app(
        {
            "CONTEXT_FACTORY": lambda: ctx,
            "DISPATCHER_FACTORY": lambda: PlanHere(ctx, InProcess(ctx)),
        }
    )
    return app.test_client()


def test_dates_summarise_each_trade_date_and_clear_lets_the_work_be_redone(client, ctx):
    body = {"start_date": "2025-03-03", "end_date": "2025-03-05", "periods": ["daily", "weekly"]}
    run_id = client.post("/api/v1/runs", json=body).json["run_id"]
    summary = client.get(f"/api/v1/runs/{run_id}/dates").json
    rows = {(d["period"], d["date"]): d for d in summary["dates"]}
    assert set(rows) == {("daily", "2025-03-03"), ("daily", "2025-03-04"), ("daily", "2025-03-05")}
    for d in rows.values():  # the week of 03-03 is not over on 03-05: no weekly unit
        assert (d["total"], d["success"], d["failed"], d["pending"]) == (1, 1, 0, 0)
        assert d["success_rate"] == 100.0 and d["first_at"] <= d["last_at"]

    again = client.get(client.post("/api/v1/runs", json=body).json["link"]).json
    assert again["skipped"] == 3  # the ledger says the work is done
    cleared = client.delete(f"/api/v1/runs/{run_id}")
    assert cleared.status_code == 200 and cleared.json["deleted_items"] == 3
    assert client.get(f"/api/v1/runs/{run_id}").status_code == 404
    client.delete(f"/api/v1/runs/{again['id']}")
    redo = client.get(client.post("/api/v1/runs", json=body).json["link"]).json
    assert (redo["skipped"], redo["success"]) == (0, 3)  # cleared: the work is done again


def test_clearing_an_active_run_is_a_conflict(ctx, settings):
    broker = Celery("ledger-tests", broker=settings.redis_url)  # queued, never run: stays active
    broker.conf.task_default_queue = "stocksync-ledger-tests"
    app = create_app(
        {
            "CONTEXT_FACTORY": lambda: ctx,
            "DISPATCHER_FACTORY": lambda: PlanHere(ctx, CeleryDispatcher(broker)),
        }
    )
    client = app.test_client()
    run_id = client.post(
        "/api/v1/runs", json={"start_date": "2025-03-03", "end_date": "2025-03-03"}
    ).json["run_id"]
    response = client.delete(f"/api/v1/runs/{run_id}")
    assert response.status_code == 409
    assert "cancel it" in response.json["error"]["message"]
    assert client.get(f"/api/v1/runs/{run_id}/dates").json["dates"][0]["pending"] == 1
    assert client.delete("/api/v1/runs/999999").status_code == 404


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"start_date": "2025-01-01", "end_date": "2025-06-30"}, "covers 181 days"),
        ({"kind": "incremental", "days_back": -1}, "between 1 and 3650"),
        ({"kind": "everything"}, "must be one of range, all_history, incremental"),
        ({"start_date": "2025-01-01", "end_date": "2025-01-02", "datasets": ["ticks"]},
         "unknown dataset"),
        ({"start_date": "2025-01-01", "end_date": "2025-01-02", "symbols": {"a": 1}},
         "a list of strings or a string"),
    ],
)  # fmt: skip
def test_bad_run_requests_are_400_with_the_reason(client, body, words):
    response = client.post("/api/v1/runs", json=body)
    assert response.status_code == 400
    assert words in response.json["error"]["message"]


def test_an_incremental_run_through_the_api(client):
    client.post("/api/v1/runs", json={"start_date": "2025-03-03", "end_date": "2025-03-04"})
    run = client.post("/api/v1/runs", json={"kind": "incremental", "end_date": "2025-03-06"}).json
    shown = client.get(run["link"]).json
    assert shown["kind"] == "incremental" and shown["spec"]["start_date"] == "2025-03-05"
    assert (shown["status"], shown["total"]) == ("success", 2)
