"""The fake baostock server's stock-event queries: dividends, industry, quarterly reports.

Read off ``baostock/evaluation/season_index.py`` and ``baostock/security/sectorinfo.py`` (0.9.4);
:mod:`fake_baostock` dispatches these message types here and frames the replies (not compressed):

- ``query_dividend_data`` (13→14): request tail ``code, year, yearType``; reply echoes ``code,
  year, yearType`` and the fields below. ``operate`` picks the actions whose ex-date
  (``dividOperateDate``) falls in ``year``, ``report`` those whose plan (``dividPlanAnnounceDate``)
  was announced in it; a plan not yet implemented by the server's today has only its plan date and
  text. Per-share amounts are 6-decimal strings, ``""`` where there is none (no cash: no pay date;
  no shares: no listing date of the new shares). ``dividCashPsAfterTax`` is text, sometimes with two
  tax rates (``0.6813或0.71915``), and ``dividCashStock`` the plan per 10 shares
  (``10转1派5.15元（含税，扣税后4.635或5.15元）``): neither is a number to read.
- ``query_stock_industry`` (59→60): request tail ``code, date`` (``""``: today); reply echoes
  ``code, date``; fields ``updateDate, code, code_name, industry, industryClassification``. baostock
  updates weekly: ``updateDate`` is the Monday on or before the date, and the row is the weekly
  snapshot of that Monday (the stock's name and industry then); a stock not listed that Monday has
  no row.
- ``query_profit_data`` / ``query_growth_data`` / ``query_balance_data`` (17/21/25→+1): request tail
  ``code, year, quarter``; reply echoes them; one row, fields ``code, pubDate, statDate, …``. baostock
  keeps one version of a period (no revision history): the latest version announced by the
  server's today, dated by its own announcement (``pubDate``). Ratios are fractions (6 decimals),
  money in yuan, shares in shares; nothing before 2007; a period not yet published is an empty
  reply. Banks (the truth's industry 银行) have no gross margin or liquidity ratios: ``""``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import fake_baostock as wire  # type: ignore[import-not-found]

from stocksync.domain import CorporateAction, FinancialReport, StockProfile
from stocksync.sim import SimMarket
from stocksync.sim.calendar import CALENDAR_END
from stocksync.sim.events import unit_hash

if TYPE_CHECKING:
    from fake_baostock import FakeBaostockServer, Request  # type: ignore[import-not-found]

DIVIDEND_FIELDS = (
    "code", "dividPreNoticeDate", "dividAgmPumDate", "dividPlanAnnounceDate", "dividPlanDate",
    "dividRegistDate", "dividOperateDate", "dividPayDate", "dividStockMarketDate",
    "dividCashPsBeforeTax", "dividCashPsAfterTax", "dividStocksPs", "dividCashStock",
    "dividReserveToStockPs",
)  # fmt: skip
INDUSTRY_FIELDS = ("updateDate", "code", "code_name", "industry", "industryClassification")
CSRC = "证监会行业分类"
PROFIT_FIELDS = ("code", "pubDate", "statDate", "roeAvg", "npMargin", "gpMargin", "netProfit",
                 "epsTTM", "MBRevenue", "totalShare", "liqaShare")  # fmt: skip
GROWTH_FIELDS = ("code", "pubDate", "statDate", "YOYEquity", "YOYAsset", "YOYNI", "YOYEPSBasic",
                 "YOYPNI")  # fmt: skip
BALANCE_FIELDS = ("code", "pubDate", "statDate", "currentRatio", "quickRatio", "cashRatio",
                  "YOYLiability", "liabilityToAsset", "assetToEquity")  # fmt: skip
FIRST_REPORT_YEAR = 2007  # baostock's quarterly data begin here
BANK = "银行"
EVER = (dt.date(1990, 1, 1), CALENDAR_END)
QUARTER_END = {1: (3, 31), 2: (6, 30), 3: (9, 30), 4: (12, 31)}


def server_today(today: dt.date | None) -> dt.date:
    """The day the server takes for today: ``today`` when set, else the real one (at most the
    calendar's end)."""
    return today or min(dt.date.today(), CALENDAR_END)


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def profile_on(market: SimMarket, code: str, day: dt.date) -> StockProfile | None:
    """The truth's profile of ``code`` in force on ``day`` (None before its listing)."""
    rows = _profiles(market, code)
    found = [p for p in rows if p.valid_from <= day]
    return found[-1] if found else None


def is_bank(market: SimMarket, code: str, day: dt.date) -> bool:
    """Whether ``code`` is a bank on ``day`` in the truth: baostock has no gross margin for it."""
    profile = profile_on(market, code, day)
    return profile is not None and profile.industry == BANK


def latest_versions(market: SimMarket, code: str, today: dt.date) -> dict[dt.date, FinancialReport]:
    """The one version of each report period baostock keeps: the latest announced by ``today``,
    from 2007 on."""
    found: dict[dt.date, FinancialReport] = {}
    for report in _reports(market, code):
        if report.announce_date <= today and report.report_period.year >= FIRST_REPORT_YEAR:
            found[report.report_period] = report  # announcement order: the later one wins
    return found


@functools.cache
def _profiles(market: SimMarket, code: str) -> list[StockProfile]:
    return market.profiles(code, *EVER)


@functools.cache
def _reports(market: SimMarket, code: str) -> list[FinancialReport]:
    return market.financials(code, *EVER)


@functools.cache
def _actions(market: SimMarket, code: str) -> list[CorporateAction]:
    return market.corporate_actions(code, *EVER)


def _fraction(percent: float | None) -> str:
    return "" if percent is None else f"{percent / 100:.6f}"


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _short(value: float) -> str:
    """A number as baostock's plan texts write it: no trailing zeros (``5.15``, ``10``)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


# -- dividends ---------------------------------------------------------------------------------
def plan_announced(action: CorporateAction) -> dt.date:
    """When the plan behind ``action`` was announced (the truth has only the implementation's
    announcement): seven weeks before it."""
    assert action.announce_date is not None
    return action.announce_date - dt.timedelta(days=49)


def plan_text(seed: int, action: CorporateAction) -> str:
    """``dividCashStock``: the plan per 10 shares, as baostock writes it."""
    text = "10"
    if action.bonus_ratio:
        text += f"送{_short(action.bonus_ratio * 10)}"
    if action.transfer_ratio:
        text += f"转{_short(action.transfer_ratio * 10)}"
    if action.cash_div:
        cash = action.cash_div * 10
        text += f"派{_short(cash)}元（含税，扣税后{_short(cash * 0.9)}或{_short(cash)}元）"
    return text


def after_tax(seed: int, action: CorporateAction) -> str:
    """``dividCashPsAfterTax``: one figure, or two (two tax rates) joined by 或."""
    cash = action.cash_div
    if not cash:
        return ""
    if unit_hash(seed, action.code, action.ex_date, "after-tax") < 0.5:
        return f"{_short(cash * 0.9)}或{_short(cash * 0.95)}"
    return _short(cash * 0.9)


def dividend_row(seed: int, action: CorporateAction, today: dt.date) -> list[str]:
    """One ``query_dividend_data`` row of ``action``; only the plan when it is not implemented
    (announced) by ``today``."""
    assert action.announce_date is not None
    plan = plan_announced(action)
    done = action.announce_date <= today
    shares = action.bonus_ratio + action.transfer_ratio
    values = {
        "code": wire.bs_code(action.code),
        "dividPreNoticeDate": "",
        "dividAgmPumDate": _day(action.announce_date - dt.timedelta(days=21)) if done else "",
        "dividPlanAnnounceDate": plan.isoformat(),
        "dividPlanDate": _day(action.announce_date) if done else "",
        "dividRegistDate": _day(action.record_date) if done else "",
        "dividOperateDate": action.ex_date.isoformat() if done else "",
        "dividPayDate": _day(action.pay_date) if done else "",
        "dividStockMarketDate": action.ex_date.isoformat() if done and shares else "",
        "dividCashPsBeforeTax": _money(action.cash_div) if action.cash_div else "",
        "dividCashPsAfterTax": after_tax(seed, action),
        "dividStocksPs": _money(action.bonus_ratio) if action.bonus_ratio else "",
        "dividCashStock": plan_text(seed, action),
        "dividReserveToStockPs": _money(action.transfer_ratio) if action.transfer_ratio else "",
    }
    return [values[f] for f in DIVIDEND_FIELDS]


def _dividends(server: FakeBaostockServer, request: Request, reply_type: str, garbage: bool
               ) -> bytes:  # fmt: skip
    method, user, page, size, code, year, year_type = wire._fields(request, 7)
    if method != "query_dividend_data" or not year.isdigit():
        raise wire.Refused(wire.PARAM_ERR, "参数错误")
    if year_type not in ("report", "operate"):
        raise wire.Refused(wire.PARAM_ERR, "年份类别输入有误")
    today = server_today(server.today)
    rows = []
    key = wire.canonical(code)
    if server._knows(key):
        for action in _actions(server.market, key):
            if plan_announced(action) > today:
                continue
            done = action.announce_date is not None and action.announce_date <= today
            if year_type == "operate" and not (done and action.ex_date.year == int(year)):
                continue
            if year_type == "report" and plan_announced(action).year != int(year):
                continue
            rows.append(dividend_row(server.market.seed, action, today))
    return wire._page(reply_type, method, user, page, size, rows,
                      [code, year, year_type, ",".join(DIVIDEND_FIELDS)])  # fmt: skip


# -- industry ----------------------------------------------------------------------------------
def _industry(server: FakeBaostockServer, request: Request, reply_type: str, garbage: bool
              ) -> bytes:  # fmt: skip
    method, user, page, size, code, date = wire._fields(request, 6)
    if method != "query_stock_industry":
        raise wire.Refused(wire.MESSAGE_ERROR, "消息格式不正确")
    day = wire._dates(date, date)[0] if date else server_today(server.today)
    monday = monday_of(day)
    wanted = [wire.canonical(code)] if code else [s.code for s in server.market.securities()]
    rows = []
    for key in wanted:
        if not server._knows(key) or key.endswith(".BJ"):
            continue
        security = server.market.security(key)
        profile = profile_on(server.market, key, monday)
        if profile is None or not security.is_listed_on(monday):
            continue
        rows.append([monday.isoformat(), wire.bs_code(key), profile.name or "",
                     profile.industry or "", CSRC])  # fmt: skip
    return wire._page(reply_type, method, user, page, size, rows,
                      [code, date, ",".join(INDUSTRY_FIELDS)])  # fmt: skip


# -- quarterly reports -------------------------------------------------------------------------
def _shares(market: SimMarket, code: str, day: dt.date) -> tuple[str, str]:
    profile = profile_on(market, code, day)
    if profile is None or profile.total_shares is None:
        return "", ""
    return _money(profile.total_shares), _money(profile.float_shares)


def _eps_ttm(versions: dict[dt.date, FinancialReport], report: FinancialReport) -> str:
    """Trailing-twelve-month eps: this year to date, plus last year's annual, less last year to
    the same quarter (empty without those)."""
    period = report.report_period
    if period.month == 12:
        return _money(report.eps)
    annual = versions.get(dt.date(period.year - 1, 12, 31))
    before = versions.get(period.replace(year=period.year - 1))
    if report.eps is None or annual is None or before is None:
        return ""
    if annual.eps is None or before.eps is None:
        return ""
    return f"{report.eps + annual.eps - before.eps:.6f}"


def _hashed(seed: int, code: str, period: dt.date, what: str, low: float, span: float) -> str:
    """A figure the truth does not have (baostock sends it; no adapter reads it)."""
    return f"{low + span * unit_hash(seed, code, what, period):.6f}"


def _profit(market: SimMarket, report: FinancialReport, versions: dict[dt.date, FinancialReport],
            bank: bool) -> dict[str, str]:  # fmt: skip
    total, floating = _shares(market, report.code, report.report_period)
    margin = None
    if report.revenue and report.net_profit is not None:
        margin = report.net_profit / report.revenue * 100
    return {
        "roeAvg": _fraction(report.roe), "npMargin": _fraction(margin),
        "gpMargin": "" if bank else _fraction(report.gross_margin),
        "netProfit": _money(report.net_profit), "epsTTM": _eps_ttm(versions, report),
        "MBRevenue": _money(report.revenue), "totalShare": total, "liqaShare": floating,
    }  # fmt: skip


def _growth(market: SimMarket, report: FinancialReport, versions: dict[dt.date, FinancialReport],
            bank: bool) -> dict[str, str]:  # fmt: skip
    seed, code, period = market.seed, report.code, report.report_period
    yoy = _fraction(report.net_profit_yoy)
    return {
        "YOYEquity": _hashed(seed, code, period, "yoy-equity", -0.1, 0.4),
        "YOYAsset": _hashed(seed, code, period, "yoy-asset", -0.1, 0.4),
        "YOYNI": yoy, "YOYEPSBasic": yoy, "YOYPNI": yoy,
    }  # fmt: skip


def _balance(market: SimMarket, report: FinancialReport, versions: dict[dt.date, FinancialReport],
             bank: bool) -> dict[str, str]:  # fmt: skip
    seed, code, period = market.seed, report.code, report.report_period
    debt = report.debt_ratio
    return {
        "currentRatio": "" if bank else _hashed(seed, code, period, "current", 0.8, 2.0),
        "quickRatio": "" if bank else _hashed(seed, code, period, "quick", 0.5, 1.5),
        "cashRatio": "" if bank else _hashed(seed, code, period, "cash", 0.1, 1.0),
        "YOYLiability": _hashed(seed, code, period, "yoy-liability", -0.1, 0.4),
        "liabilityToAsset": _fraction(debt),
        "assetToEquity": "" if debt is None or debt >= 100 else f"{100 / (100 - debt):.6f}",
    }  # fmt: skip


Figures = Callable[[SimMarket, FinancialReport, dict[dt.date, FinancialReport], bool],
                   dict[str, str]]  # fmt: skip
SEASON_QUERIES: dict[str, tuple[str, tuple[str, ...], Figures]] = {
    "17": ("query_profit_data", PROFIT_FIELDS, _profit),
    "21": ("query_growth_data", GROWTH_FIELDS, _growth),
    "25": ("query_balance_data", BALANCE_FIELDS, _balance),
}


def _season(server: FakeBaostockServer, request: Request, reply_type: str, garbage: bool
            ) -> bytes:  # fmt: skip
    method, user, page, size, code, year, quarter = wire._fields(request, 7)
    expected, fields, figures = SEASON_QUERIES[request.msg_type]
    if method != expected or not year.isdigit() or quarter not in ("1", "2", "3", "4"):
        raise wire.Refused(wire.PARAM_ERR, "参数错误")
    rows = []
    key = wire.canonical(code)
    if server._knows(key):
        period = dt.date(int(year), *QUARTER_END[int(quarter)])
        versions = latest_versions(server.market, key, server_today(server.today))
        report = versions.get(period)
        if report is not None:
            bank = is_bank(server.market, key, period)
            values = {"code": code, "pubDate": report.announce_date.isoformat(),
                      "statDate": period.isoformat(),
                      **figures(server.market, report, versions, bank)}  # fmt: skip
            rows.append([values[f] for f in fields])
    return wire._page(reply_type, method, user, page, size, rows,
                      [code, year, quarter, ",".join(fields)])  # fmt: skip


QUERIES: dict[str, Callable[[FakeBaostockServer, Request, str, bool], bytes]] = {
    "13": _dividends,
    "59": _industry,
    "17": _season,
    "21": _season,
    "25": _season,
}
