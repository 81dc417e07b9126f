"""The ledger proves what was stored, per dataset, through the real client libraries against
our protocol servers: an empty answer is never a success, a dataset one source lacks is fetched
from another later, and a bug in an adapter fails its unit once without touching the breaker."""

from __future__ import annotations

import datetime as dt

import pytest
from fake_tushare import TEST_TOKEN  # type: ignore[import-not-found]
from sqlalchemy import select

from stocksync.context import build_context
from stocksync.domain import Board, Exchange, Period
from stocksync.runs import ledger
from stocksync.runs import service as runs
from stocksync.runs.execution import RetryLater, run_unit
from stocksync.sim import SimMarket
from stocksync.storage.schema import bars, corporate_actions, index_bars, minute_bars, valuations

pytestmark = [
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.rename"),
    pytest.mark.store("main"),  # real sources: the main store
]
START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 14)  # 10 trading days
LATER = (dt.date(2025, 3, 17), dt.date(2025, 3, 21))  # 5 more


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, run_id, item_ids):
        self.sent.extend(item_ids)


def play(ctx, body) -> int:
    """Create a run and play each unit as a worker would (retries without their waits)."""
    recorder = Recorder()
    created = runs.create_run(ctx, runs.parse_spec(ctx, body), recorder)
    while recorder.sent:
        item = recorder.sent.pop(0)
        for _ in range(10):
            try:
                run_unit(ctx, item, recorder)
                break
            except RetryLater:
                continue
    return created.run_id


def items(ctx, run_id):
    with ctx.engine.connect() as conn:
        ids = ledger.unfinished_item_ids(conn, run_id) + ledger.finished_item_ids(conn, run_id)
        return [ledger.get_item(conn, i) for i in sorted(ids)]


def stored_closes(ctx, code, table=bars, column="close"):
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(table.c.trade_date, table.c[column]).where(table.c.code == code)
        ).all()
    return {day: float(value) if value is not None else None for day, value in rows}


def steady_stock(market: SimMarket) -> str:
    """A Shanghai main-board stock (baostock has no Beijing stocks) that traded on every day
    from START to the end of LATER (no suspension to explain)."""
    for security in market.securities():
        if (security.exchange, security.board) != (Exchange.SH, Board.MAIN):
            continue
        if security.list_date > dt.date(2024, 1, 1) or security.delist_date is not None:
            continue
        found = market.bars_for_code(security.code, START, LATER[1], Period.DAILY)
        if len(found) == 15 and all(b.trade_status == 1 for b in found):
            return security.code
    raise AssertionError("no steady stock in the simulated market")


def test_an_empty_table_for_a_listed_stock_is_never_a_success(
    ctx, settings, market, fake_tushare, fake_baostock
):
    code = steady_stock(market)
    truth = {
        b.trade_date: b.close for b in market.bars_for_code(code, START, LATER[1], Period.DAILY)
    }
    both = build_context(settings.with_overrides(
        sources=("tushare", "baostock"), tushare_token=TEST_TOKEN, tushare_url=fake_tushare.url,
        baostock_addr=fake_baostock.address,
    ))  # fmt: skip
    fake_tushare.withheld.add(code)  # tushare answers an empty table for it: not updated yet

    first = play(both, {"symbols": [code], "start_date": str(START), "end_date": str(END)})
    (item,) = items(both, first)
    assert (item.status, item.source) == ("success", "baostock")  # asked of the next source
    assert "tushare: bars 10 missing" in item.error
    assert stored_closes(both, code) == {d: c for d, c in truth.items() if d <= END}

    fake_baostock.faults.set(drop=True)  # and now baostock is down too
    body = {"symbols": [code], "start_date": str(LATER[0]), "end_date": str(LATER[1])}
    second = play(both, body)
    (item,) = items(both, second)
    assert item.status == "failed"
    assert "bars incomplete from tushare: 5 missing" in item.error
    assert all(str(day) in item.error for day in market.trading_days(*LATER))
    assert runs.run_view(both, second)["status"] == "failed"
    assert max(stored_closes(both, code)) == END  # nothing claimed, nothing stored

    fake_tushare.withheld.clear()  # the source caught up
    fake_baostock.faults.clear()
    third = play(both, body)  # no force: the ledger knows those dates are still open
    (item,) = items(both, third)
    assert (item.status, item.source) == ("success", "tushare")
    assert stored_closes(both, code) == truth
    both.close()


def test_a_dataset_one_source_lacks_is_fetched_from_another_later(
    ctx, settings, market, eastmoney, fake_baostock
):
    code = steady_stock(market)
    body = {"symbols": [code], "start_date": str(START), "end_date": str(END)}
    akshare = build_context(
        settings.with_overrides(sources=("akshare",), calls_per_minute={"akshare": 100_000})
    )
    plan = runs.preview_run(akshare, runs.parse_spec(akshare, body))
    assert plan["datasets"] == {"bars": 1, "adj_factors": 1}
    assert plan["unserved"] == {"valuations": "no configured source (akshare) serves valuations"}
    first = play(akshare, body)
    assert runs.run_view(akshare, first)["status"] == "success"
    assert len(stored_closes(akshare, code)) == 10
    assert stored_closes(akshare, code, valuations, "pb") == {}  # said, not silently success
    akshare.close()

    baostock = build_context(
        settings.with_overrides(sources=("baostock",), baostock_addr=fake_baostock.address)
    )
    plan = runs.preview_run(baostock, runs.parse_spec(baostock, body))
    assert (plan["units"], plan["already_done"], plan["datasets"]) == (1, 0, {"valuations": 1})
    assert plan["unserved"] == {}
    second = play(baostock, body)
    (item,) = items(baostock, second)
    assert item.status == "success" and item.dataset == "valuations"
    assert fake_baostock.stats.count("query_history_k_data_plus") == 1  # valuations alone
    truth = {v.trade_date: v.pb for v in market.valuations_for_code(code, START, END)}
    assert stored_closes(baostock, code, valuations, "pb") == pytest.approx(truth)
    again = runs.preview_run(baostock, runs.parse_spec(baostock, body))
    assert (again["already_done"], again["expected_calls"]) == (1, 0)  # the gap is closed
    baostock.close()


def test_a_bug_in_an_adapter_fails_its_unit_once_and_leaves_the_breaker_closed(
    ctx, settings, market, monkeypatch
):
    sim = build_context(settings.with_overrides(store="sim", sources=("sim",)))
    recorder = Recorder()
    created = runs.create_run(
        sim, runs.parse_spec(sim, {"start_date": str(START), "end_date": "2025-03-04"}), recorder
    )
    first, other = recorder.sent

    def broken(*args, **kwargs):
        raise KeyError("open")

    with monkeypatch.context() as patch:
        patch.setattr("stocksync.sim.market.SimMarket.bars_for_date", broken)
        outcome = run_unit(sim, first)  # no RetryLater: a bug is not retried
    assert outcome.outcome == "failed"
    assert "bug: KeyError: 'open'" in outcome.message
    assert not sim.breaker.state("sim").open
    assert sim.breaker.state("sim").recent_failures == 0
    assert run_unit(sim, other).outcome == "success"  # other units are unaffected
    (failed,) = [i for i in items(sim, created.run_id) if i.status == "failed"]
    assert failed.attempts == 1
    sim.close()


def test_an_index_one_source_answers_empty_is_served_by_the_next(
    ctx, settings, market, fake_tushare, fake_baostock
):
    """tushare answers an empty table for CSI 300 (a lagging source): its index unit is not a
    success from tushare; baostock serves it, and every other index stays tushare's."""
    fake_tushare.withheld.add("000300.SH")
    both = build_context(settings.with_overrides(
        sources=("tushare", "baostock"), tushare_token=TEST_TOKEN, tushare_url=fake_tushare.url,
        baostock_addr=fake_baostock.address,
    ))  # fmt: skip
    run_id = play(both, {"start_date": str(START), "end_date": str(END),
                         "datasets": ["index_bars"]})  # fmt: skip
    served = {i.code: (i.status, i.source) for i in items(both, run_id)}
    assert served["000300.SH"] == ("success", "baostock")
    assert {c: s for c, s in served.items() if c != "000300.SH"} == {
        c: ("success", "tushare") for c in served if c != "000300.SH"
    }
    assert len(served) == 9
    truth = {
        b.trade_date: b.close for b in market.index_bars("000300.SH", Period.DAILY, START, END)
    }
    with both.engine.connect() as conn:
        got = dict(conn.execute(
            select(index_bars.c.trade_date, index_bars.c.close)
            .where(index_bars.c.code == "000300.SH", index_bars.c.period == "daily")
        ).all())  # fmt: skip
    assert {d: float(c) for d, c in got.items()} == truth
    both.close()


def test_corporate_actions_fail_over_when_the_first_source_is_down(
    ctx, settings, market, eastmoney, fake_baostock
):
    """akshare's datacenter answers 500: the stock's corporate actions come from baostock in
    the same unit, equal to the truth in the fields baostock serves."""
    first, last = dt.date(2024, 5, 6), dt.date(2024, 7, 31)  # the dividend season
    code = next(s.code for s in market.securities()
                if s.exchange is not Exchange.BJ and market.corporate_actions(s.code, first, last)
                and any(a.cash_div > 0 for a in market.corporate_actions(s.code, first, last)))  # fmt: skip
    eastmoney.faults.set(server_error=True)
    both = build_context(settings.with_overrides(
        sources=("akshare", "baostock"), baostock_addr=fake_baostock.address,
        calls_per_minute={"akshare": 100_000},
    ))  # fmt: skip
    run_id = play(both, {"symbols": [code], "start_date": str(first), "end_date": str(last),
                         "datasets": ["corporate_actions"]})  # fmt: skip
    (item,) = items(both, run_id)
    assert (item.status, item.source) == ("success", "baostock"), item.error
    assert "akshare" in (item.error or "")
    with both.engine.connect() as conn:
        got = conn.execute(select(corporate_actions.c.ex_date, corporate_actions.c.cash_div,
                                  corporate_actions.c.source)
                           .where(corporate_actions.c.code == code)).all()  # fmt: skip
    truth = market.corporate_actions(code, first, last)
    assert [(d, round(float(c), 4), s) for d, c, s in got] == [
        (a.ex_date, round(a.cash_div, 4), "baostock") for a in truth
    ]
    both.close()


def test_minute_bars_older_than_akshares_depth_come_from_baostock(
    ctx, settings, market, eastmoney, fake_baostock
):
    """eastmoney keeps recent months of minute bars only: a week before its depth is missing
    from akshare (never "complete"), and the unit is served by baostock."""
    first, last = dt.date(2026, 6, 1), dt.date(2026, 6, 5)
    code = steady_stock(market)
    both = build_context(settings.with_overrides(
        sources=("akshare", "baostock"), baostock_addr=fake_baostock.address,
        calls_per_minute={"akshare": 100_000},
    ))  # fmt: skip
    run_id = play(both, {"symbols": [code], "start_date": str(first), "end_date": str(last),
                         "periods": ["5min"], "datasets": ["minute_bars"]})  # fmt: skip
    (item,) = items(both, run_id)
    assert (item.status, item.source) == ("success", "baostock"), item.error
    assert "akshare: minute_bars" in (item.error or "")
    with both.engine.connect() as conn:
        stored = conn.execute(select(minute_bars.c.bar_time, minute_bars.c.volume)
                              .where(minute_bars.c.code == code)).all()  # fmt: skip
    truth = market.minute_bars(code, Period.MIN5, first, last)
    assert sorted(stored) == [(b.bar_time, b.volume) for b in truth]
    both.close()
