"""The one contract every market-data source implements.

A source declares which datasets it serves (:attr:`Source.serves`), in which shapes (the whole
market for one trade date, or one stock over a date range) and periods; returns canonical rows
(see :mod:`stocksync.domain`); and classifies each of its failures exactly once as one of the
:class:`SourceError` subclasses below. Every library call takes its quota through
:func:`take_quota`, and every dataset fetch passes :meth:`Source.fetch`, which lets only
SourceErrors out: anything else is a bug in the adapter (:class:`SourceBug`). Nothing outside
a source inspects a source's own exception text.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import redis

from stocksync.domain import (
    BAR_PERIODS,
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

if TYPE_CHECKING:
    from stocksync.datasets.base import Dataset

log = logging.getLogger(__name__)


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


class SourceBug(SourceError):
    """The adapter raised something that is not a SourceError: a bug, not a source failure.
    The unit fails with this message and is not retried; the circuit breaker is not touched."""


ALL_PERIODS = BAR_PERIODS  # daily, weekly, monthly (minute bars are a dataset of their own)
DAILY = frozenset({Period.DAILY})


@dataclass(frozen=True)
class Offer:
    """How a source serves one dataset: in which ``shapes`` and ``periods``, and whether it
    leaves suspended days out (``omits_suspended``) instead of reporting them."""

    shapes: frozenset[Shape]
    periods: frozenset[Period] = DAILY
    omits_suspended: bool = False


def catalogue(offers: Mapping[DatasetName, Offer]) -> Mapping[DatasetName, Offer]:
    """A source's :attr:`Source.serves`, read-only."""
    return MappingProxyType(dict(offers))


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

    def pause(self, source: str, seconds: float) -> None:
        """Grant no call of ``source`` (a bucket) for ``seconds``, to any process sharing the
        quota: the server said its window is full."""
        ...


# Once a unit has spent a call, a later quota wait is slept through (up to this long, one
# per-minute window and a margin): giving the unit back to the queue would throw away replies
# it already paid for, and its retry would spend those calls again — the pattern that gets an
# IP banned. A unit re-queued for quota is only ever one that has not called yet.
SPENT_WAIT_MAX_S = 65.0
# ... but never more than this in all per unit attempt (well inside the task's time limits).
UNIT_WAIT_BUDGET_S = 150.0


@dataclass
class UnitCalls:
    """The calls one attempt at a unit has made, how long it has waited for quota, and the
    replies its source kept for the unit's other datasets (see :func:`unit_memo`)."""

    spent: int = 0
    waited_s: float = 0.0
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)


_unit_calls: ContextVar[UnitCalls | None] = ContextVar("stocksync_unit_calls", default=None)


def unit_memo() -> dict[tuple[Any, ...], Any] | None:
    """Replies kept for the rest of the current attempt at a unit (None outside one): a source
    whose one request answers several datasets (baostock's daily k-data carries the bars, the
    raw close behind the factors and the valuations) asks once per unit, not once per dataset.
    It lives as long as the attempt, so a retry asks again."""
    unit = _unit_calls.get()
    return unit.memo if unit is not None else None


@contextmanager
def unit_calls() -> Iterator[UnitCalls]:
    """Count the quota taken by one attempt at a unit (see :func:`take_quota`)."""
    calls = UnitCalls()
    token = _unit_calls.set(calls)
    try:
        yield calls
    finally:
        _unit_calls.reset(token)


def take_quota(
    quota: CallQuota, source: str, bucket: str, limit: int, what: str, inline_wait_s: float = 0.0
) -> None:
    """Take one call of ``bucket``'s per-minute ``limit`` from ``quota`` before a library call,
    sleeping through waits up to ``inline_wait_s``; RateLimitedError with the wait otherwise.
    Within a unit (:func:`unit_calls`) that has already spent a call, waits up to
    :data:`SPENT_WAIT_MAX_S` are slept through, so no fetched reply is thrown away.
    Every source takes its quota here, once per request it sends."""
    unit = _unit_calls.get()
    if limit > 0:
        began = time.monotonic()
        while (wait := quota.acquire(bucket, limit)) > 0:
            slept = time.monotonic() - began
            if slept + wait > _inline_bound(unit, inline_wait_s):
                raise RateLimitedError(
                    source, f"{what}: over {limit} calls per minute", wait_s=wait, bucket=bucket
                )
            time.sleep(wait)
        if unit is not None:
            unit.waited_s += time.monotonic() - began
    if unit is not None:
        unit.spent += 1


def _inline_bound(unit: UnitCalls | None, inline_wait_s: float) -> float:
    if unit is None or unit.spent == 0:
        return inline_wait_s
    return max(inline_wait_s, min(SPENT_WAIT_MAX_S, UNIT_WAIT_BUDGET_S - unit.waited_s))


class Source(ABC):
    """A market-data source. Instances are cheap to build and may hold a connection.

    ``serves`` maps each fact dataset the source has to its :class:`Offer`; a dataset missing
    from it is one the source does not serve (planning says so; it is never silently empty).
    """

    name: str
    serves: ClassVar[Mapping[DatasetName, Offer]]

    @property
    def shapes(self) -> frozenset[Shape]:
        """The shapes in which the source serves bars."""
        offer = self.serves.get(DatasetName.BARS)
        return offer.shapes if offer else frozenset()

    @property
    def periods(self) -> frozenset[Period]:
        """The periods of the bars the source serves."""
        offer = self.serves.get(DatasetName.BARS)
        return offer.periods if offer else frozenset()

    def offers(self, dataset: DatasetName, shape: Shape, period: Period) -> bool:
        """Whether the source serves ``dataset`` for ``period`` in ``shape``."""
        offer = self.serves.get(dataset)
        return offer is not None and shape in offer.shapes and period in offer.periods

    def omits_suspended(self, dataset: DatasetName) -> bool:
        """Whether the source leaves suspended days out of ``dataset``."""
        offer = self.serves.get(dataset)
        return offer is not None and offer.omits_suspended

    def fetch(
        self,
        dataset: Dataset[Any],
        period: Period,
        *,
        day: dt.date | None = None,
        code: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[Any]:
        """Rows of ``dataset``: the whole market on ``day``, or ``code`` over [start, end].

        The gate between the adapter and the rest of stocksync: a SourceError passes as the
        adapter classified it; any other exception is a bug in the adapter and becomes a
        :class:`SourceBug` (its traceback logged here)."""
        try:
            if code is None:
                assert day is not None
                return dataset.fetch_market(self, period, day)
            assert start is not None and end is not None
            return dataset.fetch_stock(self, period, code, start, end)
        except (SourceError, redis.ConnectionError, redis.TimeoutError):
            raise  # classified, or the shared quota's Redis out of reach: no adapter bug
        except Exception as exc:
            log.exception("%s: a bug while fetching %s", self.name, dataset.name)
            raise SourceBug(self.name, f"bug: {type(exc).__name__}: {exc}") from exc

    @property
    def expected_latency_s(self) -> float:
        """Typical seconds one call takes; used for plan ETAs."""
        return 0.2

    @property
    def calls_per_minute(self) -> int | None:
        """The quota this source enforces (None: none known)."""
        return None

    def can_serve(self, shape: Shape, period: Period) -> bool:
        """Whether the source serves bars of ``period`` in ``shape``."""
        return self.offers(DatasetName.BARS, shape, period)

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

    def index_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[IndexBar]:
        """Bars of the index ``code`` (``000300.SH``) between ``start`` and ``end`` inclusive:
        points, volume in shares, amount in yuan."""
        raise NotImplementedError(f"{self.name} has no index bars")

    def market_index_bars(self, period: Period, trade_date: dt.date) -> list[IndexBar]:
        """Bars of every main index on ``trade_date`` (no source offers this shape yet)."""
        raise NotImplementedError(f"{self.name} cannot fetch every index by date")

    def index_members(self, code: str, start: dt.date, end: dt.date) -> list[IndexMember]:
        """The monthly snapshots of index ``code``'s members dated within [start, end] (each on
        its month's last trading day; weights in percent where the source has them)."""
        raise NotImplementedError(f"{self.name} has no index members")

    def market_index_members(self, trade_date: dt.date) -> list[IndexMember]:
        """Every main index's members on ``trade_date`` (no source offers this shape)."""
        raise NotImplementedError(f"{self.name} cannot fetch every index's members by date")

    def corporate_actions(self, code: str, start: dt.date, end: dt.date) -> list[CorporateAction]:
        """The implemented corporate actions of ``code`` whose ex-date lies in [start, end]
        (plans not yet implemented are left out): amounts per share, in yuan."""
        raise NotImplementedError(f"{self.name} has no corporate actions")

    def profiles(self, code: str, start: dt.date, end: dt.date) -> list[StockProfile]:
        """What the source knows of ``code``'s profile over [start, end]: the rows that take
        effect within it, and the row in force on ``start`` (dated on or before it). A source
        that knows only the present dates its row on the day it was asked, which may lie after
        ``end``: it never claims the past."""
        raise NotImplementedError(f"{self.name} has no stock profiles")

    def financials(self, code: str, start: dt.date, end: dt.date) -> list[FinancialReport]:
        """Every version of ``code``'s quarterly reports announced within [start, end]
        (restatements included, each with its own announcement date)."""
        raise NotImplementedError(f"{self.name} has no financial indicators")

    def minute_bars(
        self, code: str, period: Period, start: dt.date, end: dt.date
    ) -> list[MinuteBar]:
        """Intraday bars of ``period`` (``5min`` … ``60min``) of one stock on its trading days in
        [start, end]: prices in yuan, volume in shares, amount in yuan."""
        raise NotImplementedError(f"{self.name} has no minute bars")

    def market_minute_bars(self, period: Period, trade_date: dt.date) -> list[MinuteBar]:
        """Intraday bars of every stock trading on ``trade_date``."""
        raise NotImplementedError(f"{self.name} cannot fetch the whole market's minute bars")

    def covers_dataset(self, dataset: DatasetName, code: str) -> bool:
        """Whether the source has ``dataset`` for ``code`` (baostock has the members of three
        indices only). Default: :meth:`covers`."""
        return self.covers(code)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Default: nothing to release."""


def filter_codes(bars: Sequence[Bar], codes: frozenset[str] | None) -> list[Bar]:
    """Keep only bars whose code is in ``codes`` (all of them when ``codes`` is None)."""
    if codes is None:
        return list(bars)
    return [bar for bar in bars if bar.code in codes]
