"""tushare's dividends (``dividend``) as canonical :class:`CorporateAction` rows.

Facts this relies on (SOURCES-DATASETS.md, section 3; tushare.pro/document/2?doc_id=103):
``dividend`` needs 2,000 points and one of ts_code / ann_date / record_date / ex_date /
imp_ann_date; asked by ``ts_code`` it answers the stock's whole history (2,000 rows a call, per a
community doc: every call names ``limit``/``offset``). One row per stage of each distribution:
``div_proc`` 预案 / 股东大会通过 (no ex-date yet) / 实施; only 实施 rows are actions. Amounts are
per share: ``cash_div_tax`` before tax (``cash_div`` after it), ``stk_bo_rate`` 送股 and
``stk_co_rate`` 转增 (``stk_div`` = their sum); ``end_date`` is the distributed year,
``imp_ann_date`` the implementation's announcement. Quirks: duplicate 实施 rows (waditu/tushare
#1133, #1271, #1900; the maintainers' advice is to filter by ``update_flag``, a field the doc does
not list, so it is asked for but may be absent); no rights issues (配股) at all; late updates
(#1910).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import replace

from stocksync.domain import CorporateAction
from stocksync.sources.tushare.client import TushareClient
from stocksync.sources.tushare.rows import Row, missing, number, parse_day

DIVIDEND_API = "dividend"
DIVIDEND_FIELDS = (
    "ts_code", "end_date", "ann_date", "div_proc", "stk_bo_rate", "stk_co_rate", "cash_div_tax",
    "record_date", "ex_date", "pay_date", "imp_ann_date", "update_flag",
)  # fmt: skip
UNDOCUMENTED = ("update_flag",)
DIVIDEND_PAGE_ROWS = 2000
IMPLEMENTED = "实施"


def fetch_dividend_rows(client: TushareClient, code: str) -> list[Row]:
    """Every ``dividend`` row of ``code``, all stages and all years (every page of them)."""
    return client.fetch(
        DIVIDEND_API,
        DIVIDEND_FIELDS,
        limit=DIVIDEND_PAGE_ROWS,
        optional=UNDOCUMENTED,
        ts_code=code,
    )


def _day(value: object) -> dt.date | None:
    return None if missing(value) else parse_day(value)


def _amount(value: object) -> float:
    """A per-share amount; a missing one is none at all."""
    found = number(value)
    return 0.0 if math.isnan(found) else found


def _rank(row: Row) -> tuple[bool, int]:
    """Of duplicate 实施 rows the one flagged latest, then the most complete, wins."""
    flag = row[DIVIDEND_FIELDS.index("update_flag")]
    return (not missing(flag) and str(flag) == "1", sum(not missing(v) for v in row))


def actions(code: str, rows: Iterable[Row], start: dt.date, end: dt.date) -> list[CorporateAction]:
    """The implemented actions of ``code`` whose ex-date lies in [start, end], one per ex-date,
    sorted: plans (预案, 股东大会通过) are dropped, duplicate 实施 rows of one distribution (one
    report period) kept once, and two distributions going ex on one day added up. No rights."""
    chosen: dict[tuple[dt.date, str], Row] = {}
    for row in rows:
        values = dict(zip(DIVIDEND_FIELDS, row, strict=True))
        if str(values["ts_code"]) != code or str(values["div_proc"]) != IMPLEMENTED:
            continue
        ex_date = _day(values["ex_date"])
        if ex_date is None or not start <= ex_date <= end:
            continue
        key = (ex_date, str(values["end_date"]))
        if key not in chosen or _rank(row) > _rank(chosen[key]):
            chosen[key] = row
    found: dict[dt.date, CorporateAction] = {}
    for ex_date, _period in sorted(chosen):
        values = dict(zip(DIVIDEND_FIELDS, chosen[(ex_date, _period)], strict=True))
        announced = values["imp_ann_date"]
        action = CorporateAction(
            code=code,
            ex_date=ex_date,
            cash_div=_amount(values["cash_div_tax"]),
            bonus_ratio=_amount(values["stk_bo_rate"]),
            transfer_ratio=_amount(values["stk_co_rate"]),
            record_date=_day(values["record_date"]),
            pay_date=_day(values["pay_date"]),
            announce_date=_day(values["ann_date"] if missing(announced) else announced),
            report_period=_day(values["end_date"]),
        )
        if (same := found.get(ex_date)) is not None:
            action = replace(
                action,
                cash_div=round(same.cash_div + action.cash_div, 6),
                bonus_ratio=round(same.bonus_ratio + action.bonus_ratio, 6),
                transfer_ratio=round(same.transfer_ratio + action.transfer_ratio, 6),
                record_date=same.record_date or action.record_date,
                pay_date=same.pay_date or action.pay_date,
            )
        found[ex_date] = action
    return [found[day] for day in sorted(found)]
