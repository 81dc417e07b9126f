"""The one contract every market-data source implements.

A source says which shapes of request it can serve (the whole market for one trade date, or one
stock over a date range) and for which periods, returns canonical rows (see
:mod:`stocksync.domain`), and classifies each of its failures exactly once as one of the
:class:`SourceError` subclasses below. Nothing outside a source inspects a source's own
exception text.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from stocksync.domain import AdjFactor, Bar, Period, Security, Valuation


class Shape(StrEnum):
    """How a source can be asked for bars."""

    MARKET_BY_DATE = "market_by_date"  # every stock for one trade date, in one call
    STOCK_BY_RANGE = "stock_by_range"  # one stock over a date range, in one call


class SourceError(Exception):
    """A source call failed. Subclasses say what the caller should do about it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


class TransientSourceError(SourceError):
    """Worth retrying after a backoff (timeouts, 5xx, dropped connections)."""


class RateLimitedError(SourceError):
    """The source's quota is spent; retry after ``wait_s`` seconds without spending an attempt.

    ``limit_per_minute`` carries a limit the source reported, so the shared bucket can tighten.
    A very long ``wait_s`` (a ban) makes the caller skip the source and fail over.
    """

    def __init__(
        self,
        source: str,
        message: str,
        wait_s: float,
        limit_per_minute: int | None = None,
        bucket: str | None = None,
    ) -> None:
        super().__init__(source, message)
        self.wait_s = wait_s
        self.limit_per_minute = limit_per_minute
        self.bucket = bucket  # the rate-limit bucket the limit applies to (default: the source)


class FatalSourceError(SourceError):
    """Retrying will not help (bad token, no permission, unsupported request)."""


class NoDataError(SourceError):
    """The source positively says it has no data for this request."""


@dataclass(frozen=True)
class Availability:
    """Whether a source can be used right now, and if not, why (shown to users)."""

    ok: bool
    reason: str = ""


class CallQuota(Protocol):
    """A call budget shared across processes (see :mod:`stocksync.coordination.ratelimit`)."""

    def acquire(self, source: str, limit_per_minute: int) -> float:
        """0.0 when a call may proceed now, else the seconds to wait."""
        ...


class Source(ABC):
    """A market-data source. Instances are cheap to build and may hold a connection."""

    name: str
    shapes: frozenset[Shape]
    periods: frozenset[Period]

    @property
    def expected_latency_s(self) -> float:
        """Typical seconds one call takes; used for plan ETAs."""
        return 0.2

    @property
    def calls_per_minute(self) -> int | None:
        """The quota this source enforces (None: none known)."""
        return None

    def can_serve(self, shape: Shape, period: Period) -> bool:
        return shape in self.shapes and period in self.periods

    def covers(self, code: str) -> bool:
        """Whether the source has data for ``code`` at all (e.g. baostock has no BJ stocks)."""
        return True

    def availability(self) -> Availability:
        """Library importable, credentials present, endpoint answering. Default: available."""
        return Availability(True)

    @abstractmethod
    def securities(self) -> list[Security]:
        """Every stock the source knows, listed or delisted."""

    @abstractmethod
    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Open days of the A-share market between ``start`` and ``end`` inclusive."""

    def market_bars(self, period: Period, trade_date: dt.date) -> list[Bar]:
        """Bars of every stock for ``trade_date`` (a period-end date for weekly/monthly)."""
        raise NotImplementedError(f"{self.name} cannot fetch the whole market by date")

    def stock_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[Bar]:
        """Bars of one stock between ``start`` and ``end`` inclusive."""
        raise NotImplementedError(f"{self.name} cannot fetch one stock over a range")

    def adj_factors(self, code: str, start: dt.date, end: dt.date) -> list[AdjFactor]:
        """Adjustment factors of one stock between ``start`` and ``end`` inclusive."""
        raise NotImplementedError(f"{self.name} has no adjustment factors")

    def market_adj_factors(self, trade_date: dt.date) -> list[AdjFactor]:
        """Adjustment factors of every stock on ``trade_date`` (sources with MARKET_BY_DATE)."""
        raise NotImplementedError(f"{self.name} cannot fetch factors for the whole market")

    def market_valuations(self, trade_date: dt.date) -> list[Valuation]:
        """Daily valuation (pe, pb, market value) of every stock trading on ``trade_date``."""
        raise NotImplementedError(f"{self.name} cannot fetch valuations for the whole market")

    def stock_valuations(self, code: str, start: dt.date, end: dt.date) -> list[Valuation]:
        """Daily valuation of one stock between ``start`` and ``end`` inclusive."""
        raise NotImplementedError(f"{self.name} has no valuations")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Default: nothing to release."""


def filter_codes(bars: Sequence[Bar], codes: frozenset[str] | None) -> list[Bar]:
    """Keep only bars whose code is in ``codes`` (all of them when ``codes`` is None)."""
    if codes is None:
        return list(bars)
    return [bar for bar in bars if bar.code in codes]
