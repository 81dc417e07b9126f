"""The simulated market's main indices: deterministic, sound, weekly and monthly bars made of
the daily ones, and the index bar checks catching unit slips."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest

from stocksync.datasets.index_bars import INDEX_BARS, index_bar_problem
from stocksync.datasets.indices import MAIN_INDICES, index_info, indices_within
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.sim.indices import sim_index_bars

SEED = 20240601
START, END = dt.date(2024, 11, 1), dt.date(2025, 2, 28)


@pytest.mark.parametrize("code", [i.code for i in MAIN_INDICES])
def test_every_main_index_has_sound_bars_on_every_trading_day(code):
    daily = sim_index_bars(SEED, code, Period.DAILY, START, END)
    assert [b.trade_date for b in daily] == _sessions(START, END)
    assert all(index_bar_problem(b) is None for b in daily)
    for before, after in itertools.pairwise(daily):
        assert after.pre_close == before.close  # a level series, no gaps
    assert sim_index_bars(SEED, code, Period.DAILY, START, END) == daily  # deterministic


def test_weekly_and_monthly_bars_aggregate_the_daily_ones():
    code = "000300.SH"
    daily = {b.trade_date: b for b in sim_index_bars(SEED, code, Period.DAILY, START, END)}
    for period in (Period.WEEKLY, Period.MONTHLY):
        for bar in sim_index_bars(SEED, code, period, dt.date(2024, 12, 1), END):
            days = [b for d, b in daily.items() if d <= bar.trade_date and _same(period, d, bar)]
            assert bar.open == days[0].open and bar.close == days[-1].close
            assert bar.high == max(b.high for b in days) and bar.low == min(b.low for b in days)
            assert bar.volume == sum(b.volume for b in days)
            assert bar.pre_close == days[0].pre_close


def test_an_index_starts_on_its_first_day_and_unknown_ones_are_refused():
    star50 = sim_index_bars(
        SEED, "000688.SH", Period.DAILY, dt.date(2020, 7, 1), dt.date(2020, 7, 31)
    )
    assert star50[0].trade_date == index_info("000688.SH").since
    assert {i.code for i, _, _ in indices_within(dt.date(2023, 1, 1), END)} == {
        i.code for i in MAIN_INDICES
    }
    assert "899050.BJ" not in {i.code for i, _, _ in indices_within(START, dt.date(2022, 1, 1))}
    with pytest.raises(InvalidRequest, match="unknown index"):
        index_info("600000.SH")


def test_a_lots_or_thousands_slip_is_caught():
    bar = sim_index_bars(SEED, "000300.SH", Period.DAILY, START, START + dt.timedelta(days=7))[0]
    assert INDEX_BARS.check([bar], Period.DAILY)[1] == []
    for slipped in (
        dataclasses.replace(bar, volume=bar.volume // 100),  # volume in lots (手)
        dataclasses.replace(bar, amount=bar.amount / 1000),  # amount in thousands (千元)
        dataclasses.replace(bar, high=bar.low / 2),
    ):
        (rejected,) = INDEX_BARS.check([slipped], Period.DAILY)[1]
        assert rejected.code == "000300.SH"


def _sessions(start, end):
    from stocksync.sim import calendar

    return calendar.trading_days(start, end)


def _same(period, day, bar):
    if period is Period.WEEKLY:
        return day.isocalendar()[:2] == bar.trade_date.isocalendar()[:2]
    return (day.year, day.month) == (bar.trade_date.year, bar.trade_date.month)
