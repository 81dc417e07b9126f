"""``POST /api/v1/runs`` answers before any source is asked: the request records the run
(``planning``) and takes the lock; a worker's ``stocksync.plan_run`` fetches the reference data
and writes the units. A conflict is decided first; of racing requests exactly one is accepted."""

from __future__ import annotations

import threading

import pytest
from fake_tushare import TEST_TOKEN, FakeTushare  # type: ignore[import-not-found]

from api import create_app
from stocksync.context import build_context
from stocksync.runs import service as runs
from stocksync.sources.sim import sim_market

pytestmark = pytest.mark.store("main")  # the real sources' store
BODY = {"start_date": "2025-03-03", "end_date": "2025-03-05"}


class Recorder:
    """Takes what the API hands to the workers: plans and units."""

    def __init__(self) -> None:
        self.plans: list[int] = []
        self.units: list[int] = []

    def plan(self, run_id):
        self.plans.append(run_id)

    def dispatch(self, run_id, item_ids):
        self.units.extend(item_ids)


@pytest.fixture
def fake_tushare(settings):
    with FakeTushare(sim_market(settings.sim.seed, settings.sim.stocks)) as server:
        yield server


@pytest.fixture
def tushare(ctx, settings, fake_tushare):
    configured = build_context(settings.with_overrides(
        sources=("tushare",), tushare_token=TEST_TOKEN, tushare_url=fake_tushare.url,
    ))  # fmt: skip
    yield configured
    configured.close()


def client_of(context, recorder):
    app = create_app({"CONTEXT_FACTORY": lambda: context, "DISPATCHER_FACTORY": lambda: recorder})
    return app.test_client()


def test_the_202_comes_before_any_request_reaches_the_source(tushare, fake_tushare):
    recorder = Recorder()
    response = client_of(tushare, recorder).post("/api/v1/runs", json=BODY)
    assert response.status_code == 202, response.json
    assert response.json["status"] == "planning"
    assert fake_tushare.count() == 0  # no stock list, no calendar, no bars asked yet
    run_id = response.json["run_id"]
    assert recorder.plans == [run_id] and recorder.units == []
    assert runs.run_view(tushare, run_id)["status"] == "planning"
    assert tushare.lock.holder().run_id == run_id  # the lock is taken with the run

    created = runs.plan_started_run(tushare, run_id, recorder)  # what plan_run does
    assert created is not None and created.total == 3
    assert fake_tushare.count("stock_basic") > 0 and fake_tushare.count("trade_cal") > 0
    assert sorted(recorder.units) == [1, 2, 3]
    assert runs.run_view(tushare, run_id)["status"] == "running"
    assert runs.plan_started_run(tushare, run_id, recorder) is None  # a redelivery: no-op


def test_a_plan_that_cannot_be_made_fails_the_run_with_the_reason(tushare, fake_tushare):
    recorder = Recorder()
    body = BODY | {"symbols": ["699998"]}  # nothing is stored yet: planning finds it unknown
    run_id = client_of(tushare, recorder).post("/api/v1/runs", json=body).json["run_id"]
    with pytest.raises(Exception, match="unknown stock code"):
        runs.plan_started_run(tushare, run_id, recorder)
    view = runs.run_view(tushare, run_id)
    assert view["status"] == "failed" and "unknown stock code(s): 699998.SH" in view["error"]
    assert tushare.lock.holder() is None  # freed for the next run
    again = client_of(tushare, recorder).post("/api/v1/runs", json=body)
    assert again.status_code == 400  # now the stored list answers at once


def test_a_conflict_is_decided_before_anything_else(tushare, fake_tushare):
    recorder = Recorder()
    client = client_of(tushare, recorder)
    assert client.post("/api/v1/runs", json=BODY).status_code == 202
    second = client.post("/api/v1/runs", json=BODY | {"symbols": ["699998"]})
    assert second.status_code == 409  # not a 400 for the symbol: the conflict comes first
    assert fake_tushare.count() == 0


def test_of_racing_requests_exactly_one_is_accepted(ctx, settings):
    recorder = Recorder()
    app = create_app({"CONTEXT_FACTORY": lambda: ctx, "DISPATCHER_FACTORY": lambda: recorder})
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        codes.append(client.post("/api/v1/runs", json=BODY).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(codes) == [202] + [409] * 7
    assert len(recorder.plans) == 1
    assert runs.list_runs(ctx, page=1, per_page=50)["total"] == 1  # the losers left no run


def test_planning_interrupted_cancels_the_run_and_frees_the_lock(tushare, monkeypatch):
    recorder = Recorder()
    run_id = client_of(tushare, recorder).post("/api/v1/runs", json=BODY).json["run_id"]

    def interrupted(ctx, spec):
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM) in the process planning it

    monkeypatch.setattr("stocksync.runs.creation.gather_reference", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runs.plan_started_run(tushare, run_id, recorder)
    view = runs.run_view(tushare, run_id)
    assert (view["status"], view["message"]) == ("cancelled", "interrupted while planning")
    assert tushare.lock.holder() is None and recorder.units == []


def test_two_planners_of_one_run_plan_it_once(tushare):
    recorder = Recorder()
    run_id = client_of(tushare, recorder).post("/api/v1/runs", json=BODY).json["run_id"]
    results: list[object] = []
    barrier = threading.Barrier(2)

    def plan() -> None:
        barrier.wait()
        results.append(runs.plan_started_run(tushare, run_id, recorder))

    threads = [threading.Thread(target=plan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r is None for r in results) == [False, True]  # one planned, one stood aside
    view = runs.run_view(tushare, run_id)
    assert (view["status"], view["total"]) == ("running", 3)
    assert sorted(recorder.units) == [1, 2, 3]


def test_the_recovery_sweep_leaves_a_run_being_planned_alone(tushare):
    from stocksync.errors import RunConflict
    from stocksync.runs import control

    recorder = Recorder()
    run_id = runs.start_run(tushare, runs.parse_spec(tushare, BODY), trigger="cli")
    assert control.recover_stale_runs(tushare, recorder) == []  # its planner holds the lock
    with pytest.raises(RunConflict):  # a sweep that saw the lock free a moment before
        control.resume(tushare, run_id, recorder, take_over=False)
    assert recorder.plans == [] and tushare.lock.holder().run_id == run_id
