import datetime as dt

import pytest

from stocksync.datasets.bars import validate_bars
from stocksync.domain import Bar, Period


def bar(**changes):
    values = dict(
        code="600000.SH", period=Period.DAILY, trade_date=dt.date(2026, 1, 5), open=10.0,
        high=10.5, low=9.8, close=10.2, pre_close=10.0, volume=100_000, amount=1_020_000.0,
    )  # fmt: skip
    values.update(changes)
    return Bar(**values)


def test_a_sound_bar_passes():
    good, rejected = validate_bars([bar()])
    assert good == [bar()] and rejected == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"high": 9.0}, "high 9.0 < low 9.8"),
        ({"volume": -100}, "volume -100 is negative"),
        ({"open": float("nan")}, "open is missing or not a number"),
        ({"close": 0.0, "low": 0.0}, "low 0.0 is not a positive price"),
        ({"low": -1.0}, "low -1.0 is not a positive price"),
        ({"open": 11.0}, "open 11.0 outside"),
        ({"close": 9.0}, "close 9.0 outside"),
        ({"amount": -5.0}, "amount -5.0 is negative"),
        ({"volume": 1_000}, "wrong unit"),  # volume in lots: vwap 100x too high
        ({"amount": 1_020.0}, "wrong unit"),  # amount in thousands of yuan
        ({"pre_close": -1.0}, "pre_close -1.0"),
    ],
)
def test_bad_rows_are_rejected_with_their_reason(changes, reason):
    good, rejected = validate_bars([bar(**changes)])
    assert good == []
    assert len(rejected) == 1
    assert reason in rejected[0].reason
    assert str(rejected[0]).startswith("600000.SH 2026-01-05: ")


def test_a_duplicate_key_is_rejected_and_the_first_kept():
    first, second = bar(), bar(close=10.3)
    good, rejected = validate_bars([first, second])
    assert good == [first]
    assert rejected[0].reason.startswith("duplicate")


def test_a_suspended_bar_with_no_volume_passes():
    suspended = bar(open=10.0, high=10.0, low=10.0, close=10.0, volume=0, amount=0.0,
                    trade_status=0)  # fmt: skip
    assert validate_bars([suspended]) == ([suspended], [])
