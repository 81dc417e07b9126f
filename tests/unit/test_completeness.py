"""Completeness is measured: a reply is judged against the keys the calendar and listings say
should exist."""

import datetime as dt

from stocksync.datasets import dataset
from stocksync.datasets.completeness import Expectation, judge
from stocksync.domain import Bar, DatasetName, Period, Valuation

DAYS = [dt.date(2025, 3, d) for d in (3, 4, 5, 6, 7)]
SUNDAY = dt.date(2025, 3, 9)


def bar(code, day, status=1):
    return Bar(code, Period.DAILY, day, 10.0, 10.5, 9.5, 10.2, 10.0, 1000, 10100.0,
               trade_status=status)  # fmt: skip


def per_stock(code="600000.SH", days=DAYS):
    return Expectation(frozenset((code, d) for d in days), by_date=False)


BARS = dataset(DatasetName.BARS)


def test_every_expected_day_present_is_complete():
    verdict = judge(BARS, [bar("600000.SH", d) for d in DAYS], Period.DAILY, per_stock(),
                    omits_suspended=False)  # fmt: skip
    assert verdict.complete and len(verdict.good) == 5


def test_an_empty_reply_for_a_listed_stock_misses_every_day():
    verdict = judge(BARS, [], Period.DAILY, per_stock(), omits_suspended=True)
    assert not verdict.complete
    assert verdict.describe_missing().startswith("5 missing: 600000.SH on 2025-03-03")


def test_a_row_on_a_closed_day_is_rejected_not_stored():
    rows = [bar("600000.SH", d) for d in DAYS] + [bar("600000.SH", SUNDAY)]
    verdict = judge(BARS, rows, Period.DAILY, per_stock(), omits_suspended=False)
    assert [r.trade_date for r in verdict.rejected] == [SUNDAY]
    assert "closed day or outside the stock's listing" in verdict.rejected[0].reason
    assert len(verdict.good) == 5 and not verdict.complete  # a rejected row is not clean


def test_an_interior_gap_is_a_suspension_only_for_a_source_that_omits_them():
    rows = [bar("600000.SH", d) for d in DAYS if d != DAYS[2]]
    assert judge(BARS, rows, Period.DAILY, per_stock(), omits_suspended=True).complete
    strict = judge(BARS, rows, Period.DAILY, per_stock(), omits_suspended=False)
    assert strict.missing == [("600000.SH", DAYS[2])]


def test_a_gap_at_the_end_of_the_range_is_missing_even_from_an_omitting_source():
    rows = [bar("600000.SH", d) for d in DAYS[:3]]
    verdict = judge(BARS, rows, Period.DAILY, per_stock(), omits_suspended=True)
    assert verdict.missing == [("600000.SH", DAYS[3]), ("600000.SH", DAYS[4])]


def test_suspended_days_reported_in_the_bars_explain_missing_valuations():
    values = [Valuation("600000.SH", d, 10.0, 1.0, 1e9, 8e8) for d in DAYS if d != DAYS[-1]]
    expected = Expectation(per_stock().keys, by_date=False,
                           suspended=frozenset({("600000.SH", DAYS[-1])}))  # fmt: skip
    verdict = judge(dataset(DatasetName.VALUATIONS), values, Period.DAILY, expected,
                    omits_suspended=True)  # fmt: skip
    assert verdict.complete


def test_a_whole_market_day_tolerates_a_few_absent_stocks_but_not_a_partial_outage():
    codes = [f"60{n:04d}.SH" for n in range(1000)]
    day = DAYS[0]
    expected = Expectation(frozenset((c, day) for c in codes), by_date=True,
                           known_codes=frozenset(codes))  # fmt: skip
    few_absent = [bar(c, day) for c in codes[:-8]]
    assert judge(BARS, few_absent, Period.DAILY, expected, omits_suspended=True).complete
    half = [bar(c, day) for c in codes[:500]]
    assert len(judge(BARS, half, Period.DAILY, expected, omits_suspended=True).missing) == 500
    assert not judge(BARS, few_absent, Period.DAILY, expected, omits_suspended=False).complete


def test_a_code_the_stored_list_does_not_know_yet_is_kept():
    day = DAYS[0]
    expected = Expectation(frozenset({("600000.SH", day)}), by_date=True,
                           known_codes=frozenset({"600000.SH", "600001.SH"}))  # fmt: skip
    rows = [bar("600000.SH", day), bar("688999.SH", day), bar("600001.SH", day)]
    verdict = judge(BARS, rows, Period.DAILY, expected, omits_suspended=False)
    assert {b.code for b in verdict.good} == {"600000.SH", "688999.SH"}  # a new listing: kept
    assert [r.code for r in verdict.rejected] == ["600001.SH"]  # known, not listed that day
