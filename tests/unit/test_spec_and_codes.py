import datetime as dt

import pytest

from stocksync.codes import normalize_code
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.runs.spec import parse_run_request

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


def test_a_list_of_nothing_but_separators_is_the_default():
    # it used to be an empty tuple: a run of no period, whose incremental start failed (a 500)
    body = {"kind": "incremental", "periods": ",, ,", "datasets": " ,", "symbols": ",",
            "sources": " "}  # fmt: skip
    spec = parse(body)
    assert spec.periods == (Period.DAILY,) and spec.symbols is None
    assert spec.datasets == ("bars", "adj_factors", "valuations") and spec.sources == ("sim",)


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


RANGE = {"start_date": "2026-01-05", "end_date": "2026-01-06"}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"start_date": "2026-01-01", "end_date": "2026-04-01"}, "end_date", "covers 91 days"),
        ({"start_date": "2026-01-01", "end_date": "2026-04-01"}, "end_date", "all_history"),
        ({"kind": "weekly"}, "kind", "one of range, all_history, incremental"),
        ({"kind": "incremental", "days_back": 0}, "days_back", "between 1 and 3650"),
        ({"kind": "incremental", "days_back": "7"}, "days_back", "a whole number"),
        ({"kind": "incremental", "start_date": "2026-01-05"}, "start_date", "days_back"),
        ({**RANGE, "days_back": 3}, "days_back", "belongs to kind incremental"),
        ({**RANGE, "datasets": ["ticks"]}, "datasets", "unknown dataset"),
        ({**RANGE, "sources": ["sim"], "preferred_sources": ["sim"]}, "preferred_sources",
         "only one of"),
        ({**RANGE, "start_date": "2026/01/05"}, "start_date", "YYYY-MM-DD"),
    ],
)  # fmt: skip
def test_run_kinds_reject_what_does_not_fit(body, field, words):
    with pytest.raises(InvalidRequest) as info:
        parse(body)
    assert info.value.field == field
    assert words in info.value.message


def test_a_ninety_day_range_is_the_default_cap():
    spec = parse({"start_date": "2026-01-01", "end_date": "2026-03-31"})  # 90 days
    assert spec.kind == "range"
    with pytest.raises(InvalidRequest):
        parse_run_request(
            {"start_date": "2026-01-01", "end_date": "2026-03-31"},
            known_sources=("sim",), default_sources=("sim",), today=TODAY, max_range_days=89,
        )  # fmt: skip


def test_all_history_defaults_to_the_whole_market_history_up_to_today():
    spec = parse({"kind": "all_history", "periods": "daily,monthly"})
    assert (spec.start_date, spec.end_date) == (dt.date(1990, 12, 19), TODAY)
    assert spec.periods == (Period.DAILY, Period.MONTHLY)


def test_incremental_from_the_last_stored_bar_or_a_default_window():
    asked = []

    def latest(periods, symbols):
        asked.append((periods, symbols))
        return dt.date(2026, 11, 18)

    spec = parse_run_request(
        {"kind": "incremental", "symbols": "600000"}, known_sources=("sim",),
        default_sources=("sim",), today=TODAY, latest_stored=latest,
    )  # fmt: skip
    assert (spec.start_date, spec.end_date, spec.from_last_bar) == (
        dt.date(2026, 11, 19),
        TODAY,
        True,
    )
    assert asked == [((Period.DAILY,), ("600000.SH",))]
    empty = parse_run_request(
        {"kind": "incremental"}, known_sources=("sim",), default_sources=("sim",), today=TODAY,
        latest_stored=lambda p, s: None, incremental_default_days=30,
    )  # fmt: skip
    assert empty.start_date == TODAY - dt.timedelta(days=30)
    back = parse({"kind": "incremental", "days_back": 7, "end_date": "2026-11-20"})
    assert (back.start_date, back.from_last_bar) == (dt.date(2026, 11, 13), False)
    assert back == type(back).from_json(back.to_json())


def test_the_seeds_source_field_names_are_accepted():
    assert parse({**RANGE, "preferred_sources": ["baostock"]}).sources == ("baostock",)
    assert parse({**RANGE, "data_sources": "baostock"}).sources == ("baostock",)
    assert parse({**RANGE, "data_sources": " sim, "}).sources == ("sim",)  # sim runs alone
