"""tushare's index bars (``index_daily``, ``index_weekly``, ``index_monthly``) as canonical
:class:`IndexBar` rows.

Facts this relies on (SOURCES-DATASETS.md, section 1): one index per call by ``ts_code``
(``000300.SH``, ``399001.SZ``, ``899050.BJ``: tushare's codes are ours) over
``start_date``/``end_date``; at most 8,000 rows a call for ``index_daily`` and 1,000 for the
weekly and monthly ones, so longer ranges are paged with ``limit``/``offset``; weekly and
monthly bars dated on the period's last trading day; levels in points, ``vol`` in lots (手),
``amount`` in thousands of yuan (千元); rows newest first; ``index_monthly`` shows ``vol`` and
``amount`` only when named in ``fields``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from stocksync.datasets.indices import MAIN_INDICES
from stocksync.domain import IndexBar, Period
from stocksync.sources.base import NoDataError
from stocksync.sources.tushare.client import SOURCE, TushareClient
from stocksync.sources.tushare.rows import BAR_FIELDS, Row, bar_values, ymd

INDEX_FIELDS = BAR_FIELDS  # the columns stock bars are read from, under the same names
INDEX_API = {
    Period.DAILY: "index_daily",
    Period.WEEKLY: "index_weekly",
    Period.MONTHLY: "index_monthly",
}
INDEX_PAGE_ROWS: Mapping[str, int] = {
    "index_daily": 8000,
    "index_weekly": 1000,
    "index_monthly": 1000,
}
_MAIN_CODES = frozenset(info.code for info in MAIN_INDICES)


def index_bars(period: Period, rows: Iterable[Row]) -> list[IndexBar]:
    """``INDEX_FIELDS`` rows as index bars sorted by (code, date), one per key. A row whose
    volume or amount is missing keeps ``amount`` NaN, so validation rejects it rather than
    storing volume 0."""
    found: dict[tuple[str, dt.date], IndexBar] = {}
    for row in rows:
        bar = IndexBar(**bar_values(period, row))
        found.setdefault((bar.code, bar.trade_date), bar)  # a row repeated across two pages
    return [found[key] for key in sorted(found)]


def fetch_index_rows(
    client: TushareClient,
    code: str,
    period: Period,
    start: dt.date,
    end: dt.date,
    page_rows: Mapping[str, int],
) -> list[Row]:
    """The wire rows of ``code``'s ``period`` bars in ``[start, end]``, every page of them."""
    api = INDEX_API[period]
    return client.fetch(
        api,
        INDEX_FIELDS,
        limit=page_rows[api],
        ts_code=code,
        start_date=ymd(start),
        end_date=ymd(end),
    )


def unknown_index(code: str) -> NoDataError | None:
    """After an empty reply: a NoDataError for a code outside the main indices, None for a main
    index (its missing days are for the completeness check to see, not to be explained away)."""
    if code in _MAIN_CODES:
        return None
    return NoDataError(SOURCE, f"tushare has no bars of the index {code} (not a main index)")
