"""The nouns of stocksync: periods, statuses, bars, securities and adjustment factors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum


class Period(StrEnum):
    """Bar period. Weekly and monthly bars are dated on the last trading day of the period."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class DatasetName(StrEnum):
    """What stocksync stores. Each has a module in :mod:`stocksync.datasets`."""

    BARS = "bars"
    ADJ_FACTORS = "adj_factors"
    VALUATIONS = "valuations"
    INDEX_BARS = "index_bars"
    INDEX_MEMBERS = "index_members"
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
