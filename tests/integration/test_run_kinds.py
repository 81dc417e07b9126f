"""Run kinds on real PostgreSQL and Redis: incremental from the last stored bar (market-wide and
per stock), days_back, all_history, dataset selection and the range cap — played unit by unit
in-process, compared with the simulated market's truth."""

from __future__ import annotations

import datetime as dt

import pytest
from inprocess_runs import oracle_codes, run_to_end, units  # type: ignore[import-not-found]
from sqlalchemy import func, select

from stocksync.errors import InvalidRequest
from stocksync.runs import service as runs
from stocksync.storage.schema import adj_factors, bars, securities, valuations


def count(ctx, table):
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_incremental_starts_after_the_last_stored_bar(ctx, oracle):
    run_to_end(ctx, {"start_date": "2025-03-03", "end_date": "2025-03-07"})
    created, spec = run_to_end(ctx, {"kind": "incremental", "end_date": "2025-03-12"})
    assert spec.from_last_bar and spec.start_date == dt.date(2025, 3, 8)
    planned = {u.trade_date for u in units(ctx, created.run_id)}
    assert planned == set(oracle.trading_days(dt.date(2025, 3, 8), dt.date(2025, 3, 12)))
    view = runs.run_view(ctx, created.run_id)
    assert (view["status"], view["kind"], view["skipped"]) == ("success", "incremental", 0)
    days = oracle.trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 12))
    assert set(oracle.stored(ctx.engine)) == oracle.expected(days)


def test_incremental_when_up_to_date_only_skips(ctx):
    run_to_end(ctx, {"start_date": "2025-03-03", "end_date": "2025-03-07"})
    created, spec = run_to_end(ctx, {"kind": "incremental", "end_date": "2025-03-07"})
    assert spec.start_date == spec.end_date == dt.date(2025, 3, 7)
    view = runs.run_view(ctx, created.run_id)
    assert (view["status"], view["total"], view["skipped"]) == ("success", 1, 1)
    assert ctx.lock.holder() is None


def test_incremental_per_stock_starts_each_stock_after_its_own_last_bar(ctx, oracle):
    # two stocks over many days: the planner syncs them per stock, each from its own last bar
    a, b = sorted(oracle_codes(ctx))[:2]
    run_to_end(ctx, {"start_date": "2025-03-03", "end_date": "2025-03-14", "symbols": [a]})
    run_to_end(ctx, {"start_date": "2025-03-03", "end_date": "2025-03-05", "symbols": [b]})
    created, _ = run_to_end(
        ctx, {"kind": "incremental", "end_date": "2025-03-21", "symbols": [a, b]}
    )
    starts = {u.code: u.start_date for u in units(ctx, created.run_id)}
    assert starts == {a: dt.date(2025, 3, 17), b: dt.date(2025, 3, 6)}  # next trade dates
    days = oracle.trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 21))
    assert set(oracle.stored(ctx.engine)) == oracle.expected(days, codes={a, b})


def test_days_back_covers_the_last_n_days(ctx, oracle):
    created, spec = run_to_end(
        ctx, {"kind": "incremental", "days_back": 7, "end_date": "2025-03-14"}
    )
    assert (spec.start_date, spec.end_date) == (dt.date(2025, 3, 7), dt.date(2025, 3, 14))
    days = oracle.trading_days(dt.date(2025, 3, 7), dt.date(2025, 3, 14))
    assert {u.trade_date for u in units(ctx, created.run_id)} == set(days)


def test_all_history_starts_at_each_stocks_listing(ctx, oracle):
    oracle_codes(ctx)
    with ctx.engine.connect() as conn:  # a stock listed within the simulated calendar (2005 on)
        code, listed = conn.execute(
            select(securities.c.code, securities.c.list_date)
            .where(securities.c.list_date > dt.date(2010, 1, 1))
            .order_by(securities.c.code)
            .limit(1)
        ).one()
    end = listed + dt.timedelta(days=200)  # a long range the range kind would refuse
    body = {"kind": "all_history", "end_date": end.isoformat(), "symbols": [code]}
    created, _ = run_to_end(ctx, body)
    [unit] = units(ctx, created.run_id)
    days = oracle.trading_days(listed, end)  # the unit spans the trade dates while listed
    assert (unit.code, unit.start_date, unit.end_date) == (code, days[0], days[-1])
    assert set(oracle.stored(ctx.engine)) == oracle.expected(days, codes={code})
    with pytest.raises(InvalidRequest, match="at most 90"):
        runs.parse_spec(ctx, {**body, "kind": "range", "start_date": listed.isoformat()})


def test_datasets_select_what_is_stored_and_a_full_run_covers_a_subset(ctx, oracle):
    window = {"start_date": "2025-03-03", "end_date": "2025-03-04"}
    days = oracle.trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 4))
    created, _ = run_to_end(ctx, {**window, "datasets": ["valuations"]})
    assert count(ctx, bars) == 0 and count(ctx, adj_factors) == 0
    assert oracle.stored_valuations(ctx.engine) == oracle.expected_valuations(days)
    keys = {u.unit_key for u in units(ctx, created.run_id)}
    assert all(k.startswith("valuations:daily:") for k in keys)
    assert runs.run_view(ctx, created.run_id)["rows_written"] == count(ctx, valuations)

    full, _ = run_to_end(ctx, window)  # the subset run does not count as the full one
    assert runs.run_view(ctx, full.run_id)["skipped"] == 0
    again, _ = run_to_end(ctx, {**window, "datasets": "bars,adj_factors"})
    assert runs.run_view(ctx, again.run_id)["skipped"] == len(days)  # covered by the full run
    assert set(oracle.stored(ctx.engine)) == oracle.expected(days)


def test_securities_alone_refreshes_the_list(ctx):
    run_to_end(ctx, {"start_date": "2025-03-03", "end_date": "2025-03-03"})
    with ctx.engine.begin() as conn:
        conn.execute(securities.delete().where(securities.c.code.like("6%")))
    before = count(ctx, securities)
    refreshed, _ = run_to_end(
        ctx, {"start_date": "2025-03-03", "end_date": "2025-03-03", "datasets": ["securities"]}
    )
    view = runs.run_view(ctx, refreshed.run_id)
    assert (view["status"], view["total"]) == ("success", 0)
    assert count(ctx, securities) > before


def test_the_range_cap_is_configurable(ctx):
    body = {"start_date": "2025-01-01", "end_date": "2025-01-31"}
    narrow = ctx.settings.with_overrides(max_range_days=30)
    object.__setattr__(ctx, "settings", narrow)
    with pytest.raises(InvalidRequest) as info:
        runs.parse_spec(ctx, body)
    assert "31 days" in info.value.message and "STOCKSYNC_MAX_RANGE_DAYS" in info.value.message
    assert runs.parse_spec(ctx, {**body, "end_date": "2025-01-30"}).end_date.day == 30
