"""Five-field cron expressions (minute hour day-of-month month day-of-week) and their fire times.

The expressions are read by croniter: each field takes ``*``, a value, a range ``a-b``, a step
``*/n`` or ``a-b/n``, or a comma list of those; months and weekdays also take English names
(``jan``, ``mon``); day of week runs 0–7, with both 0 and 7 meaning Sunday, and also takes
``5#3`` (the third Friday) and ``L5`` (the last Friday); day of month takes ``L`` (the last day).
When both day of month and day of week are restricted (neither is a bare ``*``), a day matches
when either does. Times are wall-clock times in the given timezone.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, CroniterError, croniter

from stocksync.errors import InvalidRequest

MAX_LENGTH = 120  # the width of the schedules.cron column
EXAMPLE = "e.g. '30 17 * * 1-5'"
# (name, lowest, highest, what it takes besides numbers)
_FIELDS: tuple[tuple[str, int, int, str], ...] = (
    ("minute", 0, 59, ""),
    ("hour", 0, 23, ""),
    ("day of month", 1, 31, ", or L for the last day"),
    ("month", 1, 12, ", or jan-dec"),
    ("day of week", 0, 7, " (0 and 7 are Sunday), sun-sat, 5#3 (third Friday) or L5 (last Friday)"),
)
_NEVER_FIRES_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # croniter looks 50 years ahead
_MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Cron:
    """A valid cron expression, its fields separated by single spaces. Build it with
    :func:`parse_cron`."""

    text: str

    def next_fire(self, after: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        """The first fire time strictly after ``after`` (an aware datetime), in ``tz``."""
        return self._step(_floor_minute(after.astimezone(tz)), forward=True)

    def previous_fire(self, at: dt.datetime, tz: ZoneInfo) -> dt.datetime:
        """The last fire time at or before ``at`` (an aware datetime), in ``tz``."""
        return self._step(_floor_minute(at.astimezone(tz)) + _MINUTE, forward=False)

    def _step(self, start: dt.datetime, *, forward: bool) -> dt.datetime:
        """The fire time nearest ``start`` in one direction, ``start`` itself excluded."""
        times = croniter(self.text, start)
        try:
            found = times.get_next(dt.datetime) if forward else times.get_prev(dt.datetime)
        except CroniterBadDateError:
            raise InvalidRequest(f"cron {self.text!r} never fires", field="cron") from None
        return found


def _floor_minute(moment: dt.datetime) -> dt.datetime:
    return moment.replace(second=0, microsecond=0)


def parse_cron(text: object) -> Cron:
    """Check a five-field cron expression and return it; :class:`InvalidRequest` (field
    ``cron``) saying what is wrong otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(
            "cron must be a string of five fields: minute hour day-of-month month day-of-week, "
            + EXAMPLE,
            field="cron",
        )
    parts = text.split()
    normal = " ".join(parts)
    if len(normal) > MAX_LENGTH:
        raise InvalidRequest(
            f"cron is {len(normal)} characters long; at most {MAX_LENGTH} are allowed",
            field="cron",
        )
    if len(parts) != 5:
        raise InvalidRequest(
            f"cron {normal!r} has {len(parts)} field(s); it needs five: minute hour day-of-month "
            f"month day-of-week, {EXAMPLE}",
            field="cron",
        )
    for index, part in enumerate(parts):
        alone = ["*"] * 5
        alone[index] = part
        if not croniter.is_valid(" ".join(alone)):
            raise InvalidRequest(_bad_field(normal, part, *_FIELDS[index]), field="cron")
    try:
        croniter(normal, _NEVER_FIRES_FROM).get_next(dt.datetime)
    except CroniterBadDateError:
        raise InvalidRequest(
            f"cron {normal!r} never fires: no date in the months it names matches", field="cron"
        ) from None
    except CroniterError as exc:  # each field is valid, but not together
        raise InvalidRequest(f"cron {normal!r} is not valid: {exc}", field="cron") from None
    return Cron(normal)


def _bad_field(text: str, part: str, name: str, low: int, high: int, also: str) -> str:
    """What is wrong with ``part``, a field croniter refused."""
    prefix = f"cron {text!r}: "
    for item in part.split(","):
        span = re.split(r"[/#]", item, maxsplit=1)[0]
        step = item[len(span) + 1 :] if item[len(span) : len(span) + 1] == "/" else ""
        if step.isdigit() and int(step) < 1:
            return f"{prefix}{name} step must be at least 1"
        for number in re.findall(r"\d+", span):
            if not low <= int(number) <= high:
                return f"{prefix}{name} {int(number)} is out of range {low}-{high}"
    return (
        f"{prefix}{part!r} is not a valid {name}: it takes {low}-{high}{also}, as a value, a "
        "range a-b, a step */n or a-b/n, or a comma list of those"
    )
