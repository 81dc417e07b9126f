"""Index bars through the run machinery on real PostgreSQL and Redis: selected as a dataset,
planned one unit per index over the range (whatever the stocks' shape or symbols), stored
exactly as the simulated market has them in their own table, skipped once stored, and listed
in the statistics."""

from __future__ import annotations

import datetime as dt

from inprocess_runs import oracle_codes, run_to_end, units  # type: ignore[import-not-found]
from sqlalchemy import func, select

from stocksync.datasets.indices import MAIN_INDICES
from stocksync.domain import Period
from stocksync.market.stats import storage_stats
from stocksync.runs import service as runs
from stocksync.sources.sim import sim_market
from stocksync.storage.schema import bars, index_bars

START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 31)


def stored(ctx, period="daily"):
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(index_bars.c.code, index_bars.c.trade_date, index_bars.c.close,
                   index_bars.c.volume, index_bars.c.amount)
            .where(index_bars.c.period == period)
        ).all()  # fmt: skip
    return {(c, d, float(close), int(v), float(a)) for c, d, close, v, a in rows}


def truth(settings, period=Period.DAILY, start=START, end=END):
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    return {
        (b.code, b.trade_date, b.close, b.volume, b.amount)
        for i in MAIN_INDICES
        for b in market.index_bars(i.code, period, start, end)
    }


def test_index_bars_are_one_unit_per_index_and_equal_the_truth(ctx, settings):
    body = {"start_date": str(START), "end_date": str(END), "datasets": ["index_bars"],
            "periods": ["daily", "weekly"]}  # fmt: skip
    created, _ = run_to_end(ctx, body)
    planned = units(ctx, created.run_id)
    assert {(u.code, u.period, u.dataset) for u in planned} == {
        (i.code, p, "index_bars") for i in MAIN_INDICES for p in ("daily", "weekly")
    }
    assert runs.run_view(ctx, created.run_id)["status"] == "success"
    assert stored(ctx) == truth(settings)
    assert stored(ctx, "weekly") == truth(settings, Period.WEEKLY)
    with ctx.engine.connect() as conn:  # kept apart from the stocks' bars
        assert conn.execute(select(func.count()).select_from(bars)).scalar_one() == 0

    again = runs.preview_run(ctx, runs.parse_spec(ctx, {**body, "sources": ["sim"]}))
    assert (again["units"], again["already_done"], again["expected_calls"]) == (18, 18, 0)
    stats = storage_stats(ctx)["index_bars"]
    assert {(s["period"], s["indices"], s["source"]) for s in stats} == {
        ("daily", 9, "sim"),
        ("weekly", 9, "sim"),
    }


def test_a_run_for_some_stocks_also_syncs_every_index_and_extends_them_later(ctx, settings):
    body = {"start_date": str(START), "end_date": "2025-03-14", "symbols": oracle_codes(ctx)[:1],
            "datasets": ["bars", "index_bars"]}  # fmt: skip
    run_to_end(ctx, body)
    assert stored(ctx) == truth(settings, end=dt.date(2025, 3, 14))
    created, _ = run_to_end(ctx, {**body, "end_date": str(END)})
    index_units = [u for u in units(ctx, created.run_id) if u.dataset == "index_bars"]
    assert {(u.start_date, u.end_date) for u in index_units} == {(dt.date(2025, 3, 17), END)}
    assert stored(ctx) == truth(settings)


def test_incremental_index_bars_start_after_each_index_s_last_bar(ctx, settings):
    run_to_end(ctx, {"start_date": str(START), "end_date": "2025-03-14",
                     "datasets": ["index_bars"]})  # fmt: skip
    created, spec = run_to_end(ctx, {"kind": "incremental", "end_date": str(END),
                                     "datasets": ["index_bars"]})  # fmt: skip
    assert spec.from_last_bar
    assert {u.start_date for u in units(ctx, created.run_id)} == {dt.date(2025, 3, 17)}
    assert stored(ctx) == truth(settings)


def test_the_api_reads_an_index_s_bars_and_refuses_what_is_no_index(ctx, settings):
    from api import create_app

    run_to_end(ctx, {"start_date": str(START), "end_date": str(END), "datasets": ["index_bars"]})
    client = create_app({"CONTEXT_FACTORY": lambda: ctx}).test_client()
    reply = client.get(f"/api/v1/index-bars?code=000300&start={START}&end={END}")
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    truth = market.index_bars("000300.SH", Period.DAILY, START, END)
    assert (body["code"], body["name"]) == ("000300.SH", "沪深300")
    assert [(b["trade_date"], b["close"], b["volume"]) for b in body["bars"]] == [
        (b.trade_date.isoformat(), b.close, b.volume) for b in truth
    ]
    for bad in ("600000.SH", "000300.SZ", "999999"):
        reply = client.get(f"/api/v1/index-bars?code={bad}&start={START}&end={END}")
        assert reply.status_code == 400
        assert "not one stocksync keeps" in reply.get_json()["error"]["message"]
    assert client.get(f"/api/v1/index-bars?code=399006&start={START}&end={END}").status_code == 200
    coverage = client.get(f"/api/v1/stats/coverage?start={START}&end={END}").get_json()["dates"]
    assert {d["index_bars"] for d in coverage} == {9}
    assert len(coverage) == len(truth)


def test_an_index_no_configured_source_has_is_named_not_planned_to_fail(ctx):
    from stocksync.runs.planning import plan_run

    class NoBeijing:  # the sim, less its Beijing index (as baostock has none)
        def __init__(self, sim):
            self.sim = sim

        def __getattr__(self, name):
            return getattr(self.sim, name)

        def covers(self, code):
            return not code.endswith(".BJ")

        def covers_dataset(self, dataset, code):
            return self.covers(code)

    spec = runs.parse_spec(ctx, {"start_date": str(START), "end_date": str(END),
                                 "datasets": ["index_bars"], "sources": ["sim"]})  # fmt: skip
    sim = NoBeijing(ctx.sources.get("sim"))
    days = sim_market(20240601, 50).trading_days(START, END)
    plan = plan_run(
        spec, period_dates={Period.DAILY: days}, universe=[], sources=[sim],
        indices=[(i.code, START, END) for i in MAIN_INDICES],
    )  # fmt: skip
    assert {u.code for u in plan.units} == {i.code for i in MAIN_INDICES} - {"899050.BJ"}
    assert plan.unserved == {"index_bars of 899050.BJ": "no configured source (sim) has 899050.BJ"}


def test_the_universe_and_the_calendar_come_from_the_stored_reference_data(ctx, settings):
    from api import create_app

    client = create_app({"CONTEXT_FACTORY": lambda: ctx}).test_client()
    empty = client.get("/api/v1/universe?date=2025-03-10")
    assert empty.status_code == 400 and "no stock list" in empty.get_json()["error"]["message"]
    run_to_end(ctx, {"start_date": str(START), "end_date": str(END), "datasets": ["index_bars"]})
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    day = dt.date(2025, 3, 10)
    listed = client.get(f"/api/v1/universe?date={day}").get_json()
    expected = sorted(s.code for s in market.securities() if s.is_listed_on(day))
    assert [s["code"] for s in listed["stocks"]] == expected and listed["count"] == len(expected)
    days = client.get(f"/api/v1/calendar?start={START}&end={END}").get_json()
    assert days["trading_days"] == [d.isoformat() for d in market.trading_days(START, END)]
    unknown = client.get("/api/v1/calendar?start=1999-01-01&end=1999-02-01")
    assert unknown.status_code == 400
    assert "the stored calendar knows 0 of the 32 days" in unknown.get_json()["error"]["message"]
