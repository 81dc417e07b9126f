"""``from stocksync import read``: the store as typed pandas frames, on real PostgreSQL, equal
to the simulated market — raw and adjusted bars, an index's members date by date, the
universe, the calendar, actions, and financials as known on a date."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pandas as pd
import pytest
from inprocess_runs import run_to_end  # type: ignore[import-not-found]
from sqlalchemy import delete

from stocksync import read
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.sources.sim import sim_market
from stocksync.storage.schema import adj_factors

START, END = dt.date(2024, 6, 3), dt.date(2024, 7, 31)


@pytest.fixture
def synced(ctx, settings):
    run_to_end(ctx, {"start_date": str(START), "end_date": str(END), "periods": ["daily"],
                     "datasets": ["bars", "adj_factors", "index_members", "corporate_actions",
                                  "securities"]})  # fmt: skip
    reader = read.connect(ctx.urls.database_url)
    yield sim_market(settings.sim.seed, settings.sim.stocks)
    reader.engine.dispose()


def test_the_reader_imports_without_flask_or_celery_and_starts_nothing():
    code = ("import sys; from stocksync import read; "
            "assert not {'flask', 'celery'} & set(sys.modules), sorted(sys.modules)")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bars_are_the_truth_typed_and_sorted(synced):
    market = synced
    codes = [s.code for s in market.securities()[:5]]
    frame = read.bars(codes, start=START, end=END)
    truth = [b for c in codes for b in market.bars_for_code(c, START, END, Period.DAILY)]
    assert len(frame) == len(truth) and list(frame.columns[:3]) == ["code", "trade_date", "open"]
    assert frame["trade_date"].dtype.kind == "M" and frame["code"].dtype == "category"
    assert frame["volume"].dtype == "int64" and frame["is_st"].dtype == bool
    got = list(zip(frame["code"].astype(str), frame["trade_date"].dt.date, frame["close"],
                   frame["volume"], strict=True))  # fmt: skip
    assert got == [(b.code, b.trade_date, b.close, b.volume) for b in truth]
    assert frame.equals(frame.sort_values(["code", "trade_date"]).reset_index(drop=True))


def test_adjusted_bars_use_the_stored_factors(synced):
    market = synced
    code = next(s.code for s in market.securities()
                if market.corporate_actions(s.code, START, END))  # fmt: skip
    factors = {f.trade_date: f.factor for f in market.adj_factors(code, START, END)}
    raw = {b.trade_date: b.close for b in market.bars_for_code(code, START, END, Period.DAILY)}
    latest = factors[max(factors)]
    qfq = read.bars(code, start=START, end=END, adjust="qfq", fields=["close"])
    assert list(qfq.columns) == ["code", "trade_date", "close", "factor"]
    for day, close in zip(qfq["trade_date"].dt.date, qfq["close"], strict=True):
        assert close == pytest.approx(raw[day] * factors[day] / latest, abs=1e-4)
    hfq = read.bars(code, start=START, end=END, adjust="hfq", fields=["close"])
    assert hfq["close"].tolist() == pytest.approx([raw[d] * factors[d] for d in sorted(raw)],
                                                  abs=1e-4)  # fmt: skip
    early = min(factors)
    as_of = read.bars(code, start=START, end=END, adjust="qfq", fields=["close"], as_of=early)
    assert as_of["close"].iloc[0] == pytest.approx(raw[early], abs=1e-4)  # its own base


def test_an_index_takes_its_members_on_each_date(synced):
    market = synced
    frame = read.bars(index="000300", start=START, end=END, fields=["close"])
    for day, codes in frame.groupby("trade_date", observed=True)["code"]:
        snap = max(d for d in market.period_end_dates(Period.MONTHLY, dt.date(2024, 1, 1), END)
                   if d <= day.date())  # fmt: skip
        members = {m.code for m in market.index_members("000300.SH", snap, snap)}
        listed = {b.code for b in market.bars_for_date(day.date()) if b.code in members}
        assert set(codes.astype(str)) == listed
    members = read.universe(END, index="000300.SH")
    assert members["weight"].sum() == pytest.approx(100, abs=0.1)


def test_universe_calendar_and_actions(synced):
    market = synced
    listed = read.universe(END)
    truth = {s.code for s in market.securities() if s.is_listed_on(END)}
    assert set(listed["code"].astype(str)) == truth
    days = read.calendar(START, END)
    assert list(days.date) == market.trading_days(START, END)
    actions = read.actions(start=START, end=END)
    assert len(actions) == sum(len(market.corporate_actions(c, START, END)) for c in truth
                               | {s.code for s in market.securities()
                                  if s.delist_date and s.delist_date > START})  # fmt: skip
    assert actions["ex_date"].dtype.kind == "M"
    assert read.financials("600000.SH").empty  # not synced: an empty frame, not an error


def test_bad_input_is_an_invalid_request(ctx, synced):
    with pytest.raises(InvalidRequest, match="period"):
        read.bars(start=START, end=END, period="hourly")
    with pytest.raises(InvalidRequest, match="adjust"):
        read.bars(start=START, end=END, adjust="forward")
    with pytest.raises(InvalidRequest, match="start"):
        read.bars(start=END, end=START)
    code = synced.securities()[0].code
    with ctx.engine.begin() as conn:
        conn.execute(delete(adj_factors).where(adj_factors.c.code == code))
    with pytest.raises(InvalidRequest, match=f"factors of {code}.*not stored"):
        read.bars(code, start=START, end=END, adjust="hfq")  # never silently raw
    weekly = read.bars(start=START, end=END, period="weekly")  # none synced: empty, typed
    assert isinstance(weekly, pd.DataFrame) and weekly.empty
