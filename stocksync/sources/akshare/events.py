"""akshare's eastmoney stock events as canonical rows: corporate actions, the profile snapshot and
the quarterly main indicators. Facts they rest on (akshare 1.19.5):

- ``stock_fhps_detail_em(symbol)`` (``stock_feature/stock_fhps_em.py``): datacenter-web
  ``RPT_SHAREBONUS_DET``, ``pageSize=500``; it asks page 1 for ``result.pages`` and then asks
  pages 1…N again (N + 1 requests, no timeout), renaming the 30 keys **by position**; the
  quota pays 1 + ceil(rows / 500) (were eastmoney to cap pages below 500 rows, the extra pages
  would go unpaid). Ratios are per 10 shares: 送转总比例 (``BONUS_IT_RATIO``) is 送 + 转 and
  is never added to them.
  Rows without a 除权除息日 are plans (预案, 股东大会通过, 停止实施): not actions. 最新公告日期
  (``NOTICE_DATE``, the implementation notice for an implemented plan) is the announcement
  date; 预案公告日 and 业绩披露日期 are earlier steps. No pay date and no rights issues.
- ``stock_individual_info_em(symbol, timeout)`` (``stock/stock_info_em.py``): push2
  ``api/qt/stock/get``, ``secid`` ``1.`` for a code starting with 6, else ``0.`` (Beijing
  included). Today's snapshot only: 股票简称 (ST / *ST prefix → ``is_st``), 总股本 and 流通股
  (shares), 行业 (eastmoney's own scheme). ``data: null`` makes pandas raise inside akshare.
- ``stock_financial_analysis_indicator_em(symbol="600004.SH", indicator="按报告期")``
  (``stock_fundamental/stock_finance_sina.py``): datacenter ``securities/api/data/get``,
  ``RPT_F10_FINANCE_MAINFINADATA``, one request of up to 200 periods (no timeout), raw keys.
  eastmoney keeps one version per period (the latest figures). ``NOTICE_DATE`` is the first
  disclosure and ``UPDATE_DATE`` the last change of the row; a period's figures are dated on
  the later of the two, so restated figures never appear before they were known (an original
  version that was restated is not visible at all). Without ``NOTICE_DATE`` the statutory
  deadline stands in (``announce_estimated``).

Both datacenter calls crash inside akshare (``TypeError``) on eastmoney's empty answer
(``"result": null``, code 9201 "返回数据为空"): that is read here as "no rows".
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from stocksync.datasets.financials import is_quarter_end, statutory_deadline
from stocksync.domain import CorporateAction, FinancialReport, StockProfile
from stocksync.sources.akshare import frames

FHPS_PAGE_ROWS = 500  # akshare's pageSize for RPT_SHAREBONUS_DET
PER_10 = 10.0
INDUSTRY_SCHEME = "东方财富行业"
ST_PREFIXES = ("*ST", "ST", "S*ST", "SST")
_NO_RESULT = "'NoneType' object is not subscriptable"  # akshare reading "result": null
_NO_QUOTE = "If using all scalar values, you must pass an index"  # pandas on "data": null
Admit = Callable[[str], None]
Bounded = Callable[[Callable[[], Any]], Any]
# raw key of RPT_F10_FINANCE_MAINFINADATA → FinancialReport field
FINANCIAL_KEYS = {
    "EPSJB": "eps", "ROEJQ": "roe", "TOTALOPERATEREVE": "revenue",
    "PARENTNETPROFIT": "net_profit", "TOTALOPERATEREVETZ": "revenue_yoy",
    "PARENTNETPROFITTZ": "net_profit_yoy", "XSMLL": "gross_margin", "ZCFZL": "debt_ratio",
}  # fmt: skip


def _akshare() -> Any:
    return importlib.import_module("akshare")


def _empty_on(message: str, call: Callable[[], Any]) -> Callable[[], Any]:
    """``call``, answering None where akshare crashes with ``message`` on an empty reply."""

    def run() -> Any:
        try:
            return call()
        except (TypeError, ValueError) as exc:
            if message in str(exc):
                return None
            raise

    return run


# -- corporate actions -----------------------------------------------------------------------
def fetch_actions_frame(code: str, admit: Admit, bounded: Bounded) -> pd.DataFrame | None:
    """``stock_fhps_detail_em``'s frame of ``code`` (None: eastmoney has no row), each request
    paid for: the first before the call, the N pages it then re-reads after it."""
    ak = _akshare()
    admit("stock_fhps_detail_em")
    frame = bounded(_empty_on(_NO_RESULT, lambda: ak.stock_fhps_detail_em(symbol=code[:6])))
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"unexpected reply {type(frame).__name__}")
    for _ in range(max(1, math.ceil(len(frame) / FHPS_PAGE_ROWS))):
        admit("stock_fhps_detail_em")
    return frame


def actions(frame: pd.DataFrame, code: str, start: dt.date, end: dt.date) -> list[CorporateAction]:
    """The implemented actions with an ex-date in [start, end], per share (÷ 10); plans (no
    ex-date) and rows with neither cash nor shares left out; one row per ex-date."""
    names = ("除权除息日", "现金分红-现金分红比例", "送转股份-送股比例", "送转股份-转股比例",
             "股权登记日", "最新公告日期", "报告期")  # fmt: skip
    found: dict[dt.date, CorporateAction] = {}
    for ex, cash, bonus, transfer, record, notice, period in zip(
        *(frames.column(frame, name) for name in names), strict=True
    ):
        ex_date = _date(ex)
        if ex_date is None or not start <= ex_date <= end:
            continue  # a plan not (yet) implemented, or out of range
        action = CorporateAction(
            code=code,
            ex_date=ex_date,
            cash_div=_per_share(cash),
            bonus_ratio=_per_share(bonus),
            transfer_ratio=_per_share(transfer),
            record_date=_date(record),
            announce_date=_date(notice),
            report_period=_date(period),
        )
        if not (action.cash_div or action.bonus_ratio or action.transfer_ratio):
            continue
        same = found.get(ex_date)
        if same is not None:  # two plans implemented on one ex-date: one action
            action = CorporateAction(
                code=code,
                ex_date=ex_date,
                cash_div=round(same.cash_div + action.cash_div, 6),
                bonus_ratio=round(same.bonus_ratio + action.bonus_ratio, 6),
                transfer_ratio=round(same.transfer_ratio + action.transfer_ratio, 6),
                record_date=same.record_date or action.record_date,
                announce_date=max(
                    filter(None, (same.announce_date, action.announce_date)), default=None
                ),
                report_period=same.report_period or action.report_period,
            )
        found[ex_date] = action
    return [found[day] for day in sorted(found)]


def _per_share(per_10: Any) -> float:
    value = _number(per_10)
    if value is None:
        return 0.0
    if value < 0:
        raise ValueError(f"negative ratio {value}")
    return round(value / PER_10, 6)


# -- profile ---------------------------------------------------------------------------------
def fetch_profile_frame(code: str, admit: Admit, timeout_s: float) -> pd.DataFrame | None:
    """``stock_individual_info_em``'s item/value frame of ``code`` (None: ``data`` null)."""
    ak = _akshare()
    admit("stock_individual_info_em")
    frame = _empty_on(
        _NO_QUOTE, lambda: ak.stock_individual_info_em(symbol=code[:6], timeout=timeout_s)
    )()
    if frame is not None and not isinstance(frame, pd.DataFrame):
        raise TypeError(f"unexpected reply {type(frame).__name__}")
    return frame


def profile(frame: pd.DataFrame, code: str, day: dt.date) -> StockProfile:
    """The snapshot as a profile row dated ``day`` (the day it was asked)."""
    items: Mapping[Any, Any] = dict(
        zip(frames.column(frame, "item"), frames.column(frame, "value"), strict=True)
    )
    name = _text(items.get("股票简称"))
    industry = _text(items.get("行业"))
    return StockProfile(
        code=code,
        valid_from=day,
        name=name,
        is_st=None if name is None else name.upper().startswith(ST_PREFIXES),
        industry=industry,
        industry_scheme=INDUSTRY_SCHEME if industry is not None else None,
        total_shares=_number(items.get("总股本")),
        float_shares=_number(items.get("流通股")),
    )


# -- financials ------------------------------------------------------------------------------
def fetch_financials_frame(code: str, admit: Admit, bounded: Bounded) -> pd.DataFrame | None:
    """``stock_financial_analysis_indicator_em``'s raw rows of ``code`` by report period
    (None: eastmoney has no row)."""
    ak = _akshare()
    admit("stock_financial_analysis_indicator_em")
    frame = bounded(
        _empty_on(
            _NO_RESULT,
            lambda: ak.stock_financial_analysis_indicator_em(symbol=code, indicator="按报告期"),
        )
    )
    if frame is not None and not isinstance(frame, pd.DataFrame):
        raise TypeError(f"unexpected reply {type(frame).__name__}")
    return frame


def financials(
    frame: pd.DataFrame, code: str, start: dt.date, end: dt.date
) -> list[FinancialReport]:
    """One report per period (eastmoney's latest figures) dated within [start, end]."""
    if frame.empty:
        return []
    periods = frames.column(frame, "REPORT_DATE")
    notices = _optional_column(frame, "NOTICE_DATE")
    updates = _optional_column(frame, "UPDATE_DATE")
    figures = {key: _optional_column(frame, key) for key in FINANCIAL_KEYS}
    found: list[FinancialReport] = []
    for i, raw_period in enumerate(periods):
        period = frames.day_of(raw_period)
        if not is_quarter_end(period):
            continue
        notice, update = _date(notices[i]), _date(updates[i])
        estimated = notice is None
        announced = statutory_deadline(period) if notice is None else max(notice, update or notice)
        if not start <= announced <= end:
            continue
        values = {field: _number(figures[key][i]) for key, field in FINANCIAL_KEYS.items()}
        found.append(FinancialReport(code=code, report_period=period, announce_date=announced,
                                     announce_estimated=estimated, **values))  # fmt: skip
    return sorted(found, key=lambda r: (r.announce_date, r.report_period))


def _optional_column(frame: pd.DataFrame, name: str) -> list[Any]:
    return frames.column(frame, name) if name in frame.columns else [None] * len(frame)


# -- cells -----------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """A numeric cell; None for eastmoney's null, ``-`` or NaN."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "-", "--")):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text if text and text != "-" else None


def _date(value: Any) -> dt.date | None:
    """A date cell (a date, ``YYYY-MM-DD 00:00:00`` text); None for null / NaT."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return frames.day_of(value)
