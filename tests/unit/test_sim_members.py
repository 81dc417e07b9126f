"""The simulated market's index members: a deterministic monthly snapshot per index, weights
summing to 100, a new set each half-year, delisted members dropped, disjoint CSI slices."""

from __future__ import annotations

import datetime as dt

import pytest

from stocksync.datasets.index_members import INDEX_MEMBERS
from stocksync.domain import IndexMember, Period
from stocksync.sim import SimMarket
from stocksync.sim.members import MEMBER_INDICES, epoch_of

START, END = dt.date(2024, 1, 1), dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def market():
    return SimMarket(20240601, 400)


def snapshots(members):
    found: dict[dt.date, dict[str, float | None]] = {}
    for m in members:
        found.setdefault(m.trade_date, {})[m.code] = m.weight
    return found


@pytest.mark.parametrize("code", MEMBER_INDICES)
def test_a_snapshot_a_month_with_weights_summing_to_100(market, code):
    members = market.index_members(code, START, END)
    by_date = snapshots(members)
    assert sorted(by_date) == market.period_end_dates(Period.MONTHLY, START, END)
    for weights in by_date.values():
        assert weights and sum(weights.values()) == pytest.approx(100, abs=0.01)
    assert INDEX_MEMBERS.check(members, Period.MONTHLY)[1] == []
    assert market.index_members(code, START, END) == members  # deterministic


def test_members_change_with_the_half_year_and_listed_stocks_only(market):
    by_date = snapshots(market.index_members("000905.SH", START, END))
    june, july = by_date[dt.date(2024, 6, 28)], by_date[dt.date(2024, 7, 31)]
    may = by_date[dt.date(2024, 5, 31)]
    assert set(may) <= set(june) and set(june) != set(july)
    for day, weights in by_date.items():
        for code in weights:
            stock = market.security(code)
            assert stock.list_date <= epoch_of(day) - dt.timedelta(days=90)
            assert stock.delist_date is None or stock.delist_date > day


def test_the_csi_slices_do_not_overlap(market):
    day = dt.date(2024, 9, 30)
    sets = [set(snapshots(market.index_members(c, day, day))[day])
            for c in ("000300.SH", "000905.SH", "000852.SH")]  # fmt: skip
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def test_a_stock_twice_in_a_snapshot_or_a_bad_weight_is_rejected():
    day = dt.date(2024, 9, 30)
    rows = [IndexMember("000300.SH", "600000.SH", day, 1.5),
            IndexMember("000300.SH", "600000.SH", day, 1.5),
            IndexMember("000300.SH", "600004.SH", day, 140.0),
            IndexMember("000300.SH", "sh.600005", day, 1.0)]  # fmt: skip
    good, rejected = INDEX_MEMBERS.check(rows, Period.MONTHLY)
    assert good == rows[:1] and len(rejected) == 3
