"""Beat schedules on real services: the API to read and change them, firing a slot exactly once,
and a fire that cannot start its run recorded as a skipped run, never lost."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest

from api import create_app
from stocksync.runs import service as runs
from stocksync.runs.ledger_views import list_runs
from stocksync.schedules import definitions as schedules
from stocksync.schedules.firing import fire_schedule
from stocksync.schedules.leader import LeaderLease

SH = ZoneInfo("Asia/Shanghai")
SIM_BODY = {"start_date": "2025-03-03", "end_date": "2025-03-05", "sources": ["sim"]}


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, run_id, item_ids):
        self.sent.extend(item_ids)


@pytest.fixture
def client(ctx):
    recorder = Recorder()
    app = create_app({"CONTEXT_FACTORY": lambda: ctx, "DISPATCHER_FACTORY": lambda: recorder})
    return app.test_client()


def stored_runs(ctx):
    with ctx.engine.connect() as conn:
        return list_runs(conn, limit=100, offset=0)[0]


def test_the_five_schedules_are_listed_with_their_defaults_in_shanghai_time(client):
    items = {s["name"]: s for s in client.get("/api/v1/schedules").json["items"]}
    assert list(items) == ["daily", "weekly", "monthly", "events", "gap_check"]
    daily = items["daily"]
    assert (daily["cron"], daily["timezone"], daily["enabled"]) == ("30 17 * * 1-5",
                                                                     "Asia/Shanghai", True)  # fmt: skip
    assert daily["trading_days_only"] is True and daily["last_run"] is None
    assert daily["body"] == {
        "kind": "incremental", "periods": ["daily"],
        "datasets": ["bars", "adj_factors", "valuations", "index_bars", "index_members"],
    }  # fmt: skip
    assert daily["next_run_at"].endswith("17:30:00+08:00")
    assert items["weekly"]["cron"] == "0 2 * * 1" and items["weekly"]["body"]["days_back"] == 14
    assert items["monthly"]["cron"] == "0 3 1 * *"
    assert items["events"]["cron"] == "0 6 * * 6" and items["events"]["body"] == {
        "kind": "incremental", "periods": ["daily"], "days_back": 14,
        "datasets": ["corporate_actions", "profiles", "financials"],
    }  # fmt: skip
    assert items["gap_check"]["body"] == {
        "kind": "all_history", "periods": ["daily"],
        "datasets": ["bars", "adj_factors", "valuations", "index_bars", "index_members",
                     "corporate_actions", "profiles", "financials"],
    }  # fmt: skip
    assert items["gap_check"]["next_run_at"][8:19] == "01T04:00:00"


def test_put_changes_a_schedule_and_null_resets_it(client):
    changed = client.put("/api/v1/schedules/weekly", json={"cron": "15  6 * * sat",
                                                           "body": SIM_BODY})  # fmt: skip
    assert changed.status_code == 200, changed.json
    assert changed.json["cron"] == "15 6 * * sat"
    assert changed.json["body"] == SIM_BODY and changed.json["overridden"] == ["cron", "body"]
    assert dt.datetime.fromisoformat(changed.json["next_run_at"]).weekday() == 5
    off = client.put("/api/v1/schedules/weekly", json={"enabled": False}).json
    assert (off["enabled"], off["next_run_at"], off["cron"]) == (False, None, "15 6 * * sat")
    shown = client.get("/api/v1/schedules/weekly").json  # stored, not just echoed
    assert (shown["enabled"], shown["cron"]) == (False, "15 6 * * sat")
    reset = client.put("/api/v1/schedules/weekly", json={"cron": None, "body": None}).json
    assert (reset["cron"], reset["enabled"], reset["overridden"]) == ("0 2 * * 1", False,
                                                                      ["enabled"])  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"cron": "61 * * * *"}, "cron", "minute 61 is out of range 0-59"),
        ({"cron": "30 17 * *"}, "cron", "it needs five"),
        ({"cron": 1730}, "cron", "cron must be a cron expression"),
        ({}, None, "send a JSON object with any of: cron, enabled, body"),
        ({"body": "daily"}, "body", "body: the request body must be a JSON object"),
        ({"every": "day"}, "every", "unknown field(s): every; allowed: body, cron, enabled"),
        ({"enabled": "yes"}, "enabled", "enabled must be true or false"),
        ({"body": {"periods": ["hourly"], "kind": "incremental"}}, "body", "hourly"),
        ({"body": SIM_BODY | {"sources": ["yahoo"]}}, "body", "unknown source(s) yahoo"),
    ],
)
def test_put_refuses_a_bad_change_with_400_and_changes_nothing(client, body, field, message):
    response = client.put("/api/v1/schedules/daily", json=body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert message in response.json["error"]["message"]
    assert client.get("/api/v1/schedules/daily").json["overridden"] == []


def test_an_unknown_schedule_is_404(client):
    for response in (
        client.get("/api/v1/schedules/hourly"),
        client.put("/api/v1/schedules/hourly", json={"enabled": False}),
        client.post("/api/v1/schedules/hourly/run"),
    ):
        assert response.status_code == 404
        assert "daily, weekly, monthly, events, gap_check" in response.json["error"]["message"]


def test_a_slot_fires_once_however_often_it_is_delivered(ctx):
    schedules.update_schedule(ctx, "weekly", {"body": SIM_BODY})
    slot = dt.datetime(2025, 3, 10, 2, 0, tzinfo=SH)
    recorders = [Recorder() for _ in range(6)]
    outcomes: list[dict] = []
    threads = [
        threading.Thread(target=lambda r=r: outcomes.append(fire_schedule(ctx, "weekly", slot, r)))
        for r in recorders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o["outcome"] for o in outcomes) == ["duplicate"] * 5 + ["started"]
    assert sum(len(r.sent) for r in recorders) == 3  # one run's three units, queued once
    [run] = stored_runs(ctx)
    assert (run.trigger, run.status.value) == ("schedule:weekly", "running")
    # the next slot is a new fire: another run is active, so it is recorded as skipped
    later = fire_schedule(ctx, "weekly", slot + dt.timedelta(days=7), Recorder())
    assert later["outcome"] == "skipped"


def test_a_fire_while_another_run_is_active_is_recorded_as_skipped(ctx, client):
    manual = runs.create_run(ctx, runs.parse_spec(ctx, SIM_BODY), Recorder())
    body = {"start_date": "2025-02-03", "end_date": "2025-03-05", "periods": ["monthly"]}
    schedules.update_schedule(ctx, "monthly", {"body": body})
    outcome = fire_schedule(ctx, "monthly", dt.datetime(2025, 4, 1, 3, tzinfo=SH), Recorder())
    assert outcome["outcome"] == "skipped" and outcome["active_run_id"] == manual.run_id
    skipped = runs.run_view(ctx, outcome["run_id"])
    assert (skipped["status"], skipped["trigger"], skipped["total"]) == ("skipped",
                                                                         "schedule:monthly", 0)  # fmt: skip
    assert f"run {manual.run_id} was active" in skipped["message"]
    assert "2025-04-01T03:00:00+08:00" in skipped["message"]
    assert ctx.lock.holder().run_id == manual.run_id  # the active run keeps its lock
    retried = client.post(f"/api/v1/runs/{outcome['run_id']}/retry-failed")
    assert retried.status_code == 400 and "was skipped" in retried.json["error"]["message"]
    last = client.get("/api/v1/schedules/monthly").json["last_run"]
    assert (last["id"], last["status"]) == (outcome["run_id"], "skipped")
    listed = client.get("/api/v1/runs").json["items"]
    assert [(r["status"], r["trigger"]) for r in listed] == [("skipped", "schedule:monthly"),
                                                             ("running", "api")]  # fmt: skip
    # run now through the API says the same, with a link to the record
    now = client.post("/api/v1/schedules/monthly/run")
    assert now.status_code == 200 and now.json["outcome"] == "skipped"
    assert now.json["link"] == f"/api/v1/runs/{now.json['run_id']}"


def test_the_daily_schedule_skips_a_holiday_and_runs_on_a_trading_day(ctx):
    schedules.update_schedule(ctx, "daily", {"body": SIM_BODY})
    holiday = dt.datetime(2025, 10, 1, 17, 30, tzinfo=SH)  # National Day, a Wednesday
    outcome = fire_schedule(ctx, "daily", holiday, Recorder())
    assert outcome["outcome"] == "skipped"
    assert runs.run_view(ctx, outcome["run_id"])["message"] == (
        "schedule daily (slot 2025-10-01T17:30:00+08:00): 2025-10-01 is not a trading day"
    )
    assert ctx.lock.holder() is None
    trading = fire_schedule(ctx, "daily", dt.datetime(2025, 9, 30, 17, 30, tzinfo=SH), Recorder())
    assert trading["outcome"] == "started"
    assert runs.run_view(ctx, trading["run_id"])["trigger"] == "schedule:daily"


def test_run_now_starts_the_schedules_run_and_returns_202(ctx, client):
    client.put("/api/v1/schedules/gap_check", json={"body": SIM_BODY})
    response = client.post("/api/v1/schedules/gap_check/run")
    assert response.status_code == 202, response.json
    assert response.json["outcome"] == "started"
    shown = client.get(response.json["link"]).json
    assert (shown["trigger"], shown["total"]) == ("schedule:gap_check", 3)


def test_a_disabled_schedule_does_not_fire(ctx):
    schedules.update_schedule(ctx, "weekly", {"enabled": False, "body": SIM_BODY})
    outcome = fire_schedule(ctx, "weekly", dt.datetime(2025, 3, 10, 2, tzinfo=SH), Recorder())
    assert outcome["outcome"] == "disabled" and stored_runs(ctx) == []


def test_only_one_process_holds_the_leader_lease(ctx):
    first, second = (LeaderLease(ctx.redis, "test:leader", ttl_s=0.5) for _ in range(2))
    assert first.hold() and not second.hold()
    assert first.hold() and not second.release()  # renewal; the other cannot delete it
    assert first.release() and second.hold() and not first.hold()
    import time

    time.sleep(0.7)  # the holder died: its lease lapses and another takes over
    assert first.hold() and first.holder() == first.token


def test_the_default_bodies_are_run_requests_the_parser_accepts(ctx):
    specs = {name: runs.parse_spec(ctx, b.body) for name, b in schedules.BUILT_INS.items()}
    assert [(s.kind, [p.value for p in s.periods]) for s in specs.values()] == [
        ("incremental", ["daily"]), ("incremental", ["weekly"]),
        ("incremental", ["monthly"]), ("incremental", ["daily"]), ("all_history", ["daily"]),
    ]  # fmt: skip
    assert (specs["weekly"].days_back, specs["monthly"].days_back) == (14, 62)
    outcome = fire_schedule(ctx, "daily", dt.datetime(2025, 9, 30, 17, 30, tzinfo=SH), Recorder())
    assert outcome["outcome"] == "started", outcome
    assert runs.run_view(ctx, outcome["run_id"])["spec"]["kind"] == "incremental"
