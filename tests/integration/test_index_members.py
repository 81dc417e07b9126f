"""Index members through the run machinery on real PostgreSQL and Redis: a monthly snapshot per
index whatever periods the run asks bars in, stored exactly as the simulated market has them,
a snapshot replaced whole, the SSE Composite named as having no members source, and "members of
000300.SH on D" answered from the snapshot in force."""

from __future__ import annotations

import datetime as dt

from inprocess_runs import run_to_end, units  # type: ignore[import-not-found]
from sqlalchemy import select

from stocksync.datasets.index_members import INDEX_MEMBERS
from stocksync.domain import IndexMember
from stocksync.market.stats import storage_stats
from stocksync.runs import service as runs
from stocksync.sim.members import MEMBER_INDICES
from stocksync.sources.sim import sim_market
from stocksync.storage.schema import index_members

START, END = dt.date(2024, 11, 4), dt.date(2025, 1, 31)


def stored(ctx):
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(index_members.c.index_code, index_members.c.trade_date,
                                   index_members.c.code, index_members.c.weight)).all()  # fmt: skip
    return {(i, d, c, float(w)) for i, d, c, w in rows}


def truth(settings, start=START, end=END):
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    return {
        (m.index_code, m.trade_date, m.code, m.weight)
        for code in MEMBER_INDICES
        for m in market.index_members(code, start, end)
    }


def test_members_are_a_monthly_snapshot_per_index_equal_to_the_truth(ctx, settings):
    body = {"start_date": str(START), "end_date": str(END), "datasets": ["index_members"],
            "periods": ["daily"]}  # fmt: skip
    plan = runs.preview_run(ctx, runs.parse_spec(ctx, {**body, "sources": ["sim"]}))
    assert plan["shapes"] == {} and plan["datasets"] == {"index_members": len(MEMBER_INDICES)}
    assert plan["unserved"] == {
        "index_members of 000001.SH": "no configured source (sim) has 000001.SH"
    }
    created, _ = run_to_end(ctx, body)
    planned = units(ctx, created.run_id)
    assert {(u.code, u.period) for u in planned} == {(c, "monthly") for c in MEMBER_INDICES}
    assert runs.run_view(ctx, created.run_id)["status"] == "success"
    assert stored(ctx) == truth(settings)
    again = runs.preview_run(ctx, runs.parse_spec(ctx, {**body, "sources": ["sim"]}))
    assert (again["already_done"], again["expected_calls"]) == (len(MEMBER_INDICES), 0)
    listed = storage_stats(ctx)["index_members"]
    assert listed == {"rows": len(truth(settings)), "latest_date": "2025-01-27"}


def test_a_snapshot_is_replaced_whole(ctx, settings):
    run_to_end(ctx, {"start_date": str(START), "end_date": str(END),
                     "datasets": ["index_members"]})  # fmt: skip
    day = dt.date(2024, 11, 29)
    with ctx.engine.begin() as conn:
        INDEX_MEMBERS.write(conn, [IndexMember("000300.SH", "600999.SH", day, 1.0)], source="x")
    stale = {r for r in stored(ctx) if r[0] == "000300.SH" and r[1] == day}
    assert stale == {("000300.SH", day, "600999.SH", 1.0)}  # the snapshot is that row alone
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    with ctx.engine.begin() as conn:
        INDEX_MEMBERS.write(conn, market.index_members("000300.SH", day, day), source="sim")
    assert stored(ctx) == truth(settings)


def test_the_members_of_an_index_on_a_date_come_from_the_snapshot_in_force(ctx, settings):
    from api import create_app

    run_to_end(ctx, {"start_date": str(START), "end_date": str(END), "periods": ["monthly"],
                     "datasets": ["bars", "index_members"]})  # fmt: skip
    client = create_app({"CONTEXT_FACTORY": lambda: ctx}).test_client()
    reply = client.get("/api/v1/universe?date=2025-01-15&index=000905").get_json()
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    december = market.index_members("000905.SH", dt.date(2024, 12, 31), dt.date(2024, 12, 31))
    assert (reply["index"], reply["snapshot"]) == ("000905.SH", "2024-12-31")
    assert [(s["code"], s["weight"]) for s in reply["stocks"]] == [
        (m.code, m.weight) for m in december
    ]
    early = client.get("/api/v1/universe?date=2024-10-15&index=000905.SH")
    assert early.status_code == 400
    assert "no members of 000905.SH are stored" in early.get_json()["error"]["message"]
