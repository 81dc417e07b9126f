"""Units of work and their keys: built and parsed here, and nowhere else.

A unit is one period's datasets for the whole market (or a symbol subset) on one trade date,
or for one stock over a range of dates. Its key identifies it within a run's ledger:

    bars+adj_factors+valuations:daily:2026-10-09            whole market on a date
    bars:weekly:2026-10-09@3f2a9c01b7de                      a symbol subset on a date
    bars+adj_factors:daily:600000.SH:2026-10-08:2026-10-30   one stock over a range
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from stocksync.domain import DatasetName, Period
from stocksync.sources.base import Shape

SCOPE_MARK = "@"


def symbols_scope(symbols: Sequence[str] | None) -> str:
    """A short stable tag for a symbol subset ('' for the whole market)."""
    if symbols is None:
        return ""
    digest = hashlib.sha1(",".join(sorted(symbols)).encode()).hexdigest()[:12]
    return f"{SCOPE_MARK}{digest}"


def datasets_tag(datasets: Iterable[DatasetName]) -> str:
    """The datasets of a unit as stored in ``sync_items.dataset`` ("bars+valuations")."""
    return "+".join(d.value for d in datasets)


def parse_datasets_tag(tag: str) -> tuple[DatasetName, ...]:
    """The datasets a ``sync_items.dataset`` value names."""
    return tuple(DatasetName(part) for part in tag.split("+") if part)


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """One unit of work: ``datasets`` of ``period`` for a (trade date × market or ``scope``),
    or for ``code`` over [start_date, end_date]."""

    period: Period
    datasets: tuple[DatasetName, ...]
    start_date: dt.date
    end_date: dt.date
    trade_date: dt.date | None = None
    code: str | None = None
    scope: str = ""

    @classmethod
    def for_date(
        cls, period: Period, datasets: tuple[DatasetName, ...], day: dt.date, scope: str = ""
    ) -> WorkUnit:
        return cls(period, datasets, day, day, trade_date=day, scope=scope)

    @classmethod
    def for_stock(
        cls,
        period: Period,
        datasets: tuple[DatasetName, ...],
        code: str,
        first: dt.date,
        last: dt.date,
    ) -> WorkUnit:
        return cls(period, datasets, first, last, code=code)

    @property
    def unit_key(self) -> str:
        head = f"{datasets_tag(self.datasets)}:{self.period.value}"
        if self.code is None:
            assert self.trade_date is not None
            return f"{head}:{self.trade_date.isoformat()}{self.scope}"
        return f"{head}:{self.code}:{self.start_date.isoformat()}:{self.end_date.isoformat()}"

    @property
    def dataset_tag(self) -> str:
        return datasets_tag(self.datasets)

    @property
    def shape(self) -> Shape:
        return Shape.MARKET_BY_DATE if self.code is None else Shape.STOCK_BY_RANGE

    @property
    def label(self) -> str:
        """What progress displays as the unit's 'current date'."""
        return (self.trade_date or self.end_date).isoformat()

    def child(self, code: str, datasets: tuple[DatasetName, ...] | None = None) -> WorkUnit:
        """The per-stock unit for ``code`` of this per-date unit (when it is split)."""
        assert self.trade_date is not None
        day = self.trade_date
        return replace(
            self, datasets=datasets or self.datasets, code=code, trade_date=None, scope="",
            start_date=day, end_date=day,
        )  # fmt: skip


def parse_unit_key(key: str) -> WorkUnit:
    """The unit a key names (the inverse of :attr:`WorkUnit.unit_key`)."""
    tag, period, rest = key.split(":", 2)
    datasets = parse_datasets_tag(tag)
    parts = rest.split(":")
    if len(parts) == 1:
        day, _, scope = parts[0].partition(SCOPE_MARK)
        date = dt.date.fromisoformat(day)
        return WorkUnit.for_date(
            Period(period), datasets, date, SCOPE_MARK + scope if scope else ""
        )
    code, first, last = parts
    return WorkUnit.for_stock(
        Period(period), datasets, code, dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    )
