"""A real sync: HTTP API → Redis broker → celery worker processes → PostgreSQL, checked against
the simulated market's truth bar by bar."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from e2e_support import wait_for  # type: ignore[import-not-found]
from sqlalchemy import select

from stocksync.storage.schema import sync_items, sync_runs

pytestmark = pytest.mark.e2e

START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 14)


def wait_finished(api_url: str, run_id: int, timeout: float = 180) -> dict:
    def finished():
        body = requests.get(f"{api_url}/api/v1/runs/{run_id}", timeout=5).json()
        return body if body["status"] not in ("planning", "pending", "running") else None

    return wait_for(finished, timeout=timeout)  # type: ignore[return-value]


def test_a_sync_through_the_api_stores_exactly_the_oracles_bars(
    ctx, settings, workers, api_url, oracle
):
    workers.start("w1")
    workers.start("w2", concurrency=1)
    response = requests.post(
        f"{api_url}/api/v1/runs",
        json={"start_date": START.isoformat(), "end_date": END.isoformat(),
              "periods": ["daily", "weekly"]},
        timeout=60,
    )  # fmt: skip
    assert response.status_code == 202, response.text
    created = response.json()
    assert response.headers["Location"] == created["link"] == f"/api/v1/runs/{created['run_id']}"
    days = oracle.trading_days(START, END)
    assert created["status"] == "planning"  # a worker plans it: no source asked in the request
    view = wait_finished(api_url, created["run_id"])
    assert view["total"] == len(days) + 2  # ten daily units and two weekly ones
    assert view["status"] == "success", view
    assert (view["done"], view["success"], view["failed"], view["percent"]) == (12, 12, 0, 100.0)

    expected = oracle.expected(days) | oracle.expected(
        [dt.date(2025, 3, 7), dt.date(2025, 3, 14)], "weekly"
    )
    stored = oracle.stored(ctx.engine)
    assert len(stored) == len(set(stored)) == len(expected)
    assert set(stored) == expected
    assert view["rows_written"] == len(expected)
    assert oracle.stored_factors(ctx.engine) == oracle.expected_factors(days)
    assert oracle.stored_valuations(ctx.engine) == oracle.expected_valuations(days)
    assert len({row[0] for row in stored}) > settings.sim.stocks * 0.8

    with ctx.engine.connect() as conn:
        items = conn.execute(select(sync_items)).all()
        run = conn.execute(select(sync_runs)).one()
    assert {i.status for i in items} == {"success"} and {i.source for i in items} == {"sim"}
    assert run.finished_at is not None and run.duration_s > 0
    assert run.success_count == 12 and run.rows_written == len(expected)


def test_a_second_identical_run_skips_everything_and_force_redoes_it(ctx, workers, api_url):
    workers.start("w1")
    body = {"start_date": "2025-03-03", "end_date": "2025-03-05"}
    first = requests.post(f"{api_url}/api/v1/runs", json=body, timeout=60).json()
    assert wait_finished(api_url, first["run_id"])["status"] == "success"

    second = requests.post(f"{api_url}/api/v1/runs", json=body, timeout=60)
    assert second.status_code == 202
    view = wait_finished(api_url, second.json()["run_id"], timeout=30)
    assert (view["status"], view["skipped"], view["success"]) == ("success", 3, 0)

    forced = requests.post(f"{api_url}/api/v1/runs", json=body | {"force": True}, timeout=60)
    view = wait_finished(api_url, forced.json()["run_id"])
    assert (view["skipped"], view["success"]) == (0, 3)


def test_a_second_run_while_one_is_active_gets_409_naming_it(ctx, api_url):
    # No worker is running, so the first run stays active.
    body = {"start_date": "2025-03-03", "end_date": "2025-03-05"}
    first = requests.post(f"{api_url}/api/v1/runs", json=body, timeout=60)
    assert first.status_code == 202
    second = requests.post(f"{api_url}/api/v1/runs", json=body, timeout=60)
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["active_run_id"] == first.json()["run_id"]
    assert error["active_run"] == first.json()["link"]
