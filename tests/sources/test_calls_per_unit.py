"""The fewest source calls per unit, counted at our protocol servers through the real clients:
baostock serves a daily per-stock unit's bars, factors and valuations with two k-data queries
(the raw series with every daily field, and the hfq close), tushare a per-date unit with one
call per dataset."""

from __future__ import annotations

import datetime as dt

import pytest
from fake_tushare import TEST_TOKEN, FakeTushare  # type: ignore[import-not-found]
from test_failover_by_dataset import items, play, steady_stock  # type: ignore[import-not-found]

from stocksync.context import build_context

pytestmark = pytest.mark.store("main")
START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 14)


def test_a_baostock_unit_asks_twice_for_bars_factors_and_valuations(
    ctx, settings, market, fake_baostock
):
    codes = [steady_stock(market)]
    baostock = build_context(
        settings.with_overrides(sources=("baostock",), baostock_addr=fake_baostock.address)
    )
    body = {"symbols": codes, "start_date": str(START), "end_date": str(END)}
    baostock.sources.get("baostock").securities()  # reference data first, then count
    run_id = play(baostock, body)
    (item,) = items(baostock, run_id)
    assert item.status == "success" and item.dataset == "bars+adj_factors+valuations"
    queries = [r for r in fake_baostock.stats.requests if r.method == "query_history_k_data_plus"]
    assert [q.fields[9] for q in queries] == ["3", "1"]  # raw (every field), then hfq
    baostock.close()


def test_a_tushare_per_date_unit_makes_one_call_per_dataset(ctx, settings, market):
    with FakeTushare(market) as fake:
        tushare = build_context(settings.with_overrides(
            sources=("tushare",), tushare_token=TEST_TOKEN, tushare_url=fake.url,
        ))  # fmt: skip
        run_id = play(tushare, {"start_date": str(END), "end_date": str(END)})
        (item,) = items(tushare, run_id)
        assert item.status == "success" and item.code is None
        calls = [
            name for _, name in fake.requests if name in ("daily", "adj_factor", "daily_basic")
        ]
        assert sorted(calls) == ["adj_factor", "daily", "daily_basic"]
        tushare.close()
