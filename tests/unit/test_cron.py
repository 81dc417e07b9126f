"""Cron expressions: what they accept, when they fire in Shanghai, and what a bad one says."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from stocksync.errors import InvalidRequest
from stocksync.schedules.cron import parse_cron

SH = ZoneInfo("Asia/Shanghai")


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH)


def test_fields_accept_lists_ranges_steps_and_names():
    cron = parse_cron("0,30 9-11/2 1,15 jan-mar MON-fri")
    assert cron.minutes == (0, 30)
    assert cron.hours == (9, 11)
    assert cron.days == {1, 15}
    assert cron.months == {1, 2, 3}
    assert cron.weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("*/15 * * * *").minutes == (0, 15, 30, 45)
    assert parse_cron("5/20 * * * *").minutes == (5, 25, 45)
    assert parse_cron("0 0 * * 7").weekdays == parse_cron("0 0 * * 0").weekdays == {0}


def test_the_default_daily_schedule_fires_after_the_close_on_weekdays():
    daily = parse_cron("30 17 * * 1-5")
    # Friday 2025-03-07 17:30 → the next is Monday 17:30, in Shanghai time.
    assert daily.next_fire(at(2025, 3, 7, 17, 30), SH) == at(2025, 3, 10, 17, 30)
    assert daily.next_fire(at(2025, 3, 7, 17, 29, 59), SH) == at(2025, 3, 7, 17, 30)
    assert daily.previous_fire(at(2025, 3, 9, 12, 0), SH) == at(2025, 3, 7, 17, 30)
    assert daily.previous_fire(at(2025, 3, 7, 17, 30, 40), SH) == at(2025, 3, 7, 17, 30)


def test_fire_times_are_shanghai_wall_clock_whatever_the_input_zone():
    weekly = parse_cron("0 2 * * 1")
    # Sunday 2025-03-09 18:00 UTC is Monday 02:00 in Shanghai: not strictly after itself.
    utc = dt.datetime(2025, 3, 9, 17, 59, tzinfo=dt.UTC)
    fire = weekly.next_fire(utc, SH)
    assert fire == at(2025, 3, 10, 2, 0)
    assert fire.utcoffset() == dt.timedelta(hours=8)
    # Shanghai has no daylight saving: the same wall-clock time all year (US DST starts 9 March).
    assert weekly.next_fire(at(2025, 11, 1), SH).hour == 2


def test_monthly_and_gap_check_defaults_fire_on_the_first():
    monthly = parse_cron("0 3 1 * *")
    assert monthly.next_fire(at(2025, 1, 31, 23, 0), SH) == at(2025, 2, 1, 3, 0)
    assert monthly.next_fire(at(2025, 12, 1, 3, 0), SH) == at(2026, 1, 1, 3, 0)


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    cron = parse_cron("0 12 13 * 5")  # the 13th, or any Friday (classic cron)
    assert cron.next_fire(at(2025, 6, 1), SH) == at(2025, 6, 6, 12, 0)  # a Friday
    assert cron.next_fire(at(2025, 6, 12, 13, 0), SH) == at(2025, 6, 13, 12, 0)  # Fri 13th
    assert cron.next_fire(at(2025, 8, 9), SH) == at(2025, 8, 13, 12, 0)  # Wed the 13th


def test_february_29th_fires_only_in_leap_years():
    cron = parse_cron("0 0 29 2 *")
    assert cron.next_fire(at(2025, 3, 1), SH) == at(2028, 2, 29, 0, 0)
    assert cron.previous_fire(at(2025, 3, 1), SH) == at(2024, 2, 29, 0, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "five fields"),
        (None, "five fields"),
        ("30 17 * *", "has 4 field(s); it needs five"),
        ("30 17 * * 1-5 2025", "has 6 field(s)"),
        ("60 17 * * *", "minute 60 is out of range 0-59"),
        ("30 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week 8 is out of range 0-7"),
        ("0 0 * * 5-1", "range 5-1 runs backwards"),
        ("*/0 * * * *", "step must be at least 1"),
        ("0 0 * * funday", "'funday' is not a valid day of week"),
        ("half 17 * * *", "'half' is not a valid minute"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_a_bad_expression_says_what_is_wrong(text, message):
    with pytest.raises(InvalidRequest) as raised:
        parse_cron(text)
    assert message in raised.value.message
    assert raised.value.field == "cron"
