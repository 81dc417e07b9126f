"""The nouns of stocksync: periods, statuses, bars, securities and adjustment factors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class Period(StrEnum):
    """Bar period. Weekly and monthly bars are dated on the last trading day of the period;
    minute bars (``5min`` … ``60min``) on the minute their interval ends, Beijing time."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    MIN5 = "5min"
    MIN15 = "15min"
    MIN30 = "30min"
    MIN60 = "60min"

    @property
    def minutes(self) -> int | None:
        """The length of a minute period's bar in minutes; None for daily and longer."""
        return int(self.value[:-3]) if self.value.endswith("min") else None

    @property
    def intraday(self) -> bool:
        return self.minutes is not None


BAR_PERIODS = frozenset({Period.DAILY, Period.WEEKLY, Period.MONTHLY})
MINUTE_PERIODS = frozenset(p for p in Period if p.intraday)
TRADING_MINUTES = 240  # 09:30–11:30 and 13:00–15:00


class DatasetName(StrEnum):
    """What stocksync stores. Each has a module in :mod:`stocksync.datasets`."""

    BARS = "bars"
    ADJ_FACTORS = "adj_factors"
    VALUATIONS = "valuations"
    INDEX_BARS = "index_bars"
    INDEX_MEMBERS = "index_members"
    CORPORATE_ACTIONS = "corporate_actions"
    PROFILES = "profiles"
    FINANCIALS = "financials"
    MINUTE_BARS = "minute_bars"
    SECURITIES = "securities"
    TRADE_CALENDAR = "trade_calendar"


class Exchange(StrEnum):
    SH = "SH"
    SZ = "SZ"
    BJ = "BJ"


class Board(StrEnum):
    MAIN = "main"  # SH 60xxxx, SZ 000/001/002/003xxx
    STAR = "star"  # SH 688xxx / 689xxx
    CHINEXT = "chinext"  # SZ 300/301xxx
    BSE = "bse"  # BJ 920xxx (and legacy 43/83/87xxxx)


class ItemStatus(StrEnum):
    """Status of one unit of work in the ledger (``sync_items``)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"


ITEM_DONE_STATUSES = frozenset({ItemStatus.SUCCESS, ItemStatus.FAILED, ItemStatus.SKIPPED})


class RunStatus(StrEnum):
    """Status of a run (``sync_runs``)."""

    PLANNING = "planning"  # recorded and locked; its units are being planned (no source yet)
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCESS = "success"
    SUCCESS_WITH_ERRORS = "success_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # a scheduled run that did not start (another run active, holiday…)


RUN_ACTIVE_STATUSES = frozenset(
    {RunStatus.PLANNING, RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED}
)


@dataclass(slots=True)
class Bar:
    """One canonical bar: unadjusted prices in yuan, volume in shares, amount in yuan.

    ``turnover_pct`` and ``pct_chg`` are percentages (1.5 means 1.5 %). ``trade_status`` is 1 for
    a normal trading day and 0 for a suspended day that the source still reports.
    """

    code: str
    period: Period
    trade_date: dt.date
    open: float
    high: float
    low: float
    close: float
    pre_close: float | None
    volume: int
    amount: float
    turnover_pct: float | None = None
    pct_chg: float | None = None
    trade_status: int = 1
    is_st: bool = False


@dataclass(slots=True, frozen=True)
class Security:
    """A listed (or once listed) stock."""

    code: str
    name: str
    exchange: Exchange
    board: Board
    list_date: dt.date
    delist_date: dt.date | None = None

    @property
    def status(self) -> str:
        return "delisted" if self.delist_date is not None else "listed"

    def is_listed_on(self, day: dt.date) -> bool:
        """True when the stock trades (or is suspended) on ``day``: listed and not yet delisted."""
        return self.list_date <= day and (self.delist_date is None or day < self.delist_date)


@dataclass(slots=True, frozen=True)
class AdjFactor:
    """Cumulative (hfq-style) adjustment factor for one stock on one trade date.

    ``qfq = raw * factor / latest_factor``; ``hfq = raw * factor``.
    """

    code: str
    trade_date: dt.date
    factor: float


@dataclass(slots=True, frozen=True)
class Valuation:
    """Daily valuation of one stock: trailing P/E (None while loss-making), P/B, and total and
    circulating market value in yuan. A source may leave a field it does not serve as None."""

    code: str
    trade_date: dt.date
    pe_ttm: float | None
    pb: float | None
    total_mv: float | None
    circ_mv: float | None


@dataclass(slots=True, frozen=True)
class IndexBar:
    """One bar of an index (not a security one can hold): points, volume in shares, amount in
    yuan, ``pct_chg`` in percent. ``code`` is the index's own (``000300.SH``, ``399001.SZ``,
    ``899050.BJ``), kept apart from stock codes (``000001.SH`` is the SSE Composite, not the
    stock ``000001.SZ``)."""

    code: str
    period: Period
    trade_date: dt.date
    open: float
    high: float
    low: float
    close: float
    pre_close: float | None
    volume: int
    amount: float
    pct_chg: float | None = None


@dataclass(slots=True, frozen=True)
class IndexMember:
    """One constituent of an index in its snapshot of ``trade_date`` (the last trading day of a
    month: the members as they stood then), with its weight in percent where the source has
    weights (the weights of one snapshot sum to about 100)."""

    index_code: str
    code: str
    trade_date: dt.date
    weight: float | None = None


@dataclass(slots=True, frozen=True)
class CorporateAction:
    """One implemented corporate action of a stock, keyed by its ex-date: the cash dividend
    before tax in yuan per share, bonus shares (送股) and transfer shares (转增) per share, and
    rights shares (配股) per share at ``rights_price`` yuan. Several actions on one ex-date are
    one row (their amounts added). ``announce_date`` is the implementation's announcement
    (实施公告日) where the source has it, else the plan's."""

    code: str
    ex_date: dt.date
    cash_div: float = 0.0
    bonus_ratio: float = 0.0
    transfer_ratio: float = 0.0
    rights_ratio: float = 0.0
    rights_price: float | None = None
    record_date: dt.date | None = None
    pay_date: dt.date | None = None
    announce_date: dt.date | None = None
    report_period: dt.date | None = None  # the fiscal period whose profit is distributed

    def factor_ratio(self, close_before: float) -> float:
        """The hfq factor step this action implies, given the close before the ex-date:
        close ÷ ex-rights reference price (the exchange's formula)."""
        shares = 1.0 + self.bonus_ratio + self.transfer_ratio + self.rights_ratio
        paid = close_before - self.cash_div + self.rights_ratio * (self.rights_price or 0.0)
        return close_before * shares / paid


@dataclass(slots=True, frozen=True)
class StockProfile:
    """What a source says of a stock from ``valid_from`` on: its name and ST status, industry
    (in the source's ``industry_scheme``), area, and total and float shares (shares, not 万股).
    A field left None is one this row says nothing about: the profile of a stock on a day takes
    each field from the latest row on or before that day that has it."""

    code: str
    valid_from: dt.date
    name: str | None = None
    is_st: bool | None = None
    industry: str | None = None
    industry_scheme: str | None = None
    area: str | None = None
    total_shares: float | None = None
    float_shares: float | None = None


@dataclass(slots=True, frozen=True)
class FinancialReport:
    """Core indicators of one quarterly report (``report_period``: the quarter end) as
    announced on ``announce_date``; a restatement is a later row of the same period. Year-to-date
    figures: ``eps`` in yuan per share (basic), ``revenue`` and ``net_profit`` (attributable to
    the parent) in yuan; ``roe``, the year-on-year growths, ``gross_margin`` and ``debt_ratio``
    (liabilities ÷ assets) in percent. ``announce_estimated``: the source has no announcement
    date, and the statutory deadline for the period stands in (never earlier than the truth)."""

    code: str
    report_period: dt.date
    announce_date: dt.date
    eps: float | None = None
    roe: float | None = None
    revenue: float | None = None
    net_profit: float | None = None
    revenue_yoy: float | None = None
    net_profit_yoy: float | None = None
    gross_margin: float | None = None
    debt_ratio: float | None = None
    announce_estimated: bool = False


@dataclass(slots=True, frozen=True)
class MinuteBar:
    """One intraday bar of a stock: ``bar_time`` is the minute its interval ends (Beijing time,
    naive: 09:35 is the first 5-minute bar, 11:30 and 15:00 close the sessions), prices in yuan,
    volume in shares, amount in yuan. A day's bars of one period tile its 240 trading minutes."""

    code: str
    period: Period
    bar_time: dt.datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    amount: float

    @property
    def trade_date(self) -> dt.date:
        return self.bar_time.date()
