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

from sqlalchemy import Connection, Engine

from stocksync.calendar import calendar_horizon, period_end_dates, xshg_trading_days
from stocksync.datasets import securities as stored_securities
from stocksync.datasets import trade_calendar as stored_calendar
from stocksync.domain import Period
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


def ensure_securities(engine: Engine, sources: Sequence[Source]) -> None:
    """Fill the securities table from the first source that answers, when it is empty."""
    with engine.connect() as conn:
        if stored_securities.count_securities(conn) > 0:
            return
    refresh_securities(engine, sources)


def refresh_securities(engine: Engine, sources: Sequence[Source]) -> int:
    """Fetch the securities list again from the first source that answers (no transaction is
    open while the sources are asked); returns its size."""
    name, listing = _first_answer(
        sources, "the securities list", lambda s: (s.name, s.securities())
    )
    with engine.begin() as conn:
        stored_securities.upsert_securities(conn, listing, source=name)
    return len(listing)


def ensure_calendar(
    engine: Engine, sources: Sequence[Source], start: dt.date, end: dt.date
) -> None:
    """Make sure the stored calendar covers [start, end]: from a source, else offline XSHG
    (no transaction is open while the sources are asked)."""
    if _calendar_known(engine, start, end):
        return
    try:
        days = _first_answer(sources, "the trading calendar", lambda s: s.trading_days(start, end))
    except ServiceUnavailable as exc:
        log.warning("%s; using the offline XSHG calendar", exc)
        try:
            days = xshg_trading_days(start, end)
        except ValueError as fallback:
            raise InvalidRequest(f"{exc}; and {fallback}", field="end_date") from fallback
    with engine.begin() as conn:
        stored_calendar.store_trading_days(conn, start, end, days)


def _calendar_known(engine: Engine, start: dt.date, end: dt.date) -> bool:
    with engine.connect() as conn:
        return stored_calendar.stored_calendar_days(conn, start, end) >= (end - start).days + 1


def ensure_calendars(
    engine: Engine,
    sources: Sequence[Source],
    periods: tuple[Period, ...],
    start: dt.date,
    end: dt.date,
) -> None:
    """The calendar over [start, end], and for weekly/monthly periods past ``end`` (best
    effort) to learn whether the last week or month is over."""
    ensure_calendar(engine, sources, start, end)
    if any(p in (Period.WEEKLY, Period.MONTHLY) for p in periods):
        try:
            ensure_calendar(engine, sources, end + dt.timedelta(days=1), calendar_horizon(end))
        except (InvalidRequest, ServiceUnavailable):
            log.info("calendar unknown past %s; the last period counts as finished", end)


def dates_by_period(
    conn: Connection, periods: tuple[Period, ...], start: dt.date, end: dt.date
) -> dict[Period, list[dt.date]]:
    """The trade dates each period's bars carry within [start, end], from the stored calendar
    (see :func:`ensure_calendars`); a last week or month whose end the stored calendar does not
    reach counts as finished."""
    last = end
    if any(p in (Period.WEEKLY, Period.MONTHLY) for p in periods):
        horizon = calendar_horizon(end)
        after = end + dt.timedelta(days=1)
        if stored_calendar.stored_calendar_days(conn, after, horizon) >= (horizon - end).days:
            last = horizon
    days = stored_calendar.load_trading_days(conn, start, last)
    return {p: period_end_dates(days, p, start, end) for p in periods}
