import datetime as dt

import pytest

from stocksync.calendar import period_end_dates
from stocksync.domain import Board, DatasetName, Exchange, Period, Security
from stocksync.runs.coverage import Coverage
from stocksync.runs.planning import plan_run
from stocksync.runs.spec import RunSpec
from stocksync.sources.base import Offer, Shape, Source

D = dt.date


class Capabilities(Source):
    """A source that only declares capabilities (the planner never calls it)."""

    name = "caps"

    def __init__(self, shapes, latency=0.5, quota=None, datasets=None, periods=frozenset(Period)):
        shapes = frozenset(shapes)
        daily = frozenset({Period.DAILY})
        self.serves = {
            name: Offer(shapes, periods if name is DatasetName.BARS else daily)
            for name in (
                datasets or (DatasetName.BARS, DatasetName.ADJ_FACTORS, DatasetName.VALUATIONS)
            )
        }
        self._latency, self._quota = latency, quota

    @property
    def expected_latency_s(self):
        return self._latency

    @property
    def calls_per_minute(self):
        return self._quota

    def securities(self):
        raise AssertionError("not called")

    def trading_days(self, start, end):
        raise AssertionError("not called")


def sec(code, listed=D(2000, 1, 1), delisted=None):
    return Security(code, code, Exchange.SH, Board.MAIN, listed, delisted)


DAYS = [D(2026, 1, 5), D(2026, 1, 6), D(2026, 1, 7), D(2026, 1, 8), D(2026, 1, 9)]
UNIVERSE = [sec(f"60{n:04d}.SH") for n in range(10)]


def spec(
    symbols=None,
    periods=(Period.DAILY,),
    start=D(2026, 1, 5),
    end=D(2026, 1, 9),
    datasets=("bars",),
):
    return RunSpec(start, end, symbols, periods, ("caps",), datasets=datasets)


def test_whole_market_is_planned_per_date_when_the_source_can():
    both = Capabilities({Shape.MARKET_BY_DATE, Shape.STOCK_BY_RANGE})
    plan = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, sources=[both])
    assert [u.trade_date for u in plan.units] == DAYS
    assert all(u.code is None for u in plan.units)
    assert plan.expected_calls == 5
    assert plan.shapes == {Period.DAILY: Shape.MARKET_BY_DATE}


def test_few_symbols_over_many_days_are_planned_per_stock():
    both = Capabilities({Shape.MARKET_BY_DATE, Shape.STOCK_BY_RANGE})
    two = UNIVERSE[:2]
    plan = plan_run(
        spec(symbols=tuple(s.code for s in two)),
        period_dates={Period.DAILY: DAYS},
        universe=two,
        sources=[both],
    )
    assert [u.code for u in plan.units] == [s.code for s in two]
    assert all((u.start_date, u.end_date) == (D(2026, 1, 5), D(2026, 1, 9)) for u in plan.units)


def test_a_per_stock_only_source_gets_per_stock_units_and_skips_unlisted_stocks():
    per_stock = Capabilities({Shape.STOCK_BY_RANGE})
    universe = [
        sec("600000.SH"),
        sec("600001.SH", listed=D(2026, 1, 7)),  # listed mid-range: range starts at listing
        sec("600002.SH", delisted=D(2026, 1, 6)),  # delisted: last day is 01-05
        sec("600003.SH", listed=D(2026, 2, 1)),  # not listed yet: not planned
        sec("600004.SH", delisted=D(2025, 12, 1)),  # gone: not planned
    ]
    plan = plan_run(
        spec(), period_dates={Period.DAILY: DAYS}, universe=universe, sources=[per_stock]
    )
    got = {u.code: (u.start_date, u.end_date) for u in plan.units}
    assert got == {
        "600000.SH": (D(2026, 1, 5), D(2026, 1, 9)),
        "600001.SH": (D(2026, 1, 7), D(2026, 1, 9)),
        "600002.SH": (D(2026, 1, 5), D(2026, 1, 5)),
    }


def test_unit_keys_are_stable_and_scoped_by_symbol_subset():
    both = Capabilities({Shape.MARKET_BY_DATE})
    whole = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, sources=[both])
    again = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, sources=[both])
    subset = plan_run(
        spec(symbols=("600000.SH",)), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE[:1],
        sources=[both],
    )  # fmt: skip
    assert [u.unit_key for u in whole.units] == [u.unit_key for u in again.units]
    assert whole.units[0].unit_key == "bars:daily:2026-01-05"
    every = plan_run(spec(datasets=("valuations", "bars", "adj_factors")),
                     period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, sources=[both])  # fmt: skip
    assert every.units[0].unit_key == "bars+adj_factors+valuations:daily:2026-01-05"
    assert every.expected_calls == 3 * len(DAYS)  # one call per dataset per date
    assert not {u.unit_key for u in whole.units} & {u.unit_key for u in subset.units}


def test_eta_follows_latency_and_parallelism_and_never_beats_the_quota():
    slow = Capabilities({Shape.MARKET_BY_DATE}, latency=2.0)
    plan = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, sources=[slow],
                    parallelism=2)  # fmt: skip
    assert plan.eta_s == pytest.approx(5 * 2.0 / 2)
    quota = Capabilities({Shape.MARKET_BY_DATE}, latency=0.0, quota=1)
    plan = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, sources=[quota])
    assert plan.eta_s == pytest.approx(5 * 60.0)


def test_a_dataset_no_source_serves_is_named_not_silently_left_out():
    daily_bars = Capabilities({Shape.MARKET_BY_DATE}, datasets=(DatasetName.BARS,),
                              periods=frozenset({Period.DAILY}))  # fmt: skip
    plan = plan_run(
        spec(periods=(Period.DAILY, Period.WEEKLY), datasets=("bars", "valuations")),
        period_dates={Period.DAILY: DAYS, Period.WEEKLY: DAYS[-1:]},
        universe=UNIVERSE, sources=[daily_bars],
    )  # fmt: skip
    assert {u.period for u in plan.units} == {Period.DAILY}  # no weekly bars: nobody serves them
    assert all(u.datasets == (DatasetName.BARS,) for u in plan.units)
    assert plan.unserved == {"valuations": "no configured source (caps) serves valuations"}
    weekly_only = plan_run(spec(periods=(Period.WEEKLY,), datasets=("bars", "valuations")),
                           period_dates={Period.WEEKLY: DAYS[-1:]}, universe=UNIVERSE,
                           sources=[Capabilities({Shape.MARKET_BY_DATE})])  # fmt: skip
    assert "add daily to periods" in weekly_only.unserved["valuations"]


def test_only_the_datasets_earlier_runs_did_not_store_are_planned():
    both = Capabilities({Shape.MARKET_BY_DATE, Shape.STOCK_BY_RANGE})
    stored = {
        DatasetName.BARS: Coverage(market_dates=frozenset(DAYS)),
        DatasetName.ADJ_FACTORS: Coverage(market_dates=frozenset(DAYS)),
        DatasetName.VALUATIONS: Coverage(market_dates=frozenset(DAYS[:2])),
    }
    plan = plan_run(spec(datasets=("bars", "adj_factors", "valuations")),
                    period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, sources=[both],
                    coverage=lambda period, name: stored[name])  # fmt: skip
    open_units = [u for u in plan.units if u.unit_key not in plan.covered]
    assert [(u.trade_date, u.datasets) for u in open_units] == [
        (day, (DatasetName.VALUATIONS,)) for day in DAYS[2:]
    ]
    assert len(plan.covered) == 2 and plan.expected_calls == 3
    per_stock = Capabilities({Shape.STOCK_BY_RANGE})
    by_stock = {
        DatasetName.BARS: Coverage(ranges={"600000.SH": [(DAYS[0], DAYS[-1])]}),
        DatasetName.VALUATIONS: Coverage(ranges={"600000.SH": [(DAYS[0], DAYS[2])]}),
    }
    plan = plan_run(spec(symbols=("600000.SH",), datasets=("bars", "valuations")),
                    period_dates={Period.DAILY: DAYS}, universe=UNIVERSE[:1], sources=[per_stock],
                    coverage=lambda period, name: by_stock[name])  # fmt: skip
    (unit,) = plan.units
    assert (unit.datasets, unit.start_date, unit.end_date) == (
        (DatasetName.VALUATIONS,), DAYS[3], DAYS[4],
    )  # fmt: skip


def test_period_ends_are_last_trading_days_and_unfinished_periods_are_left_out():
    days = [D(2026, 1, d) for d in (5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 19, 20, 21)] + [
        D(2026, 2, 2)
    ]
    assert period_end_dates(days, Period.WEEKLY, D(2026, 1, 1), D(2026, 1, 20)) == [
        D(2026, 1, 9),
        D(2026, 1, 16),
    ]  # fmt: skip  (the week of the 19th ends after the 20th: not finished)
    assert period_end_dates(days, Period.MONTHLY, D(2026, 1, 1), D(2026, 2, 28)) == [
        D(2026, 1, 21), D(2026, 2, 2),
    ]  # fmt: skip
    assert period_end_dates(days, Period.DAILY, D(2026, 1, 8), D(2026, 1, 12)) == [
        D(2026, 1, 8), D(2026, 1, 9), D(2026, 1, 12),
    ]  # fmt: skip
