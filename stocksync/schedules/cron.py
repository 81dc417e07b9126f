"""Five-field cron expressions (minute hour day-of-month month day-of-week) and their fire times.

Each field takes ``*``, a value, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of
those; months and weekdays also take English names (``jan``, ``mon``). Day of week runs 0–7, with
both 0 and 7 meaning Sunday. As in classic cron, when both day of month and day of week are
restricted, a day matches when either does. Times are wall-clock times in the given timezone.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from stocksync.errors import InvalidRequest

_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# (name, lowest, highest, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _WEEKDAYS),
)
_SEARCH_DAYS = 366 * 8  # longer than any gap between fires of a valid expression
_MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression. Build it with :func:`parse_cron`."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    any_day: bool  # day of month is *
    any_weekday: bool  # day of week is *

    def matches_day(self, day: dt.date) -> bool:
        """Whether the expression fires at some time on ``day``."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_fire(self, after: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        """The first fire time strictly after ``after`` (an aware datetime), in ``tz``."""
        start = _floor_minute(after.astimezone(tz)) + _MINUTE
        day = start.date()
        for _ in range(_SEARCH_DAYS):
            if self.matches_day(day):
                floor = (start.hour, start.minute) if day == start.date() else (0, 0)
                for hour in self.hours:
                    for minute in self.minutes:
                        if (hour, minute) >= floor:
                            return _at(day, hour, minute, tz)
            day += dt.timedelta(days=1)
        raise InvalidRequest(f"cron {self.text!r} never fires", field="cron")

    def previous_fire(self, at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        """The last fire time at or before ``at`` (an aware datetime), in ``tz``."""
        end = _floor_minute(at.astimezone(tz))
        day = end.date()
        for _ in range(_SEARCH_DAYS):
            if self.matches_day(day):
                ceiling = (end.hour, end.minute) if day == end.date() else (23, 59)
                for hour in reversed(self.hours):
                    for minute in reversed(self.minutes):
                        if (hour, minute) <= ceiling:
                            return _at(day, hour, minute, tz)
            day -= dt.timedelta(days=1)
        raise InvalidRequest(f"cron {self.text!r} never fires", field="cron")


def _floor_minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def _at(day: dt.date, hour: int, minute: int, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def parse_cron(text: object) -> Cron:
    """Parse a five-field cron expression; :class:`InvalidRequest` (field ``cron``) saying what
    is wrong otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(
            "cron must be a string of five fields: minute hour day-of-month month day-of-week, "
            "e.g. '30 17 * * 1-5'",
            field="cron",
        )
    parts = text.split()
    if len(parts) != 5:
        raise InvalidRequest(
            f"cron {text!r} has {len(parts)} field(s); it needs five: minute hour day-of-month "
            "month day-of-week, e.g. '30 17 * * 1-5'",
            field="cron",
        )
    values = [_parse_field(part, *spec, text) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(v % 7 for v in values[4])
    cron = Cron(
        text=" ".join(parts),
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=weekdays,
        any_day=parts[2].startswith("*"),
        any_weekday=parts[4].startswith("*"),
    )
    if cron.any_weekday or cron.any_day:
        longest = {m: 29 if m == 2 else calendar.monthrange(2001, m)[1] for m in cron.months}
        if not any(d <= longest[m] for m in cron.months for d in cron.days):
            raise InvalidRequest(
                f"cron {text!r} never fires: no month it names has day {max(cron.days)}",
                field="cron",
            )
    return cron


def _parse_field(
    part: str, name: str, low: int, high: int, names: dict[str, int], text: str
) -> set[int]:
    found: set[int] = set()
    for item in part.split(","):
        span, _, step_text = item.partition("/")
        step = 1
        if step_text:
            step = _number(step_text, name, text, {})
            if step < 1:
                raise InvalidRequest(f"cron {text!r}: {name} step must be at least 1", field="cron")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            left, _, right = span.partition("-")
            first, last = _number(left, name, text, names), _number(right, name, text, names)
        else:
            first = _number(span, name, text, names)
            last = high if step_text else first
        for value in (first, last):
            if not low <= value <= high:
                raise InvalidRequest(
                    f"cron {text!r}: {name} {value} is out of range {low}-{high}", field="cron"
                )
        if first > last:
            raise InvalidRequest(f"cron {text!r}: {name} range {span} runs backwards", field="cron")
        found.update(range(first, last + 1, step))
    return found


def _number(token: str, name: str, text: str, names: dict[str, int]) -> int:
    if token.lower() in names:
        return names[token.lower()]
    if not token.isdigit():
        raise InvalidRequest(f"cron {text!r}: {token!r} is not a valid {name}", field="cron")
    return int(token)
