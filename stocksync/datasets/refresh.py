"""Keep the stored securities list and trading calendar filled from the sources.

Sources are asked in priority order, each with a few quick retries; the trading calendar falls
back to the offline XSHG calendar of ``exchange_calendars`` when no source answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Connection

from stocksync.calendar import calendar_horizon, period_end_dates, xshg_trading_days
from stocksync.datasets import securities as stored_securities
from stocksync.datasets import trade_calendar as stored_calendar
from stocksync.domain import Period, Security
from stocksync.errors import InvalidRequest, ServiceUnavailable
from stocksync.sources.base import RateLimitedError, Source, SourceError, TransientSourceError

T = TypeVar("T")
log = logging.getLogger(__name__)
REFERENCE_ATTEMPTS = 3


def _with_retries(source: Source, what: str, fetch: Callable[[], T]) -> T:
    """``fetch`` with a few quick retries on transient errors; any other SourceError (or
    retries running out) propagates."""
    for attempt in range(1, REFERENCE_ATTEMPTS + 1):
        try:
            return fetch()
        except (TransientSourceError, RateLimitedError) as exc:
            if attempt == REFERENCE_ATTEMPTS:
                raise
            time.sleep(min(getattr(exc, "wait_s", 0.5), 2.0) * attempt)
    raise AssertionError("unreachable")


def _first_answer(sources: Sequence[Source], what: str, fetch: Callable[[Source], T]) -> T:
    """The first source's answer, in priority order; ServiceUnavailable naming each failure."""
    failures = []
    for source in sources:
        try:
            return _with_retries(source, what, lambda s=source: fetch(s))  # type: ignore[misc]
        except SourceError as exc:
            failures.append(f"{source.name}: {exc.message}")
    raise ServiceUnavailable(
        f"could not fetch {what} from any source ({'; '.join(failures)}); try again later"
    )


def ensure_securities(conn: Connection, sources: Sequence[Source]) -> None:
    """Fill the securities table from the first source that answers, when it is empty."""
    if stored_securities.count_securities(conn) == 0:
        listing: tuple[str, list[Security]] = _first_answer(
            sources, "the securities list", lambda s: (s.name, s.securities())
        )
        stored_securities.upsert_securities(conn, listing[1], source=listing[0])


def refresh_securities(conn: Connection, sources: Sequence[Source]) -> int:
    """Fetch the securities list again from the first source that answers; returns its size."""
    name, listing = _first_answer(
        sources, "the securities list", lambda s: (s.name, s.securities())
    )
    stored_securities.upsert_securities(conn, listing, source=name)
    return len(listing)


def ensure_calendar(
    conn: Connection, sources: Sequence[Source], start: dt.date, end: dt.date
) -> None:
    """Make sure the stored calendar covers [start, end]: from a source, else offline XSHG."""
    wanted = (end - start).days + 1
    if stored_calendar.stored_calendar_days(conn, start, end) >= wanted:
        return
    try:
        days = _first_answer(sources, "the trading calendar", lambda s: s.trading_days(start, end))
    except ServiceUnavailable as exc:
        log.warning("%s; using the offline XSHG calendar", exc)
        try:
            days = xshg_trading_days(start, end)
        except ValueError as fallback:
            raise InvalidRequest(f"{exc}; and {fallback}", field="end_date") from fallback
    stored_calendar.store_trading_days(conn, start, end, days)


def dates_by_period(
    conn: Connection,
    sources: Sequence[Source],
    periods: tuple[Period, ...],
    start: dt.date,
    end: dt.date,
) -> dict[Period, list[dt.date]]:
    """The trade dates each period's bars carry within [start, end]."""
    ensure_calendar(conn, sources, start, end)
    last = end
    if any(p is not Period.DAILY for p in periods):
        # Past `end` only to learn whether the last week/month is over; best effort.
        horizon = calendar_horizon(end)
        try:
            ensure_calendar(conn, sources, end + dt.timedelta(days=1), horizon)
            last = horizon
        except (InvalidRequest, ServiceUnavailable):
            log.info("calendar unknown past %s; the last period counts as finished", end)
    days = stored_calendar.load_trading_days(conn, start, last)
    return {p: period_end_dates(days, p, start, end) for p in periods}
