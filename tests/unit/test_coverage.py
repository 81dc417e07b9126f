import datetime as dt

from stocksync.runs.coverage import Coverage


def d(day: int) -> dt.date:
    return dt.date(2025, 3, day)


DATES = [d(x) for x in (3, 4, 5, 6, 7, 10, 11, 12, 13, 14)]


def span(coverage, code="A", first=d(3), last=d(14)):
    return coverage.open_span(code, coverage.open_dates(DATES), first, last)


def test_nothing_finished_leaves_the_whole_range_open():
    assert span(Coverage()) == (d(3), d(14))


def test_finished_ranges_trim_the_unit_to_its_gaps():
    coverage = Coverage({"A": [(d(3), d(7)), (d(11), d(12))]})
    assert span(coverage) == (d(10), d(14))
    assert span(coverage, first=d(3), last=d(12)) == (d(10), d(10))
    assert span(coverage, code="B") == (d(3), d(14))


def test_adjacent_and_overlapping_ranges_merge():
    coverage = Coverage({"A": [(d(3), d(6)), (d(7), d(10)), (d(9), d(14))]})
    assert span(coverage) is None


def test_market_wide_dates_cover_every_stock():
    coverage = Coverage({"A": [(d(3), d(10))]}, frozenset({d(11), d(12), d(14)}))
    assert span(coverage) == (d(13), d(13))
    assert span(coverage, code="B") == (d(3), d(13))
    covered = Coverage({"A": [(d(3), d(10))]}, frozenset({d(11), d(12), d(13), d(14)}))
    assert span(covered) is None


def test_a_range_outside_the_dates_is_closed():
    assert span(Coverage(), first=d(8), last=d(9)) is None
