"""Unit keys are built and parsed in one module, and a key names exactly one unit."""

import datetime as dt

import pytest

from stocksync.domain import DatasetName as D
from stocksync.domain import Period
from stocksync.runs.units import (
    WorkUnit,
    datasets_tag,
    parse_datasets_tag,
    parse_unit_key,
    symbols_scope,
)

DAY = dt.date(2026, 10, 9)


@pytest.mark.parametrize(
    "unit",
    [
        WorkUnit.for_date(Period.DAILY, (D.BARS, D.ADJ_FACTORS, D.VALUATIONS), DAY),
        WorkUnit.for_date(Period.WEEKLY, (D.BARS,), DAY, symbols_scope(["600000.SH"])),
        WorkUnit.for_stock(Period.DAILY, (D.VALUATIONS,), "600000.SH", DAY, DAY.replace(day=30)),
    ],
)
def test_a_key_parses_back_into_its_unit(unit):
    assert parse_unit_key(unit.unit_key) == unit


def test_keys_read_as_documented():
    whole = WorkUnit.for_date(Period.DAILY, (D.BARS, D.ADJ_FACTORS), DAY)
    assert whole.unit_key == "bars+adj_factors:daily:2026-10-09"
    stock = WorkUnit.for_stock(Period.MONTHLY, (D.BARS,), "000001.SZ", DAY, DAY)
    assert stock.unit_key == "bars:monthly:000001.SZ:2026-10-09:2026-10-09"
    child = whole.child("600000.SH", (D.ADJ_FACTORS,))
    assert child.unit_key == "adj_factors:daily:600000.SH:2026-10-09:2026-10-09"


def test_symbol_scopes_are_stable_and_order_free():
    assert symbols_scope(None) == ""
    assert symbols_scope(["600000.SH", "000001.SZ"]) == symbols_scope(["000001.SZ", "600000.SH"])
    assert symbols_scope(["600000.SH"]) != symbols_scope(["600001.SH"])


def test_dataset_tags_round_trip():
    assert parse_datasets_tag(datasets_tag((D.BARS, D.VALUATIONS))) == (D.BARS, D.VALUATIONS)
    with pytest.raises(ValueError):
        parse_datasets_tag("bars+nonsense")
