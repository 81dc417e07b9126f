import datetime as dt

import pytest

from stocksync.codes import normalize_code
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.spec import parse_run_request

TODAY = dt.date(2026, 11, 23)


def parse(body):
    return parse_run_request(
        body, known_sources=("sim", "baostock"), default_sources=("sim",), today=TODAY
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("600000", "600000.SH"),
        ("sh.600000", "600000.SH"),
        ("SH600000", "600000.SH"),
        ("600000.sh", "600000.SH"),
        ("000001", "000001.SZ"),
        ("sz.300750", "300750.SZ"),
        ("688981", "688981.SH"),
        ("920002", "920002.BJ"),
        ("bj.920002", "920002.BJ"),
        (" 000001.SZ ", "000001.SZ"),
    ],
)
def test_codes_are_normalised(raw, expected):
    assert normalize_code(raw) == expected


@pytest.mark.parametrize("raw", ["60000", "600000.SZ", "sz.600000", "abcdef", "", "700000"])
def test_bad_codes_are_rejected_with_a_clear_message(raw):
    with pytest.raises(InvalidRequest) as info:
        normalize_code(raw)
    assert info.value.field == "symbols"
    assert raw.strip().upper()[:6] in info.value.message.upper() or raw == ""


def test_a_minimal_request_gets_defaults():
    spec = parse({"start_date": "2026-10-01", "end_date": "2026-10-31"})
    assert spec.start_date == dt.date(2026, 10, 1)
    assert spec.periods == (Period.DAILY,)
    assert spec.sources == ("sim",)
    assert spec.symbols is None
    assert spec.force is False


def test_request_fields_are_parsed_and_deduplicated():
    spec = parse(
        {
            "start_date": "20260105",
            "end_date": "2026-01-30",
            "symbols": ["600000", "sh.600000", "000001.SZ"],
            "periods": ["weekly", "daily", "weekly"],
            "sources": ["BAOSTOCK"],
            "force": True,
        }
    )
    assert spec.symbols == ("600000.SH", "000001.SZ")
    assert spec.periods == (Period.WEEKLY, Period.DAILY)
    assert spec.sources == ("baostock",)
    assert spec.force is True
    assert spec == type(spec).from_json(spec.to_json())


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"end_date": "2026-01-01"}, "start_date", "required"),
        ({"start_date": "2026-02-30", "end_date": "2026-03-01"}, "start_date", "not a valid date"),
        ({"start_date": "2026-03-02", "end_date": "2026-03-01"}, "start_date", "after end_date"),
        ({"start_date": "1980-01-01", "end_date": "1990-01-01"}, "start_date", "before the market"),
        ({"start_date": "2026-11-01", "end_date": "2026-12-01"}, "end_date", "future"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-06", "periods": ["hourly"]}, "periods",
         "unknown period"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-06", "sources": ["yahoo"]}, "sources",
         "unknown source"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-06", "symbols": ["12"]}, "symbols",
         "not a stock code"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-06", "symbols": 5}, "symbols",
         "list of strings"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-06", "force": "yes"}, "force",
         "true or false"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-06", "colour": "red"}, "colour",
         "unknown field"),
    ],
)  # fmt: skip
def test_bad_requests_say_what_is_wrong(body, field, words):
    with pytest.raises(InvalidRequest) as info:
        parse(body)
    assert info.value.field == field
    assert words in info.value.message


def test_a_body_that_is_not_an_object_is_rejected():
    with pytest.raises(InvalidRequest, match="JSON object"):
        parse(["2026-01-01"])
