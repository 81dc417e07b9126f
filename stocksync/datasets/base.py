"""What a dataset is: a declared thing the run machinery works with without knowing it.

A :class:`Dataset` names its rows' key, the periods it has, how rows are checked and written,
and how a source is asked for it in each shape. Planning, execution, coverage and the ledger
read these declarations; adding a dataset is one module in this package, one method on each
source that serves it, and a migration for its table.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from sqlalchemy import Connection

from stocksync.domain import DatasetName, Period

if TYPE_CHECKING:
    from stocksync.sources.base import Source

R = TypeVar("R")
Key = tuple[str, dt.date]  # (code, trade date): the key of every per-trading-day fact


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row that failed a check, and why. ``row`` is the rejected row itself."""

    dataset: str
    code: str
    trade_date: dt.date
    reason: str
    row: Any = None
    period: str = Period.DAILY.value

    def __str__(self) -> str:
        return f"{self.code} {self.trade_date.isoformat()}: {self.reason}"


class Dataset(ABC, Generic[R]):
    """A dataset of rows keyed by (code, trade date), planned in units of work.

    ``periods`` are the periods the dataset has (adjustment factors and valuations are daily
    facts). ``table`` is where :meth:`write` stores rows. ``subjects`` says whose rows they are.
    """

    name: ClassVar[DatasetName]
    periods: ClassVar[frozenset[Period]] = frozenset({Period.DAILY})
    table: ClassVar[str]
    # whose rows: the listed stocks (planned over the securities list and the run's symbols),
    # or the main indices (planned over :data:`stocksync.datasets.indices.MAIN_INDICES`)
    subjects: ClassVar[Literal["stocks", "indices"]] = "stocks"
    # a dataset sampled at a period of its own (index members: a snapshot a month), planned at
    # that period whatever periods the run asks for bars in
    sampled: ClassVar[Period | None] = None
    # an event dataset (corporate actions, profile changes, reports): its rows fall on irregular
    # dates a source alone knows, so no (code, date) key is expected and a unit of it is one
    # stock over a range, planned apart from the bars; the source's reply is the whole answer
    events: ClassVar[bool] = False

    @abstractmethod
    def key(self, row: R) -> Key:
        """The row's (code, trade date)."""

    def problem(self, row: R) -> str | None:
        """Why ``row`` cannot be stored, or None when it is sound. Default: nothing checked."""
        return None

    def identity(self, row: R) -> Hashable:
        """What makes a row one of a kind in a reply (default: its key); a second row with the
        same identity is rejected."""
        return self.key(row)

    def duplicate(self, row: R) -> str:
        """Why a row repeating another's identity is rejected."""
        return "duplicate row for this code and date"

    def check(self, rows: Sequence[R], period: Period) -> tuple[list[R], list[RejectedRow]]:
        """Split ``rows`` into sound ones and rejected ones (a repeated identity is rejected)."""
        good: list[R] = []
        rejected: list[RejectedRow] = []
        seen: set[Hashable] = set()
        for row in rows:
            identity = self.identity(row)
            problem = self.problem(row)
            if problem is None and identity in seen:
                problem = self.duplicate(row)
            if problem is not None:
                rejected.append(self.reject(row, problem, period))
                continue
            seen.add(identity)
            good.append(row)
        return good, rejected

    def reject(self, row: R, reason: str, period: Period) -> RejectedRow:
        code, day = self.key(row)
        return RejectedRow(self.name.value, code, day, reason, row, period.value)

    @abstractmethod
    def write(self, conn: Connection, rows: Sequence[R], *, source: str) -> int:
        """Upsert ``rows`` in the caller's transaction; returns rows inserted or changed."""

    @abstractmethod
    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[R]:
        """Ask ``source`` for every stock's rows on ``day``."""

    @abstractmethod
    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[R]:
        """Ask ``source`` for one stock's rows in ``[start, end]``."""
