"""baostock's index constituents: the three indices it has members of, the query that serves
each (``query_hs300_stocks`` / ``query_sz50_stocks`` / ``query_zz500_stocks``, asked for the set
as of a date), the month ends a unit asks for, and the string rows → canonical
:class:`~stocksync.domain.IndexMember` (no weights: baostock has none)."""

from __future__ import annotations

import datetime as dt

from stocksync.calendar import period_end_dates
from stocksync.codes import normalize_code
from stocksync.datasets.indices import index_info
from stocksync.domain import IndexMember, Period
from stocksync.errors import InvalidRequest
from stocksync.sources.baostock import rows as wire
from stocksync.sources.baostock.replies import Records, out_of_step
from stocksync.sources.base import FatalSourceError, TransientSourceError

NAME = wire.NAME
QUERIES = {
    "000300.SH": "query_hs300_stocks",
    "000016.SH": "query_sz50_stocks",
    "000905.SH": "query_zz500_stocks",
}
FIELDS = frozenset({"updateDate", "code", "code_name"})


def covered(code: str) -> bool:
    """Whether baostock has the members of the index ``code`` (canonical)."""
    return code.strip().upper() in QUERIES


def query_of(code: str) -> tuple[str, str]:
    """The canonical index code and the name of the library function serving its members;
    FatalSourceError for an index baostock has no members of."""
    canonical = code.strip().upper()
    if canonical not in QUERIES:
        known = ", ".join(QUERIES)
        raise FatalSourceError(NAME, f"baostock has no members of {code!r}, only of {known}")
    return canonical, QUERIES[canonical]


def first_day(code: str, start: dt.date) -> dt.date:
    """``start``, or the index's first day when it is later."""
    return max(start, index_info(code).since)


def calendar_end(end: dt.date) -> dt.date:
    """The last calendar day of ``end``'s month: how far the calendar must reach to tell
    whether ``end``'s month has ended by ``end``."""
    following = dt.date(end.year + end.month // 12, end.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def month_ends(trading_days: list[dt.date], start: dt.date, end: dt.date) -> list[dt.date]:
    """The last trading day of each month that ends within [start, end]."""
    return period_end_dates(trading_days, Period.MONTHLY, start, end)


def on(records: Records, canonical: str, query: str, day: dt.date) -> list[dict[str, str]]:
    """The rows of one members query (``query_hs300_stocks``…) as of ``day``, checked to
    answer it."""
    what = f"members of {canonical} on {day}"
    rows = records(what, lambda bs: getattr(bs, query)(date=day.isoformat()))
    if not answers(day, rows):
        raise out_of_step(what)
    return rows


def answers(day: dt.date, rows: list[dict[str, str]]) -> bool:
    """Whether ``rows`` can be the reply to a members query as of ``day``: the member fields,
    and no update after ``day``."""
    if rows and not rows[0].keys() >= FIELDS:
        return False
    return all(r.get("updateDate", "") <= day.isoformat() for r in rows)


def snapshot(index_code: str, day: dt.date, rows: list[dict[str, str]]) -> list[IndexMember]:
    """The members of ``rows`` as the snapshot of ``index_code`` dated ``day``; a code that is
    no stock code makes the reply unreadable (TransientSourceError)."""
    try:
        return [IndexMember(index_code, normalize_code(r["code"]), day, None) for r in rows]
    except InvalidRequest as exc:
        raise TransientSourceError(
            NAME, f"unreadable member of {index_code} on {day}: {exc}"
        ) from exc
