import datetime as dt

import pytest

from stocksync.calendar import period_end_dates
from stocksync.domain import Board, Exchange, Period, Security
from stocksync.runs.planning import plan_run
from stocksync.runs.spec import RunSpec
from stocksync.sources.base import Shape, Source

D = dt.date


class Capabilities(Source):
    """A source that only declares capabilities (the planner never calls it)."""

    name = "caps"

    def __init__(self, shapes, latency=0.5, quota=None):
        self.shapes = frozenset(shapes)
        self.periods = frozenset(Period)
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


def spec(symbols=None, periods=(Period.DAILY,), start=D(2026, 1, 5), end=D(2026, 1, 9)):
    return RunSpec(start, end, symbols, periods, ("caps",))


def test_whole_market_is_planned_per_date_when_the_source_can():
    both = Capabilities({Shape.MARKET_BY_DATE, Shape.STOCK_BY_RANGE})
    plan = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, source=both)
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
        source=both,
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
    plan = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=universe, source=per_stock)
    got = {u.code: (u.start_date, u.end_date) for u in plan.units}
    assert got == {
        "600000.SH": (D(2026, 1, 5), D(2026, 1, 9)),
        "600001.SH": (D(2026, 1, 7), D(2026, 1, 9)),
        "600002.SH": (D(2026, 1, 5), D(2026, 1, 5)),
    }


def test_unit_keys_are_stable_and_scoped_by_symbol_subset():
    both = Capabilities({Shape.MARKET_BY_DATE})
    whole = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, source=both)
    again = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, source=both)
    subset = plan_run(
        spec(symbols=("600000.SH",)), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE[:1],
        source=both,
    )  # fmt: skip
    assert [u.unit_key for u in whole.units] == [u.unit_key for u in again.units]
    assert whole.units[0].unit_key == "bars:daily:2026-01-05"
    assert not {u.unit_key for u in whole.units} & {u.unit_key for u in subset.units}


def test_eta_follows_latency_and_parallelism_and_never_beats_the_quota():
    slow = Capabilities({Shape.MARKET_BY_DATE}, latency=2.0)
    plan = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, source=slow,
                    parallelism=2)  # fmt: skip
    assert plan.eta_s == pytest.approx(5 * 2.0 / 2)
    quota = Capabilities({Shape.MARKET_BY_DATE}, latency=0.0, quota=1)
    plan = plan_run(spec(), period_dates={Period.DAILY: DAYS}, universe=UNIVERSE, source=quota)
    assert plan.eta_s == pytest.approx(5 * 60.0)


def test_a_source_that_cannot_serve_a_period_is_refused():
    class DailyOnly(Capabilities):
        def __init__(self):
            super().__init__({Shape.MARKET_BY_DATE})
            self.periods = frozenset({Period.DAILY})

    with pytest.raises(ValueError, match="cannot serve weekly"):
        plan_run(spec(periods=(Period.WEEKLY,)), period_dates={Period.WEEKLY: DAYS[-1:]},
                 universe=UNIVERSE, source=DailyOnly())  # fmt: skip


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
