"""eastmoney's stock-event endpoints for :mod:`fake_eastmoney`, serving the simulated market's
truth in the forms akshare 1.19.5 reads (see ``stocksync/sources/akshare/events.py``):

- ``datacenter-web.eastmoney.com/api/data/v1/get``, ``reportName=RPT_SHAREBONUS_DET``,
  ``filter=(SECURITY_CODE="300073")``: every action of the stock as an implemented plan, plus
  plan rows that have no ex-date (one pending 董事会预案, one 停止实施), newest report period
  first, :attr:`EventEndpoints.page_rows` rows a page (``pageSize``, 500 as akshare asks; a test
  may lower the cap to make several pages), ``{"version", "result": {"pages", "data",
  "count"}, "success", "message", "code"}``; the 30 keys in eastmoney's order (akshare renames
  them by position), ratios **per 10 shares** (``BONUS_IT_RATIO`` = 送 + 转), dates
  ``YYYY-MM-DD 00:00:00``. A stock without a row gets ``"result": null`` (code 9201).
- ``push2.eastmoney.com/api/qt/stock/get`` (``secid`` 1. for 6xxxxx, else 0., as akshare sends
  it): ``rc, rt, svr, lt, full, dlmkts`` beside ``data``; ``data`` carries each requested field
  (``-`` where the simulation has nothing), f58 name, f84/f85 total/float shares, f127 industry,
  the truth as of today. An unknown ``secid`` gets ``"data": null``.
- ``datacenter.eastmoney.com/securities/api/data/get``, ``type=RPT_F10_FINANCE_MAINFINADATA``,
  ``filter=(SECUCODE="600004.SH")``: one row per report period (its latest truth version, as
  eastmoney keeps one), ``NOTICE_DATE`` the first version's announcement and ``UPDATE_DATE`` the
  latest's, newest first, at most ``ps`` rows; no row → ``"result": null``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from urllib.parse import unquote

from stocksync.domain import Board, CorporateAction, FinancialReport, StockProfile
from stocksync.sim import SimMarket

DATACENTER_WEB = "datacenter-web.eastmoney.com"
DATACENTER = "datacenter.eastmoney.com"
QUOTE_HOST = "push2.eastmoney.com"
HOSTS = (DATACENTER_WEB, DATACENTER, QUOTE_HOST)
BONUS_PATH = "/api/data/v1/get"
QUOTE_PATH = "/api/qt/stock/get"
FINANCE_PATH = "/securities/api/data/get"
HISTORY = (dt.date(1990, 1, 1), dt.date(2026, 12, 31))
JSON = "application/json; charset=UTF-8"
_EMPTY = {"version": None, "result": None, "success": False, "message": "返回数据为空",
          "code": 9201}  # fmt: skip


def stamp(day: dt.date | None) -> str | None:
    return None if day is None else f"{day.isoformat()} 00:00:00"


class EventEndpoints:
    """The three endpoints over ``market``; see the module docstring."""

    def __init__(self, market: SimMarket) -> None:
        self.market = market
        self.page_rows = 500  # the datacenter's page cap
        self._securities = {s.code[:6]: s for s in market.securities()}

    def reset(self) -> None:
        self.page_rows = 500

    def serves(self, host: str, path: str) -> bool:
        return (host, path) in (
            (DATACENTER_WEB, BONUS_PATH), (QUOTE_HOST, QUOTE_PATH), (DATACENTER, FINANCE_PATH),
        )  # fmt: skip

    def route(self, host: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        if host == DATACENTER_WEB:
            return self.share_bonus(params)
        if host == QUOTE_HOST:
            return self.quote(params)
        return self.main_indicators(params)

    # -- 分红送配 -------------------------------------------------------------------------------
    def share_bonus(self, params: dict[str, str]) -> dict[str, Any]:
        digits = _filtered(params.get("filter", ""), "SECURITY_CODE")
        security = self._securities.get(digits or "")
        if params.get("reportName") != "RPT_SHAREBONUS_DET" or security is None:
            return dict(_EMPTY)
        actions = self.market.corporate_actions(security.code, *HISTORY)
        rows = [self._bonus_row(security.code, security.name, a) for a in actions]
        if actions:
            rows += self._plans(security.code, security.name, actions[0])
        if not rows:
            return dict(_EMPTY)
        rows.sort(key=lambda r: r["REPORT_DATE"], reverse=True)  # sortTypes=-1
        size = max(1, min(int(params.get("pageSize") or 50), self.page_rows))
        page = max(1, int(params.get("pageNumber") or 1))
        pages = math.ceil(len(rows) / size)
        data = rows[(page - 1) * size : page * size]
        return {"version": "7f1f9c0e", "result": {"pages": pages, "data": data,
                "count": len(rows)}, "success": True, "message": "ok", "code": 0}  # fmt: skip

    def _bonus_row(self, code: str, name: str, action: CorporateAction) -> dict[str, Any]:
        announced = action.announce_date or action.ex_date
        return bonus_row(
            code, name,
            bonus=action.bonus_ratio * 10, transfer=action.transfer_ratio * 10,
            cash=action.cash_div * 10, report_date=action.report_period,
            plan_notice=announced - dt.timedelta(days=70),
            publish=announced - dt.timedelta(days=40),
            record=action.record_date, ex=action.ex_date, notice=announced,
            progress="实施分配",
        )  # fmt: skip

    def _plans(self, code: str, name: str, first: CorporateAction) -> list[dict[str, Any]]:
        """A pending board plan and a plan that was stopped: neither has an ex-date."""
        start = first.announce_date or first.ex_date
        return [
            bonus_row(code, name, bonus=0.0, transfer=3.0, cash=1.5,
                      report_date=dt.date(2026, 6, 30), plan_notice=dt.date(2026, 8, 20),
                      publish=dt.date(2026, 8, 20), record=None, ex=None,
                      notice=dt.date(2026, 8, 20), progress="董事会预案"),
            bonus_row(code, name, bonus=2.0, transfer=0.0, cash=0.8,
                      report_date=dt.date(start.year, 6, 30),
                      plan_notice=dt.date(start.year, 8, 25), publish=dt.date(start.year, 8, 25),
                      record=None, ex=None, notice=dt.date(start.year, 10, 12),
                      progress="停止实施"),
        ]  # fmt: skip

    # -- 个股信息 -------------------------------------------------------------------------------
    def quote(self, params: dict[str, str]) -> dict[str, Any]:
        reply: dict[str, Any] = {"rc": 0, "rt": 4, "svr": 181735269, "lt": 1, "full": 1,
                                 "dlmkts": "", "data": None}  # fmt: skip
        market_id, _, digits = params.get("secid", "").partition(".")
        security = self._securities.get(digits)
        if security is None or market_id != ("1" if digits.startswith("6") else "0"):
            return reply
        today = dt.date.today()
        now = _as_of(self.market.profiles(security.code, *HISTORY), today)
        if now is None:
            return reply
        bars = self.market.bars_for_code(security.code, today - dt.timedelta(days=20),
                                         min(today, HISTORY[1]))  # fmt: skip
        close = bars[-1].close if bars else "-"
        known: dict[int, Any] = {
            43: close, 57: digits, 58: now.name, 84: now.total_shares, 85: now.float_shares,
            116: round(close * now.total_shares, 2) if bars and now.total_shares else "-",
            117: round(close * now.float_shares, 2) if bars and now.float_shares else "-",
            127: now.industry, 189: int(security.list_date.strftime("%Y%m%d")),
        }  # fmt: skip
        wanted = sorted(
            {int(f[1:]) for f in params.get("fields", "").split(",") if f[1:].isdigit()}
        )
        reply["data"] = {f"f{n}": known.get(n, "-") for n in wanted}
        return reply

    # -- 主要指标 -------------------------------------------------------------------------------
    def main_indicators(self, params: dict[str, str]) -> dict[str, Any]:
        secucode = _filtered(params.get("filter", ""), "SECUCODE") or ""
        security = self._securities.get(secucode[:6])
        if (
            params.get("type") != "RPT_F10_FINANCE_MAINFINADATA"
            or security is None
            or security.code != secucode
        ):
            return dict(_EMPTY)
        versions = self.market.financials(security.code, *HISTORY)
        first: dict[dt.date, FinancialReport] = {}
        latest: dict[dt.date, FinancialReport] = {}
        for report in versions:  # sorted by announcement
            first.setdefault(report.report_period, report)
            latest[report.report_period] = report
        if not latest:
            return dict(_EMPTY)
        periods = sorted(latest, reverse=True)[: max(1, int(params.get("ps") or 200))]
        data = [main_row(security.code, security.name, security.board, latest[p],
                         first[p].announce_date) for p in periods]  # fmt: skip
        return {"version": None, "result": {"pages": 1, "data": data, "count": len(data)},
                "success": True, "message": "ok", "code": 0}  # fmt: skip


def bonus_row(
    code: str, name: str, *, bonus: float, transfer: float, cash: float,
    report_date: dt.date | None, plan_notice: dt.date, publish: dt.date,
    record: dt.date | None, ex: dt.date | None, notice: dt.date, progress: str,
) -> dict[str, Any]:  # fmt: skip
    """One RPT_SHAREBONUS_DET row, keys in eastmoney's order, ratios per 10 shares."""
    shares = round(bonus + transfer, 6)
    plan = "10" + (f"送{bonus:g}" if bonus else "") + (f"转{transfer:g}" if transfer else "") + (
        f"派{cash:.2f}元(含税)" if cash else "")  # fmt: skip
    digits = code[:6]
    return {
        "SECUCODE": code,
        "SECURITY_NAME_ABBR": name,
        "SECURITY_INNER_CODE": f"10{digits}0",
        "ORG_CODE": f"1{digits}",
        "SECURITY_CODE": digits,
        "BONUS_IT_RATIO": shares or None,  # 送转总比例: 送 + 转
        "BONUS_RATIO": round(bonus, 6) or None,
        "IT_RATIO": round(transfer, 6) or None,
        "PRETAX_BONUS_RMB": round(cash, 6) or None,
        "PLAN_NOTICE_DATE": stamp(plan_notice),
        "EQUITY_RECORD_DATE": stamp(record),
        "EX_DIVIDEND_DATE": stamp(ex),
        "REPORT_DATE": stamp(report_date),
        "ASSIGN_PROGRESS": progress,
        "IMPL_PLAN_PROFILE": plan,
        "NOTICE_DATE": stamp(notice),
        "MARKET_TYPE": {"SH": "沪市", "SZ": "深市", "BJ": "京市"}[code[-2:]],
        "EX_DIVIDEND_DAYS": None if ex is None else (dt.date(2026, 12, 31) - ex).days,
        "IS_KCB": "1" if digits.startswith("688") else "0",
        "BASIC_EPS": 0.52,
        "BVPS": 6.31,
        "PER_CAPITAL_RESERVE": 1.87,
        "PER_UNASSIGN_PROFIT": 2.04,
        "PNP_YOY_RATIO": 12.5,
        "TOTAL_SHARES": 1_000_000_000,
        "PUBLISH_DATE": stamp(publish),
        "DIVIDENT_RATIO": round(cash / 10 / 20, 6) if cash else None,  # a fraction, not %
        "D10_CLOSE_ADJCHRATE": None,
        "BD10_CLOSE_ADJCHRATE": None,
        "D30_CLOSE_ADJCHRATE": None,
    }


def main_row(
    code: str, name: str, board: Board, report: FinancialReport, first_notice: dt.date
) -> dict[str, Any]:
    """One RPT_F10_FINANCE_MAINFINADATA row (raw keys; akshare does not rename them)."""
    period = report.report_period
    kind = {3: "一季报", 6: "中报", 9: "三季报", 12: "年报"}[period.month]
    return {
        "SECUCODE": code, "SECURITY_CODE": code[:6], "SECURITY_NAME_ABBR": name,
        "ORG_CODE": f"1{code[:6]}", "ORG_TYPE": "通用", "REPORT_DATE": stamp(period),
        "REPORT_TYPE": kind, "REPORT_DATE_NAME": f"{period.year}{kind}",
        "SECURITY_TYPE_CODE": "058001008" if board is Board.STAR else "058001001",
        "NOTICE_DATE": stamp(first_notice), "UPDATE_DATE": stamp(report.announce_date),
        "CURRENCY": "CNY", "EPSJB": report.eps, "EPSKCJB": report.eps, "EPSXS": report.eps,
        "BPS": None, "MGZBGJ": None, "MGWFPLR": None, "MGJYXJJE": None,
        "TOTALOPERATEREVE": report.revenue, "MLR": None, "PARENTNETPROFIT": report.net_profit,
        "KCFJCXSYJLR": report.net_profit, "TOTALOPERATEREVETZ": report.revenue_yoy,
        "PARENTNETPROFITTZ": report.net_profit_yoy, "KCFJCXSYJLRTZ": report.net_profit_yoy,
        "YYZSRGDHBZC": None, "NETPROFITRPHBZC": None, "KFJLRGDHBZC": None,
        "ROEJQ": report.roe, "ROEKCJQ": report.roe, "ZZCJLL": None, "XSJLL": None,
        "XSMLL": report.gross_margin, "YSZKYYSR": None, "XSJXLYYSR": None, "JYXJLYYSR": None,
        "TAXRATE": None, "LD": None, "SD": None, "XJLLB": None, "ZCFZL": report.debt_ratio,
        "QYCS": None, "CQBL": None, "ZZCZZTS": None, "CHZZTS": None, "YSZKZZTS": None,
        "TOAZZL": None, "CHZZL": None, "YSZKZZL": None,
    }  # fmt: skip


def _filtered(text: str, key: str) -> str | None:
    """The value of ``(KEY="value")`` in a datacenter filter."""
    text = unquote(text)
    head = f'({key}="'
    at = text.find(head)
    if at < 0:
        return None
    rest = text[at + len(head) :]
    return rest.split('"', 1)[0]


def _as_of(rows: list[StockProfile], day: dt.date) -> StockProfile | None:
    found = None
    for row in rows:
        if row.valid_from <= day:
            found = row
    return found
