"""tushare's index constituents and weights (``index_weight``) as canonical monthly
:class:`IndexMember` snapshots.

Facts this relies on (SOURCES-DATASETS.md, section 2): one index per call by ``index_code`` over
``start_date``/``end_date`` (``YYYYMMDD``); rows ``index_code, con_code, trade_date, weight``,
newest first, ``con_code`` in our form (``600000.SH``), ``weight`` in percent (``0.8656``); the
row cap is unverified, so every call names ``limit``/``offset`` and full pages are followed;
CSI 300 answers only when asked as ``399300.SZ`` (``000300.SH`` returns nothing, waditu/tushare
#801); snapshot dates are irregular: usually one a month, several in some months (daily in
places, #1825), not necessarily on the month's last trading day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence

from stocksync.calendar import period_end_dates
from stocksync.domain import IndexMember, Period
from stocksync.sources.tushare.client import TushareClient
from stocksync.sources.tushare.rows import Row, number, parse_day, ymd

MEMBER_API = "index_weight"
MEMBER_FIELDS = ("index_code", "con_code", "trade_date", "weight")
MEMBER_PAGE_ROWS = 6000  # unverified: tushare documents no cap for index_weight
MEMBER_INDICES = frozenset({
    "000016.SH", "000300.SH", "000905.SH", "000852.SH", "000688.SH", "399001.SZ", "399006.SZ",
    "899050.BJ",
})  # fmt: skip
ASKED_AS = {"000300.SH": "399300.SZ"}

Snapshots = dict[dt.date, dict[str, float | None]]


def asked_code(code: str) -> str:
    """The ``index_code`` tushare answers for the index ``code``."""
    return ASKED_AS.get(code, code)


def _first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _last_of_month(day: dt.date) -> dt.date:
    following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def fetch_member_rows(
    client: TushareClient, code: str, start: dt.date, end: dt.date, page_rows: int
) -> list[Row]:
    """The wire rows of every snapshot of ``code`` in the months of ``start`` through ``end``
    (whole months: a month's snapshot may be dated before ``start`` or after ``end``)."""
    return client.fetch(
        MEMBER_API,
        MEMBER_FIELDS,
        limit=page_rows,
        index_code=asked_code(code),
        start_date=ymd(_first_of_month(start)),
        end_date=ymd(_last_of_month(end)),
    )


def snapshots(code: str, rows: Iterable[Row]) -> Snapshots:
    """The wire rows of ``code`` (asked as :func:`asked_code`) by tushare's snapshot date:
    member -> weight (None where tushare has none). Rows of another index are dropped; a
    member repeated across two pages counts once."""
    asked = asked_code(code)
    found: Snapshots = {}
    for index_code, con_code, day, weight in rows:
        if str(index_code) != asked:
            continue
        value = number(weight)
        members = found.setdefault(parse_day(day), {})
        members.setdefault(str(con_code), value if math.isfinite(value) else None)
    return found


def months_spanned(found: Snapshots) -> tuple[dt.date, dt.date]:
    """The first day of the earliest snapshot's month and the last of the latest's."""
    return _first_of_month(min(found)), _last_of_month(max(found))


def monthly(
    code: str, found: Snapshots, trading_days: Sequence[dt.date], start: dt.date, end: dt.date
) -> list[IndexMember]:
    """One snapshot per month whose last trading day lies in [start, end]: the latest tushare
    has in that month, dated on the month's last trading day (the canonical date, whatever day
    tushare dated it). ``trading_days`` must cover every month of ``found``."""
    month_end = {
        (d.year, d.month): d for d in period_end_dates(trading_days, Period.MONTHLY, start, end)
    }
    latest: dict[tuple[int, int], dt.date] = {}
    for day in found:
        month = (day.year, day.month)
        if month in month_end and day > latest.get(month, dt.date.min):
            latest[month] = day
    return [
        IndexMember(code, member, month_end[month], weight)
        for month in sorted(latest)
        for member, weight in sorted(found[latest[month]].items())
    ]
