"""Keep the stored securities list and trading calendar filled from the primary source."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection

from stocksync.calendar import calendar_horizon, period_end_dates
from stocksync.domain import Period
from stocksync.errors import InvalidRequest, ServiceUnavailable
from stocksync.sources.base import (
    FatalSourceError,
    RateLimitedError,
    Source,
    TransientSourceError,
)
from stocksync.storage import reference

CALENDAR_LIMIT = dt.date(2026, 12, 31)
T = TypeVar("T")


REFERENCE_ATTEMPTS = 3


def _with_retries(source: Source, what: str, fetch: Callable[[], T]) -> T:
    """Call ``fetch`` with a few quick retries on transient errors; a source that stays down
    becomes a ServiceUnavailable the caller can show."""
    for attempt in range(1, REFERENCE_ATTEMPTS + 1):
        try:
            return fetch()
        except (TransientSourceError, RateLimitedError) as exc:
            if attempt == REFERENCE_ATTEMPTS:
                raise ServiceUnavailable(
                    f"could not fetch {what} from {source.name} after {attempt} tries: "
                    f"{exc.message}; try again later or use another source"
                ) from exc
            time.sleep(min(getattr(exc, "wait_s", 0.5), 2.0) * attempt)
    raise AssertionError("unreachable")


def ensure_securities(conn: Connection, source: Source) -> None:
    """Fill the securities table from ``source`` when it is empty."""
    if reference.count_securities(conn) == 0:
        listing = _with_retries(source, "the securities list", source.securities)
        reference.upsert_securities(conn, listing, source=source.name)


def ensure_calendar(conn: Connection, source: Source, start: dt.date, end: dt.date) -> None:
    """Make sure the stored calendar covers [start, end]."""
    wanted = (end - start).days + 1
    if reference.stored_calendar_days(conn, start, end) >= wanted:
        return
    try:
        days = _with_retries(
            source, "the trading calendar", lambda: source.trading_days(start, end)
        )
    except FatalSourceError as exc:  # e.g. a calendar that does not reach that far
        raise InvalidRequest(exc.message, field="end_date") from exc
    reference.store_trading_days(conn, start, end, days)


def dates_by_period(
    conn: Connection, source: Source, periods: tuple[Period, ...], start: dt.date, end: dt.date
) -> dict[Period, list[dt.date]]:
    """The trade dates each period's bars carry within [start, end]."""
    if end > CALENDAR_LIMIT:
        raise InvalidRequest(
            f"the trading calendar is only known up to {CALENDAR_LIMIT}; "
            f"end_date {end} is beyond it",
            field="end_date",
        )
    horizon = min(calendar_horizon(end), CALENDAR_LIMIT)
    need_horizon = any(p is not Period.DAILY for p in periods)
    last = horizon if need_horizon else end
    ensure_calendar(conn, source, start, last)
    days = reference.load_trading_days(conn, start, last)
    return {p: period_end_dates(days, p, start, end) for p in periods}
