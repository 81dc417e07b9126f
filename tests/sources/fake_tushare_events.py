"""The stock-event endpoints of the fake tushare server (see ``fake_tushare.py``): the simulated
market's corporate actions, profiles and quarterly reports in tushare's wire forms.

- ``dividend`` (by ``ts_code``, or ``ann_date`` / ``record_date`` / ``ex_date`` /
  ``imp_ann_date`` with it): every truth action as three rows, newest period first — 实施 (with
  ``imp_ann_date``, the truth's announcement), 股东大会通过 and 预案 (no record, ex- or pay
  date); ``ann_date`` is the plan's announcement, 45 days before the implementation's. Per share: ``cash_div_tax`` before tax (the truth),
  ``cash_div`` after a 10 % tax, ``stk_bo_rate`` / ``stk_co_rate`` (null when none) and their sum
  ``stk_div``. Every other action (the first, third, … of a stock) also has the duplicate 实施
  row of waditu/tushare #1133/#1271/#1900, sent first: an older copy flagged ``update_flag`` 0
  without its pay date and implementation announcement. ``update_flag``, ``base_date`` and
  ``base_share`` are shown only when named.
- ``namechange`` (``ts_code``; ``start_date``/``end_date`` filter ``ann_date``): one row per
  name the truth gave the stock, ``start_date`` the day it took effect, ``end_date`` the day
  before the next (None for the current one), ``ann_date`` three days before it took effect
  (the listing name: the listing day), ``change_reason`` ST / \\*ST / 撤销ST / 撤销\\*ST / 摘星;
  every ST change comes twice, the copy with ``end_date`` None (the quirk tushare has).
- ``fina_indicator`` (``ts_code``; ``start_date``/``end_date`` filter the report period
  ``end_date``; ``period``, ``ann_date``) and ``income`` (``ts_code``; ``start_date``/
  ``end_date`` filter ``ann_date``; ``period``, ``f_ann_date``, ``report_type`` default 1): every
  truth version of every report, newest period first, ``update_flag`` 1 for a period's latest
  version and 0 for those it superseded (shown only when named); ratios in percent, amounts in
  yuan. Caps: 100 rows a call for ``fina_indicator``, 500 for ``income``, 2,000 for ``dividend``.
- The truth's share capital for ``daily_basic`` (``total_share`` / ``float_share`` in 万股) and
  today's industry and area for ``stock_basic``, filled in only when those columns are sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from stocksync.domain import CorporateAction, FinancialReport, StockProfile
from stocksync.sim import SimMarket

EVER = (dt.date(1990, 1, 1), dt.date(2026, 12, 31))
BEIJING = dt.timezone(dt.timedelta(hours=8))
DIVIDEND_FIELDS = [
    "ts_code", "end_date", "ann_date", "div_proc", "stk_div", "stk_bo_rate", "stk_co_rate",
    "cash_div", "cash_div_tax", "record_date", "ex_date", "pay_date", "div_listdate",
    "imp_ann_date", "base_date", "base_share", "update_flag",
]  # fmt: skip
NAME_FIELDS = ["ts_code", "name", "start_date", "end_date", "ann_date", "change_reason"]
INDICATOR_FIELDS = [
    "ts_code", "ann_date", "end_date", "eps", "dt_eps", "roe", "grossprofit_margin",
    "debt_to_assets", "or_yoy", "netprofit_yoy", "update_flag",
]  # fmt: skip
INCOME_FIELDS = [
    "ts_code", "ann_date", "f_ann_date", "end_date", "report_type", "comp_type", "basic_eps",
    "total_revenue", "revenue", "n_income", "n_income_attr_p", "update_flag",
]  # fmt: skip
EVENT_HIDDEN = {
    "dividend": frozenset({"update_flag", "base_date", "base_share"}),
    "fina_indicator": frozenset({"update_flag"}),
    "income": frozenset({"update_flag"}),
}
EVENT_CAPS = {"dividend": 2000, "fina_indicator": 100, "income": 500}
PLAN_STAGES = ("股东大会通过", "预案")  # the rows before 实施, latest stage first
PLAN_NOTICE = dt.timedelta(days=45)  # the plan's announcement before the implementation's
AFTER_TAX = 0.9
ST_REASONS = {("", "ST"): "ST", ("", "*ST"): "*ST", ("ST", "*ST"): "*ST", ("*ST", "ST"): "摘星",
              ("ST", ""): "撤销ST", ("*ST", ""): "撤销*ST"}  # fmt: skip

Handler = Callable[[dict[str, Any]], tuple[list[dict[str, Any]], list[str]]]


def ymd(day: dt.date | None) -> str | None:
    return None if day is None else day.strftime("%Y%m%d")


def _day(text: object) -> dt.date | None:
    if not text:
        return None
    s = str(text)
    return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))


def beijing_today() -> dt.date:
    return min(dt.datetime.now(BEIJING).date(), EVER[1])


def _prefix(name: str) -> str:
    return "*ST" if name.startswith("*ST") else "ST" if name.startswith("ST") else ""


class EventWire:
    """The event endpoints over ``market``, each stock's history computed once."""

    def __init__(self, market: SimMarket) -> None:
        self.market = market
        self.today: Callable[[], dt.date] = beijing_today
        self._actions: dict[str, list[CorporateAction]] = {}
        self._profiles: dict[str, list[StockProfile]] = {}
        self._reports: dict[str, list[FinancialReport]] = {}

    def apis(self) -> dict[str, Handler]:
        return {
            "dividend": lambda p: (self._dividends(p), DIVIDEND_FIELDS),
            "namechange": lambda p: (self._names(p), NAME_FIELDS),
            "fina_indicator": lambda p: (self._indicators(p), INDICATOR_FIELDS),
            "income": lambda p: (self._income(p), INCOME_FIELDS),
        }

    # -- the truth, cached ---------------------------------------------------------------
    def actions(self, code: str) -> list[CorporateAction]:
        if code not in self._actions:
            self._actions[code] = self._known(lambda: self.market.corporate_actions(code, *EVER))
        return self._actions[code]

    def profiles(self, code: str) -> list[StockProfile]:
        if code not in self._profiles:
            self._profiles[code] = self._known(lambda: self.market.profiles(code, *EVER))
        return self._profiles[code]

    def reports(self, code: str) -> list[FinancialReport]:
        if code not in self._reports:
            self._reports[code] = self._known(lambda: self.market.financials(code, *EVER))
        return self._reports[code]

    @staticmethod
    def _known(truth: Callable[[], list[Any]]) -> list[Any]:
        try:
            return truth()
        except KeyError:  # tushare answers an unknown ts_code with an empty table
            return []

    def profile_on(self, code: str, day: dt.date) -> StockProfile | None:
        found = [p for p in self.profiles(code) if p.valid_from <= day]
        return found[-1] if found else None

    # -- columns of the older endpoints --------------------------------------------------
    def fill(self, api_name: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
        """Fill in ``daily_basic``'s share capital (万股) and ``stock_basic``'s industry and
        area (as of today) where those columns are sent."""
        if api_name == "daily_basic" and {"total_share", "float_share"} & set(columns):
            for row in rows:
                profile = self.profile_on(row["ts_code"], _day(row["trade_date"]) or EVER[0])
                if profile is not None and profile.total_shares and profile.float_shares:
                    row["total_share"] = profile.total_shares / 10000
                    row["float_share"] = profile.float_shares / 10000
        if api_name == "stock_basic" and {"industry", "area"} & set(columns):
            today = self.today()
            for row in rows:
                profile = self.profile_on(row["ts_code"], today)
                if profile is not None:
                    row["industry"], row["area"] = profile.industry, profile.area

    # -- dividend ------------------------------------------------------------------------
    def _dividends(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        code = str(params.get("ts_code") or "").strip()
        if not code:
            return []
        rows = []
        for i, action in enumerate(self.actions(code)):
            done = _implemented(action)
            if i % 2 == 0:  # the duplicate, older copy first
                rows.append({**done, "pay_date": None, "imp_ann_date": None, "update_flag": "0"})
            rows.append(done)
            for stage in PLAN_STAGES:
                rows.append({**done, "div_proc": stage, "record_date": None, "ex_date": None,
                             "pay_date": None, "div_listdate": None, "imp_ann_date": None,
                             "base_date": None})  # fmt: skip
        for name in ("ann_date", "record_date", "ex_date", "imp_ann_date"):
            if params.get(name):
                rows = [r for r in rows if r[name] == str(params[name])]
        rows.sort(key=lambda r: (r["end_date"], r["ann_date"]), reverse=True)  # stable
        return rows

    # -- namechange ----------------------------------------------------------------------
    def _names(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        code = str(params.get("ts_code") or "").strip()
        runs: list[StockProfile] = []
        for profile in self.profiles(code):
            if not runs or profile.name != runs[-1].name:
                runs.append(profile)
        rows = []
        for i, run in enumerate(runs):
            name = run.name or ""
            following = runs[i + 1].valid_from if i + 1 < len(runs) else None
            reason = None if i == 0 else ST_REASONS.get((_prefix(runs[i - 1].name or ""),
                                                         _prefix(name)), "改名")  # fmt: skip
            row = {
                "ts_code": code,
                "name": name,
                "start_date": ymd(run.valid_from),
                "end_date": ymd(following - dt.timedelta(days=1)) if following else None,
                "ann_date": ymd(run.valid_from - dt.timedelta(days=0 if i == 0 else 3)),
                "change_reason": reason,
            }
            rows.append(row)
            if reason in ST_REASONS.values():
                rows.append({**row, "end_date": None})  # the doubled ST change
        lo, hi = _day(params.get("start_date")), _day(params.get("end_date"))
        rows = [r for r in rows if (lo is None or _day(r["ann_date"]) >= lo)
                and (hi is None or _day(r["ann_date"]) <= hi)]  # fmt: skip
        return rows[::-1]

    # -- reports -------------------------------------------------------------------------
    def _versions(self, params: dict[str, Any]) -> list[tuple[FinancialReport, str]]:
        """Every version of the stock's reports with its ``update_flag``, newest first."""
        code = str(params.get("ts_code") or "").strip()
        reports = self.reports(code)
        latest: dict[dt.date, dt.date] = {}
        for r in reports:
            latest[r.report_period] = max(latest.get(r.report_period, r.announce_date),
                                          r.announce_date)  # fmt: skip
        found = [(r, "1" if latest[r.report_period] == r.announce_date else "0") for r in reports]
        if params.get("period"):
            found = [(r, f) for r, f in found if ymd(r.report_period) == str(params["period"])]
        found.sort(key=lambda v: (v[0].report_period, v[0].announce_date), reverse=True)
        return found

    def _indicators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        lo, hi = _day(params.get("start_date")), _day(params.get("end_date"))
        rows = []
        for r, flag in self._versions(params):
            if (lo and r.report_period < lo) or (hi and r.report_period > hi):
                continue
            if params.get("ann_date") and ymd(r.announce_date) != str(params["ann_date"]):
                continue
            rows.append({
                "ts_code": r.code, "ann_date": ymd(r.announce_date),
                "end_date": ymd(r.report_period), "eps": r.eps, "dt_eps": r.eps, "roe": r.roe,
                "grossprofit_margin": r.gross_margin, "debt_to_assets": r.debt_ratio,
                "or_yoy": r.revenue_yoy, "netprofit_yoy": r.net_profit_yoy, "update_flag": flag,
            })  # fmt: skip
        return rows

    def _income(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if str(params.get("report_type") or "1") != "1":
            return []  # only the consolidated statements are simulated
        lo, hi = _day(params.get("start_date")), _day(params.get("end_date"))
        rows = []
        for r, flag in self._versions(params):
            if (lo and r.announce_date < lo) or (hi and r.announce_date > hi):
                continue
            announced = ymd(r.announce_date)
            if params.get("ann_date") and announced != str(params["ann_date"]):
                continue
            if params.get("f_ann_date") and announced != str(params["f_ann_date"]):
                continue
            rows.append({
                "ts_code": r.code, "ann_date": announced, "f_ann_date": announced,
                "end_date": ymd(r.report_period), "report_type": "1", "comp_type": "1",
                "basic_eps": r.eps, "total_revenue": r.revenue, "revenue": r.revenue,
                "n_income": r.net_profit, "n_income_attr_p": r.net_profit, "update_flag": flag,
            })  # fmt: skip
        return rows


def _implemented(action: CorporateAction) -> dict[str, Any]:
    """The 实施 row of one truth action, flagged latest."""
    shares = action.bonus_ratio + action.transfer_ratio
    announced = action.announce_date
    return {
        "ts_code": action.code,
        "end_date": ymd(action.report_period),
        "ann_date": ymd(announced - PLAN_NOTICE if announced else None),
        "div_proc": "实施",
        "stk_div": round(shares, 6),
        "stk_bo_rate": action.bonus_ratio or None,
        "stk_co_rate": action.transfer_ratio or None,
        "cash_div": round(action.cash_div * AFTER_TAX, 6),
        "cash_div_tax": action.cash_div,
        "record_date": ymd(action.record_date),
        "ex_date": ymd(action.ex_date),
        "pay_date": ymd(action.pay_date),
        "div_listdate": ymd(action.ex_date) if shares else None,
        "imp_ann_date": ymd(announced),
        "base_date": ymd(action.record_date),
        "base_share": None,
        "update_flag": "1",
    }
