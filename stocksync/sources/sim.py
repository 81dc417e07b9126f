"""Source ``sim``: the simulated market behind the source contract, optionally slow, flaky and
rate-limited so the sync machinery can be exercised offline."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from stocksync.config import SimSettings
from stocksync.coordination.ratelimit import InProcessQuota
from stocksync.domain import (
    MINUTE_PERIODS,
    AdjFactor,
    Bar,
    CorporateAction,
    DatasetName,
    FinancialReport,
    IndexBar,
    IndexMember,
    MinuteBar,
    Period,
    Security,
    StockProfile,
    Valuation,
)
from stocksync.sim import SimMarket
from stocksync.sim.market import UnknownStock
from stocksync.sim.members import MEMBER_INDICES
from stocksync.sources.base import (
    ALL_PERIODS,
    CallQuota,
    FatalSourceError,
    NoDataError,
    Offer,
    Shape,
    Source,
    TransientSourceError,
    catalogue,
    take_quota,
)

__all__ = ["CallQuota", "SimSource", "build_sim_source", "sim_market"]

T = TypeVar("T")
_WINDOW_S = 60.0
_OVERHEAD_S = 0.005  # what one in-process call costs on top of the configured latency


class SimSource(Source):
    """The simulated market as a source: both request shapes, every period.

    Every call passes one gate that sleeps ``latency_ms``, enforces ``calls_per_minute`` (through
    ``quota`` when given, else an in-process sliding window) by raising
    :class:`RateLimitedError`, and fails with :class:`TransientSourceError` with probability
    ``error_rate`` (reproducibly when ``rng_seed`` is given). With probability ``garbage_rate``
    a bar reply comes back with corrupted rows (high below low; volume in lots), as a broken
    or unit-slipping upstream would send.
    """

    name = "sim"
    serves = catalogue(
        {
            DatasetName.BARS: Offer(frozenset(Shape), ALL_PERIODS),
            DatasetName.ADJ_FACTORS: Offer(frozenset(Shape)),
            DatasetName.VALUATIONS: Offer(frozenset(Shape), omits_suspended=True),
            DatasetName.INDEX_BARS: Offer(frozenset({Shape.STOCK_BY_RANGE}), ALL_PERIODS),
            DatasetName.INDEX_MEMBERS: Offer(
                frozenset({Shape.STOCK_BY_RANGE}), frozenset({Period.MONTHLY})
            ),
            DatasetName.CORPORATE_ACTIONS: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.PROFILES: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.FINANCIALS: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.MINUTE_BARS: Offer(frozenset(Shape), MINUTE_PERIODS, omits_suspended=True),
        }
    )

    def __init__(
        self,
        market: SimMarket,
        *,
        latency_ms: float = 0.0,
        error_rate: float = 0.0,
        calls_per_minute: int = 0,
        quota: CallQuota | None = None,
        rng_seed: int | None = None,
        garbage_rate: float = 0.0,
    ) -> None:
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {error_rate}")
        if not 0.0 <= garbage_rate <= 1.0:
            raise ValueError(f"garbage_rate must be within [0, 1], got {garbage_rate}")
        if calls_per_minute < 0:
            raise ValueError(f"calls_per_minute must be >= 0, got {calls_per_minute}")
        self.market = market
        self._latency_s = latency_ms / 1000.0
        self._error_rate = error_rate
        self._limit = calls_per_minute
        self._quota: CallQuota = quota if quota is not None else InProcessQuota()
        self._random = random.Random(rng_seed)
        self._random_lock = threading.Lock()
        self._garbage_rate = garbage_rate

    @property
    def expected_latency_s(self) -> float:
        """The configured latency plus a small constant for the in-process work."""
        return self._latency_s + _OVERHEAD_S

    @property
    def calls_per_minute(self) -> int | None:
        """The configured quota, or None when unlimited."""
        return self._limit or None

    def _call(self, what: str, fetch: Callable[[], T]) -> T:
        """The gate every call goes through; see the class docstring."""
        if self._latency_s > 0:
            time.sleep(self._latency_s)
        take_quota(self._quota, self.name, self.name, self._limit, what)
        if self._error_rate > 0:
            with self._random_lock:
                failed = self._random.random() < self._error_rate
            if failed:
                raise TransientSourceError(self.name, f"simulated failure of {what}")
        try:
            return fetch()
        except UnknownStock as exc:
            raise NoDataError(self.name, str(exc.args[0]) if exc.args else what) from exc
        except ValueError as exc:
            raise FatalSourceError(self.name, str(exc)) from exc

    def securities(self) -> list[Security]:
        """Every simulated stock, listed or delisted."""
        return self._call("securities", self.market.securities)

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """XSHG sessions in ``[start, end]``; FatalSourceError past 2026-12-31."""
        return self._call("trading_days", lambda: self.market.trading_days(start, end))

    def market_bars(self, period: Period, trade_date: dt.date) -> list[Bar]:
        """Every listed stock's bar for ``trade_date`` (a period-end date unless daily)."""
        bars = self._call("market_bars", lambda: self.market.bars_for_date(trade_date, period))
        return self._maybe_garble(bars)

    def stock_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[Bar]:
        """Bars of ``code`` in ``[start, end]``; NoDataError for a code the market lacks."""
        bars = self._call("stock_bars", lambda: self.market.bars_for_code(code, start, end, period))
        return self._maybe_garble(bars)

    def _maybe_garble(self, bars: list[Bar]) -> list[Bar]:
        if not bars or self._garbage_rate <= 0:
            return bars
        with self._random_lock:
            if self._random.random() >= self._garbage_rate:
                return bars
            first = self._random.randrange(len(bars))
            second = self._random.randrange(len(bars))
        garbled = list(bars)
        b = garbled[first]
        garbled[first] = replace(b, high=b.low - 0.01 if b.low > 0.02 else 0.0)
        b = garbled[second]
        if second != first and b.volume >= 100 and b.amount > 0:
            garbled[second] = replace(b, volume=b.volume // 100)
        return garbled

    def index_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[IndexBar]:
        return self._call(
            f"index_bars {code}", lambda: self.market.index_bars(code, period, start, end)
        )

    def index_members(self, code: str, start: dt.date, end: dt.date) -> list[IndexMember]:
        return self._call(
            f"index_members {code}", lambda: self.market.index_members(code, start, end)
        )

    def corporate_actions(self, code: str, start: dt.date, end: dt.date) -> list[CorporateAction]:
        return self._call(
            f"corporate_actions {code}", lambda: self.market.corporate_actions(code, start, end)
        )

    def profiles(self, code: str, start: dt.date, end: dt.date) -> list[StockProfile]:
        return self._call(f"profiles {code}", lambda: self.market.profiles(code, start, end))

    def financials(self, code: str, start: dt.date, end: dt.date) -> list[FinancialReport]:
        return self._call(f"financials {code}", lambda: self.market.financials(code, start, end))

    def minute_bars(
        self, code: str, period: Period, start: dt.date, end: dt.date
    ) -> list[MinuteBar]:
        """Intraday bars of ``code`` on its trading days in ``[start, end]``; NoDataError for a
        code the market lacks, FatalSourceError for a period that is not intraday."""
        return self._call(
            f"minute_bars {code}", lambda: self.market.minute_bars(code, period, start, end)
        )

    def market_minute_bars(self, period: Period, trade_date: dt.date) -> list[MinuteBar]:
        """Intraday bars of every stock trading on ``trade_date``."""
        return self._call(
            "market_minute_bars", lambda: self.market.market_minute_bars(period, trade_date)
        )

    def covers_dataset(self, dataset: DatasetName, code: str) -> bool:
        """Every stock and index; members of every main index but the SSE Composite."""
        return dataset is not DatasetName.INDEX_MEMBERS or code in MEMBER_INDICES

    def market_valuations(self, trade_date: dt.date) -> list[Valuation]:
        """Every trading stock's pe, pb and market value on ``trade_date``."""
        return self._call("market_valuations", lambda: self.market.valuations_for_date(trade_date))

    def stock_valuations(self, code: str, start: dt.date, end: dt.date) -> list[Valuation]:
        """pe, pb and market value of ``code`` on its trading days in ``[start, end]``."""
        return self._call(
            "stock_valuations", lambda: self.market.valuations_for_code(code, start, end)
        )

    def market_adj_factors(self, trade_date: dt.date) -> list[AdjFactor]:
        """Every listed stock's hfq factor on ``trade_date``."""
        return self._call("market_adj_factors", lambda: self.market.market_adj_factors(trade_date))

    def adj_factors(self, code: str, start: dt.date, end: dt.date) -> list[AdjFactor]:
        """hfq factors of ``code`` for its listed trading days in ``[start, end]``."""
        return self._call("adj_factors", lambda: self.market.adj_factors(code, start, end))


_markets: dict[tuple[int, int], SimMarket] = {}
_markets_lock = threading.Lock()


def sim_market(seed: int, stocks: int) -> SimMarket:
    """The process-wide :class:`SimMarket` for ``(seed, stocks)``, built on first use."""
    with _markets_lock:
        market = _markets.get((seed, stocks))
        if market is None:
            market = _markets[(seed, stocks)] = SimMarket(seed, stocks)
        return market


def build_sim_source(settings: SimSettings, quota: CallQuota | None = None) -> SimSource:
    """A :class:`SimSource` configured from ``settings``, sharing this process's market."""
    return SimSource(
        sim_market(settings.seed, settings.stocks),
        latency_ms=settings.latency_ms,
        error_rate=settings.error_rate,
        calls_per_minute=settings.calls_per_minute,
        quota=quota,
        garbage_rate=settings.garbage_rate,
    )
