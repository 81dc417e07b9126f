"""Cron expressions (read by croniter): what they accept, when they fire in Shanghai, and what a
bad one says."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from stocksync.errors import InvalidRequest
from stocksync.schedules.cron import MAX_LENGTH, Cron, parse_cron

SH = ZoneInfo("Asia/Shanghai")


def at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SH)


def fires(text: str, start: dt.datetime, count: int) -> list[dt.datetime]:
    """The next ``count`` fire times of ``text`` after ``start``, in Shanghai."""
    cron, found = parse_cron(text), []
    for _ in range(count):
        start = cron.next_fire(start, SH)
        found.append(start)
    return found


def test_fields_accept_lists_ranges_steps_and_names():
    # Wednesday 2025-01-01: minutes 0 and 30 of hours 9 and 11, on weekdays of January.
    assert fires("0,30 9-11/2 * jan-mar MON-fri", at(2025, 1, 1), 5) == [
        at(2025, 1, 1, 9, 0),
        at(2025, 1, 1, 9, 30),
        at(2025, 1, 1, 11, 0),
        at(2025, 1, 1, 11, 30),
        at(2025, 1, 2, 9, 0),
    ]
    assert [f.minute for f in fires("*/15 * * * *", at(2025, 1, 1), 5)] == [15, 30, 45, 0, 15]
    assert [f.minute for f in fires("5/20 * * * *", at(2025, 1, 1), 4)] == [5, 25, 45, 5]
    sundays = fires("0 0 * * 0", at(2025, 3, 1), 3)
    assert fires("0 0 * * 7", at(2025, 3, 1), 3) == fires("0 0 * * sun", at(2025, 3, 1), 3)
    assert sundays == [at(2025, 3, 2), at(2025, 3, 9), at(2025, 3, 16)]


def test_the_text_is_kept_with_single_spaces():
    assert parse_cron("  30\t17 *  * 1-5 ") == Cron("30 17 * * 1-5")


def test_the_default_daily_schedule_fires_after_the_close_on_weekdays():
    daily = parse_cron("30 17 * * 1-5")
    # Friday 2025-03-07 17:30 → the next is Monday 17:30, in Shanghai time.
    assert daily.next_fire(at(2025, 3, 7, 17, 30), SH) == at(2025, 3, 10, 17, 30)
    assert daily.next_fire(at(2025, 3, 7, 17, 29, 59), SH) == at(2025, 3, 7, 17, 30)
    assert daily.previous_fire(at(2025, 3, 9, 12, 0), SH) == at(2025, 3, 7, 17, 30)
    assert daily.previous_fire(at(2025, 3, 7, 17, 30, 40), SH) == at(2025, 3, 7, 17, 30)
    assert daily.previous_fire(at(2025, 3, 7, 17, 30), SH) == at(2025, 3, 7, 17, 30)
    assert daily.previous_fire(at(2025, 3, 7, 17, 29, 59), SH) == at(2025, 3, 6, 17, 30)


def test_fire_times_are_shanghai_wall_clock_whatever_the_input_zone():
    weekly = parse_cron("0 2 * * 1")
    # Sunday 2025-03-09 18:00 UTC is Monday 02:00 in Shanghai: not strictly after itself.
    utc = dt.datetime(2025, 3, 9, 17, 59, tzinfo=dt.UTC)
    fire = weekly.next_fire(utc, SH)
    assert fire == at(2025, 3, 10, 2, 0)
    assert fire.utcoffset() == dt.timedelta(hours=8)
    assert fire.isoformat() == "2025-03-10T02:00:00+08:00"
    previous = weekly.previous_fire(dt.datetime(2025, 3, 9, 18, 30, tzinfo=dt.UTC), SH)
    assert previous.isoformat() == "2025-03-10T02:00:00+08:00"
    # Shanghai has no daylight saving: the same wall-clock time and offset all year round
    # (US DST starts 9 March, European summer time ends 26 October).
    for fire in fires("0 2 * * 1", at(2025, 1, 1), 53):
        assert (fire.hour, fire.minute, fire.utcoffset()) == (2, 0, dt.timedelta(hours=8))


def test_monthly_and_gap_check_defaults_fire_on_the_first():
    monthly = parse_cron("0 3 1 * *")
    assert monthly.next_fire(at(2025, 1, 31, 23, 0), SH) == at(2025, 2, 1, 3, 0)
    assert monthly.next_fire(at(2025, 12, 1, 3, 0), SH) == at(2026, 1, 1, 3, 0)


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    cron = parse_cron("0 12 13 * 5")  # the 13th, or any Friday (classic cron)
    assert cron.next_fire(at(2025, 6, 1), SH) == at(2025, 6, 6, 12, 0)  # a Friday
    assert cron.next_fire(at(2025, 6, 12, 13, 0), SH) == at(2025, 6, 13, 12, 0)  # Fri 13th
    assert cron.next_fire(at(2025, 8, 9), SH) == at(2025, 8, 13, 12, 0)  # Wed the 13th


def test_a_stepped_day_of_month_with_a_weekday_is_either_too():
    # croniter: */2 restricts the day of month, so odd days OR Fridays (Vixie cron would
    # read a field starting with * as unrestricted and fire on odd-day Fridays only).
    assert [f.day for f in fires("0 12 */2 * 5", at(2025, 6, 1), 5)] == [1, 3, 5, 6, 7]


def test_last_day_nth_and_last_weekday_and_wrapping_ranges():
    assert fires("0 0 L * *", at(2025, 1, 31), 2) == [at(2025, 2, 28), at(2025, 3, 31)]
    assert fires("0 0 * * 5#3", at(2025, 3, 1), 2) == [at(2025, 3, 21), at(2025, 4, 18)]
    assert fires("0 0 * * L5", at(2025, 3, 1), 2) == [at(2025, 3, 28), at(2025, 4, 25)]
    # A range that runs past the end wraps: Friday to Monday.
    weekend = fires("0 0 * * fri-mon", at(2025, 3, 5), 4)  # from Wednesday
    assert [f.isoweekday() for f in weekend] == [5, 6, 7, 1]
    assert fires("0 0 * * 5-1", at(2025, 3, 5), 4) == weekend


def test_february_29th_fires_only_in_leap_years():
    cron = parse_cron("0 0 29 2 *")
    assert cron.next_fire(at(2025, 3, 1), SH) == at(2028, 2, 29, 0, 0)
    assert cron.previous_fire(at(2025, 3, 1), SH) == at(2024, 2, 29, 0, 0)


def test_a_cron_longer_than_the_stored_column_is_refused():
    minutes = ",".join(str(m) for m in range(60))  # a valid field of 170 characters
    with pytest.raises(InvalidRequest) as raised:
        parse_cron(f"{minutes} 17 * * 1-5")
    assert raised.value.message == (
        f"cron is {len(minutes) + 11} characters long; at most {MAX_LENGTH} are allowed"
    )
    assert raised.value.field == "cron"
    fits = ",".join(str(m) for m in range(40)) + " 17 * * 1-5"
    assert len(fits) == MAX_LENGTH and parse_cron(fits).text == fits
    with pytest.raises(InvalidRequest, match="121 characters long"):
        parse_cron(fits.replace(" 17 ", " 017 "))
    # What is stored is the text with single spaces: padding does not count.
    assert parse_cron("30" + " " * MAX_LENGTH + "17 * * 1-5").text == "30 17 * * 1-5"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "five fields"),
        (None, "five fields"),
        (1730, "cron must be a string of five fields"),
        ("30 17 * *", "has 4 field(s); it needs five"),
        ("30 17 * * 1-5 2025", "has 6 field(s)"),
        ("0 30 17 * * 1-5", "has 6 field(s)"),  # croniter's seconds field is not offered
        ("@daily", "has 1 field(s)"),
        ("60 17 * * *", "minute 60 is out of range 0-59"),
        ("30 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week 8 is out of range 0-7"),
        ("0 0-70/5 * * *", "hour 70 is out of range 0-23"),
        ("*/0 * * * *", "minute step must be at least 1"),
        ("0 0 * * funday", "'funday' is not a valid day of week: it takes 0-7"),
        ("half 17 * * *", "'half' is not a valid minute: it takes 0-59"),
        ("0 0 * * 1,", "'1,' is not a valid day of week"),
        ("H 17 * * *", "'H' is not a valid minute"),  # croniter's hashed values need an id
        ("0 0 * * 1#6", "'1#6' is not a valid day of week"),
        ("0 0 31 2 *", "cron '0 0 31 2 *' never fires"),
        ("0 0 31 4,6 *", "never fires"),
    ],
)
def test_a_bad_expression_says_what_is_wrong(text, message):
    with pytest.raises(InvalidRequest) as raised:
        parse_cron(text)
    assert message in raised.value.message
    assert raised.value.field == "cron"


def test_in_a_zone_with_daylight_saving_croniter_rules_apply():
    # Not the default (Shanghai has no DST), but STOCKSYNC_SCHEDULE_TIMEZONE may name such a
    # zone: a time the spring change skips fires at the first minute after the gap, and one the
    # autumn change repeats fires at both (unlike Vixie cron, which runs it once).
    ny = ZoneInfo("America/New_York")
    cron = parse_cron("30 2 * * *")
    spring = cron.next_fire(dt.datetime(2025, 3, 8, 12, tzinfo=ny), ny)
    assert spring.astimezone(dt.UTC) == dt.datetime(2025, 3, 9, 7, 0, tzinfo=dt.UTC)  # 03:00 EDT
    november = parse_cron("30 1 2 11 *")
    autumn = november.next_fire(dt.datetime(2025, 11, 1, tzinfo=ny), ny)
    again = november.next_fire(autumn, ny)
    assert [t.astimezone(dt.UTC).hour for t in (autumn, again)] == [5, 6]  # 01:30 EDT, then EST
