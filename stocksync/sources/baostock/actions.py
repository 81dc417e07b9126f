"""baostock's dividends (``query_dividend_data``) → canonical
:class:`~stocksync.domain.CorporateAction`.

One query per ex-date year (``yearType="operate"``, 除权除息年份): the actions whose
``dividOperateDate`` lies in the range. Cash before tax (``dividCashPsBeforeTax``), bonus shares
(``dividStocksPs``) and transfer shares (``dividReserveToStockPs``) per share; record, pay and
implementation-announcement (``dividPlanDate``) dates. baostock has no rights issues and names no
report period. ``dividCashPsAfterTax`` (text, ``0.6813或0.71915``) and ``dividCashStock`` (the plan,
``10转1派5.15元（含税，…）``) are never read as numbers. A plan not yet implemented has no ex-date
and is left out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stocksync.domain import CorporateAction
from stocksync.sources.baostock.replies import Records, bs_code, out_of_step, unreadable

FIELDS = frozenset({
    "code", "dividPlanDate", "dividRegistDate", "dividOperateDate", "dividPayDate",
    "dividCashPsBeforeTax", "dividStocksPs", "dividReserveToStockPs",
})  # fmt: skip


def fetch(records: Records, canonical: str, start: dt.date, end: dt.date) -> list[CorporateAction]:
    """The actions of ``canonical`` with an ex-date in [start, end]: one query per year."""
    code = bs_code(canonical)
    rows: list[dict[str, str]] = []
    for year in range(start.year, end.year + 1):
        what = f"dividends of {canonical} in {year}"

        def call(bs: Any, year: int = year) -> Any:
            return bs.query_dividend_data(code, year=str(year), yearType="operate")

        reply = records(what, call)
        if not answers(code, year, reply):
            raise out_of_step(what)
        rows += reply
    try:
        return implemented(canonical, rows, start, end)
    except ValueError as exc:
        raise unreadable(f"dividend of {canonical}", exc) from exc


def answers(code: str, year: int, rows: list[dict[str, str]]) -> bool:
    """Whether ``rows`` can be the reply for ``code``'s ex-dates in ``year``."""
    if rows and not rows[0].keys() >= FIELDS:
        return False
    return all(r["code"] == code and r["dividOperateDate"][:4] in ("", str(year)) for r in rows)


def implemented(
    canonical: str, rows: list[dict[str, str]], start: dt.date, end: dt.date
) -> list[CorporateAction]:
    """The actions of ``rows`` with an ex-date in [start, end], one per ex-date (amounts added)."""
    found: dict[dt.date, CorporateAction] = {}
    for r in rows:
        if not r["dividOperateDate"]:
            continue  # a plan, not yet implemented
        action = CorporateAction(
            code=canonical,
            ex_date=dt.date.fromisoformat(r["dividOperateDate"]),
            cash_div=amount(r["dividCashPsBeforeTax"]),
            bonus_ratio=amount(r["dividStocksPs"]),
            transfer_ratio=amount(r["dividReserveToStockPs"]),
            record_date=day(r["dividRegistDate"]),
            pay_date=day(r["dividPayDate"]),
            announce_date=day(r["dividPlanDate"]),
        )
        if not start <= action.ex_date <= end:
            continue
        same = found.get(action.ex_date)
        found[action.ex_date] = action if same is None else combined(same, action)
    return sorted(found.values(), key=lambda a: a.ex_date)


def amount(text: str) -> float:
    """A per-share amount: ``""`` is none."""
    return float(text) if text else 0.0


def day(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def combined(a: CorporateAction, b: CorporateAction) -> CorporateAction:
    """Two actions on one ex-date as one: amounts added, each date the first one known."""

    def first(x: dt.date | None, y: dt.date | None) -> dt.date | None:
        return x if x is not None else y

    return CorporateAction(
        code=a.code, ex_date=a.ex_date, cash_div=round(a.cash_div + b.cash_div, 6),
        bonus_ratio=round(a.bonus_ratio + b.bonus_ratio, 6),
        transfer_ratio=round(a.transfer_ratio + b.transfer_ratio, 6),
        record_date=first(a.record_date, b.record_date), pay_date=first(a.pay_date, b.pay_date),
        announce_date=first(a.announce_date, b.announce_date),
    )  # fmt: skip
