"""baostock's quarterly data → canonical :class:`~stocksync.domain.FinancialReport`.

Per report period three queries, ``query_profit_data``, ``query_growth_data`` and
``query_balance_data(code, year, quarter)``: roe = ``roeAvg``, gross margin = ``gpMargin``,
net profit growth = ``YOYPNI`` (parent's net profit) and debt ratio = ``liabilityToAsset`` are
fractions (× 100 for percent); ``netProfit`` and revenue = ``MBRevenue`` are yuan. baostock has no
year-to-date basic eps (only ``epsTTM``) and no revenue growth: both None. A bank's ``""`` ratios
are None. baostock keeps one version of a period, dated by its ``pubDate``: a period counts when
that date lies in the range. Its data begin in 2007; a period not yet published is an empty reply.
"""

from __future__ import annotations

import datetime as dt
import math

from stocksync.domain import FinancialReport
from stocksync.sources.baostock.replies import Records, bs_code, out_of_step, unreadable

FIRST_YEAR = 2007
# how long after its quarter's end a period's one version may be announced: the annual report
# up to four months, a restatement up to a year after that
LOOKBACK = dt.timedelta(days=470)
QUERIES = ("query_profit_data", "query_growth_data", "query_balance_data")
KEYS = frozenset({"code", "pubDate", "statDate"})
QUARTER_ENDS = ((3, 31), (6, 30), (9, 30), (12, 31))


def periods(start: dt.date, end: dt.date, today: dt.date) -> list[dt.date]:
    """The quarter ends whose report may be announced in [start, end]: from :data:`LOOKBACK`
    before ``start`` to ``end`` (none after today, none before 2007)."""
    first, last = start - LOOKBACK, min(end, today)
    return [
        day
        for year in range(max(first.year, FIRST_YEAR), last.year + 1)
        for month, dom in QUARTER_ENDS
        if first <= (day := dt.date(year, month, dom)) <= last
    ]


def fetch(
    records: Records, canonical: str, start: dt.date, end: dt.date, today: dt.date
) -> list[FinancialReport]:
    """The reports of ``canonical`` announced in [start, end]: the profit query of each period,
    and the growth and balance queries only of the periods announced in range."""
    code = bs_code(canonical)
    found = []
    for period in periods(start, end, today):
        profit = one(records, QUERIES[0], code, canonical, period)
        if profit is None or not start.isoformat() <= profit["pubDate"] <= end.isoformat():
            continue
        growth = one(records, QUERIES[1], code, canonical, period)
        balance = one(records, QUERIES[2], code, canonical, period)
        try:
            found.append(report(canonical, period, profit, growth or {}, balance or {}))
        except ValueError as exc:
            raise unreadable(f"report {period} of {canonical}", exc) from exc
    return found


def one(
    records: Records, query: str, code: str, canonical: str, period: dt.date
) -> dict[str, str] | None:
    """The row of one quarterly query for ``period`` (None: not published)."""
    what = f"{query[6:]} of {canonical} for {period}"
    quarter = (period.month + 2) // 3
    rows = records(what, lambda bs: getattr(bs, query)(code, year=period.year, quarter=quarter))
    if len(rows) > 1 or any(
        not r.keys() >= KEYS or r["code"] != code or r["statDate"] != period.isoformat()
        for r in rows
    ):
        raise out_of_step(what)
    return rows[0] if rows else None


def report(
    canonical: str,
    period: dt.date,
    profit: dict[str, str],
    growth: dict[str, str],
    balance: dict[str, str],
) -> FinancialReport:
    return FinancialReport(
        code=canonical,
        report_period=period,
        announce_date=dt.date.fromisoformat(profit["pubDate"]),
        eps=None,  # baostock has epsTTM only, not the year-to-date basic eps
        roe=percent(profit.get("roeAvg")),
        revenue=money(profit.get("MBRevenue")),
        net_profit=money(profit.get("netProfit")),
        revenue_yoy=None,  # not served
        net_profit_yoy=percent(growth.get("YOYPNI")),
        gross_margin=percent(profit.get("gpMargin")),
        debt_ratio=percent(balance.get("liabilityToAsset")),
    )


def money(text: str | None) -> float | None:
    """Yuan; ``""`` is None."""
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a number: {text!r}")
    return value


def percent(text: str | None) -> float | None:
    """A baostock fraction (6 decimals) in percent; ``""`` is None."""
    value = money(text)
    return None if value is None else round(value * 100, 4)
