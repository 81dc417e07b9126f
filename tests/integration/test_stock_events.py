"""The stocks' events — corporate actions, profiles, financial reports — through the run
machinery on real PostgreSQL and Redis: stored exactly as the simulated market has them, read
point in time (a restated quarter: as of a date before the restatement, the original figures),
profiles answered as of a date, and the factors cross-checked with the actions (a planted
inconsistency and a planted retroactive revision are caught)."""

from __future__ import annotations

import datetime as dt

import pytest
from inprocess_runs import run_to_end, units  # type: ignore[import-not-found]
from sqlalchemy import delete, select, update

from stocksync.datasets.adj_factors import write_factors
from stocksync.datasets.financials import financials_as_of
from stocksync.domain import AdjFactor
from stocksync.market.action_checks import check_factors
from stocksync.market.reading import read_bars
from stocksync.market.stats import storage_stats
from stocksync.runs import service as runs
from stocksync.sources.sim import sim_market
from stocksync.storage.schema import (
    adj_factor_revisions,
    corporate_actions,
    financials,
    securities,
    stock_profiles,
)

START, END = dt.date(2023, 1, 1), dt.date(2024, 6, 30)
EVENTS = ["corporate_actions", "profiles", "financials"]


def market_of(settings):
    return sim_market(settings.sim.seed, settings.sim.stocks)


def listed_codes(ctx):
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(securities.c.code, securities.c.list_date,
                                   securities.c.delist_date)).all()  # fmt: skip
    return [c for c, first, gone in rows if first <= END and (gone is None or gone > START)]


@pytest.fixture
def synced(ctx):
    created, _ = run_to_end(ctx, {"kind": "all_history", "start_date": str(START),
                                  "end_date": str(END), "datasets": EVENTS})  # fmt: skip
    return created


def test_events_are_stored_exactly_as_the_market_has_them(ctx, settings, synced, tmp_path):
    assert runs.run_view(ctx, synced.run_id)["status"] == "success"
    planned = units(ctx, synced.run_id)
    assert {u.dataset for u in planned} == {"corporate_actions+profiles+financials"}
    market, codes = market_of(settings), listed_codes(ctx)
    assert {u.code for u in planned} == set(codes)
    with ctx.engine.connect() as conn:
        actions = {(r.code, r.ex_date, float(r.cash_div), float(r.bonus_ratio),
                    float(r.transfer_ratio), r.record_date)
                   for r in conn.execute(select(corporate_actions))}  # fmt: skip
        profiles = {(r.code, r.valid_from, r.name, r.is_st, r.industry, float(r.total_shares))
                    for r in conn.execute(select(stock_profiles))}  # fmt: skip
        reports = {(r.code, r.report_period, r.announce_date, r.revenue, r.net_profit, r.eps)
                   for r in conn.execute(select(financials))}  # fmt: skip
    truth_actions, truth_profiles, truth_reports = set(), set(), set()
    for code in codes:
        for a in market.corporate_actions(code, START, END):
            truth_actions.add((a.code, a.ex_date, a.cash_div, a.bonus_ratio, a.transfer_ratio,
                               a.record_date))  # fmt: skip
        for p in market.profiles(code, START, END):
            truth_profiles.add((p.code, p.valid_from, p.name, p.is_st, p.industry,
                                p.total_shares))  # fmt: skip
        for r in market.financials(code, START, END):
            truth_reports.add((r.code, r.report_period, r.announce_date, r.revenue,
                               r.net_profit, r.eps))  # fmt: skip
    assert truth_actions and truth_reports and len(truth_profiles) > len(codes)
    assert actions == truth_actions
    assert profiles == truth_profiles
    assert reports == truth_reports
    stats = storage_stats(ctx)
    assert stats["corporate_actions"]["rows"] == len(truth_actions)
    assert stats["profiles"]["rows"] == len(truth_profiles)
    assert stats["financials"]["rows"] == len(truth_reports)
    again = runs.preview_run(
        ctx,
        runs.parse_spec(
            ctx,
            {
                "kind": "all_history",
                "start_date": str(START),
                "end_date": str(END),
                "datasets": EVENTS,
                "sources": ["sim"],
            },
        ),
    )
    assert (again["already_done"], again["expected_calls"]) == (len(codes), 0)


def test_a_restated_quarter_reads_as_first_announced_before_the_restatement(ctx, synced):
    with ctx.engine.connect() as conn:
        versions = conn.execute(select(financials).order_by(financials.c.announce_date)).all()
    by_period: dict = {}
    for v in versions:
        by_period.setdefault((v.code, v.report_period), []).append(v)
    code, period = next(k for k, vs in by_period.items() if len(vs) > 1)
    first, second = by_period[(code, period)][:2]
    assert first.revenue != second.revenue
    from api import create_app

    client = create_app({"CONTEXT_FACTORY": lambda: ctx}).test_client()

    def known_on(day):
        reply = client.get(f"/api/v1/financials?codes={code}&as_of={day}&periods=200")
        assert reply.status_code == 200, reply.get_json()
        return {r["report_period"]: r for r in reply.get_json()["reports"]}

    before = known_on(second.announce_date - dt.timedelta(days=1))[period.isoformat()]
    after = known_on(second.announce_date)[period.isoformat()]
    assert (before["revenue"], before["announce_date"]) == (
        first.revenue,
        first.announce_date.isoformat(),
    )
    assert (after["revenue"], after["announce_date"]) == (
        second.revenue,
        second.announce_date.isoformat(),
    )
    assert period.isoformat() not in known_on(first.announce_date - dt.timedelta(days=1))
    with ctx.engine.connect() as conn:  # the restatement never overwrote the original
        assert len(financials_as_of(conn, [code], END, periods=200)) >= 1
        kept = (
            conn.execute(
                select(financials.c.revenue).where(
                    financials.c.code == code, financials.c.report_period == period
                )
            )
            .scalars()
            .all()
        )
    assert sorted(kept) == sorted([first.revenue, second.revenue])
    assert client.get("/api/v1/financials?codes=nonsense").status_code == 400


def test_a_profile_answers_what_a_code_was_on_a_date(ctx, settings, synced):
    market = market_of(settings)
    with ctx.engine.connect() as conn:
        st_rows = conn.execute(select(stock_profiles).where(stock_profiles.c.is_st)).all()
    assert st_rows, "the sample has no ST stock in range"
    row = st_rows[0]
    from api import create_app

    client = create_app({"CONTEXT_FACTORY": lambda: ctx}).test_client()
    reply = client.get(f"/api/v1/profile?code={row.code}&date={row.valid_from}").get_json()
    assert (reply["name"], reply["is_st"]) == (row.name, True) and row.name.startswith(
        ("ST", "*ST")
    )
    truth = [p for p in market.profiles(row.code, START, END) if p.valid_from < row.valid_from]
    earlier = client.get(f"/api/v1/profile?code={row.code}&date={truth[-1].valid_from}").get_json()
    assert (earlier["name"], earlier["is_st"]) == (truth[-1].name, truth[-1].is_st)
    assert reply["industry"] and reply["sources"]["industry"] == "sim"
    listed = client.get(f"/api/v1/universe?date={row.valid_from}").get_json()["stocks"]
    then = next(s for s in listed if s["code"] == row.code)
    assert (then["name_then"], then["is_st"], then["industry"]) == (row.name, True, row.industry)
    assert client.get("/api/v1/profile?code=600000&date=someday").status_code == 400


def test_factors_agree_with_actions_and_planted_faults_are_caught(ctx, settings):
    first, last = dt.date(2024, 5, 6), dt.date(2024, 7, 31)  # the dividend season
    body = {"start_date": str(first), "end_date": str(last),
            "datasets": ["bars", "adj_factors", "corporate_actions"]}  # fmt: skip
    run_to_end(ctx, body)
    with ctx.engine.connect() as conn:
        findings, compared = check_factors(conn, first, last)
    assert compared["actions"] > 0 and compared["matched"] == compared["actions"]
    assert findings == []
    with ctx.engine.begin() as conn:
        gone, moved, resized = conn.execute(
            select(corporate_actions.c.code, corporate_actions.c.ex_date)
            .order_by(corporate_actions.c.code, corporate_actions.c.ex_date)
            .limit(3)
        ).all()
        conn.execute(
            delete(corporate_actions).where(
                corporate_actions.c.code == gone.code, corporate_actions.c.ex_date == gone.ex_date
            )
        )
        conn.execute(
            update(corporate_actions)
            .where(
                corporate_actions.c.code == moved.code, corporate_actions.c.ex_date == moved.ex_date
            )
            .values(ex_date=moved.ex_date - dt.timedelta(days=7))
        )
        conn.execute(update(corporate_actions)
                     .where(corporate_actions.c.code == resized.code,
                            corporate_actions.c.ex_date == resized.ex_date)
                     .values(cash_div=corporate_actions.c.cash_div + 1,
                             transfer_ratio=corporate_actions.c.transfer_ratio + 0.3))  # fmt: skip
    with ctx.engine.connect() as conn:
        findings, _ = check_factors(conn, first, last)
    found = {(f.code, f.date, f.kind) for f in findings}
    assert (gone.code, gone.ex_date, "step_without_action") in found
    assert (moved.code, moved.ex_date, "step_without_action") in found
    shifted = [f for f in findings if f.code == moved.code and f.kind == "action_without_step"]
    assert shifted or (moved.code, moved.ex_date - dt.timedelta(days=7)) not in {
        (f.code, f.date) for f in findings
    }  # a closed day has no factor to compare
    assert (resized.code, resized.ex_date, "step_size") in found


def test_a_retroactive_factor_revision_is_kept_and_prices_use_the_new_factors(ctx, settings):
    run_to_end(ctx, {"start_date": "2024-06-03", "end_date": "2024-06-28",
                     "datasets": ["bars", "adj_factors"]})  # fmt: skip
    code = listed_codes(ctx)[0]
    market = market_of(settings)
    old = market.adj_factors(code, dt.date(2024, 6, 3), dt.date(2024, 6, 10))
    revised = [AdjFactor(f.code, f.trade_date, round(f.factor * 1.1, 6)) for f in old]
    with ctx.engine.begin() as conn:
        write_factors(conn, revised, source="tushare")
    with ctx.engine.connect() as conn:
        kept = conn.execute(select(adj_factor_revisions).order_by(
            adj_factor_revisions.c.trade_date)).all()  # fmt: skip
    assert [(r.code, r.trade_date, float(r.old_factor), float(r.new_factor), r.old_source,
             r.new_source) for r in kept] == [
        (f.code, f.trade_date, f.factor, n.factor, "sim", "tushare")
        for f, n in zip(old, revised, strict=True)
    ]  # fmt: skip
    hfq = read_bars(ctx, code=code, start="2024-06-03", end="2024-06-03", period="daily",
                    adjust="hfq")["bars"][0]  # fmt: skip
    raw = market.bars_for_code(code, dt.date(2024, 6, 3), dt.date(2024, 6, 3))[0]
    assert hfq["close"] == pytest.approx(raw.close * revised[0].factor, abs=0.006)
    with ctx.engine.begin() as conn:  # writing the same values again records nothing more
        write_factors(conn, revised, source="tushare")
    with ctx.engine.connect() as conn:
        assert len(conn.execute(select(adj_factor_revisions)).all()) == len(kept)
    from api import create_app

    client = create_app({"CONTEXT_FACTORY": lambda: ctx}).test_client()
    report = client.get(f"/api/v1/checks/factors?start=2024-06-03&end=2024-06-28&codes={code}")
    assert len(report.get_json()["revisions"]) == len(kept)


def test_text_with_tabs_backslashes_and_line_breaks_is_stored_as_given(ctx):
    from stocksync.datasets.profiles import PROFILES
    from stocksync.domain import StockProfile

    odd = "A\tB\\C\nD\rE"
    with ctx.engine.begin() as conn:
        PROFILES.write(conn, [StockProfile("600000.SH", dt.date(2024, 1, 2), name=odd,
                                           industry="银行\\J66")], source="sim")  # fmt: skip
    with ctx.engine.connect() as conn:
        row = conn.execute(select(stock_profiles.c.name, stock_profiles.c.industry)).one()
    assert tuple(row) == (odd, "银行\\J66")
