"""In-process baselines: what producing and storing the rows costs without any orchestration."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Engine

from stocksync.datasets.bars import validate_bars, write_bars
from stocksync.domain import Bar
from stocksync.sim import SimMarket

Batches = list[list[Bar]]


@dataclass(frozen=True)
class Timed:
    """Seconds taken, and how many units (batches) and bars were handled. With repeats,
    ``seconds`` is the median and ``samples_s`` holds every measurement."""

    seconds: float
    units: int
    bars: int
    samples_s: tuple[float, ...] = ()

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.seconds if self.seconds > 0 else 0.0

    @property
    def units_per_s(self) -> float:
        return self.units / self.seconds if self.seconds > 0 else 0.0

    def as_json(self, **extra: object) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 4),
            "units": self.units,
            "bars": self.bars,
            "units_per_s": round(self.units_per_s, 2),
            "bars_per_s": round(self.bars_per_s, 1),
            "samples_s": [round(v, 4) for v in self.samples_s or (self.seconds,)],
            **extra,
        }


def median(samples: Sequence[Timed]) -> Timed:
    """The median measurement (the lower one of an even count), carrying every sample."""
    middle = sorted(samples, key=lambda t: t.seconds)[(len(samples) - 1) // 2]
    return replace(middle, samples_s=tuple(t.seconds for t in samples))


def generate_by_date(market: SimMarket, days: Sequence[dt.date]) -> tuple[Batches, Timed]:
    """Every listed stock's daily bar for each of ``days`` (one batch per day), timed."""
    began = time.perf_counter()
    batches = [market.bars_for_date(day) for day in days]
    return batches, Timed(time.perf_counter() - began, len(batches), sum(map(len, batches)))


def generate_by_stock(
    market: SimMarket, codes: Sequence[str], start: dt.date, end: dt.date
) -> tuple[Batches, Timed]:
    """Each stock's daily bars over ``[start, end]`` (one batch per stock that has any)."""
    began = time.perf_counter()
    batches = [bars for code in codes if (bars := market.bars_for_code(code, start, end))]
    return batches, Timed(time.perf_counter() - began, len(batches), sum(map(len, batches)))


def validate(batches: Batches) -> Timed:
    """Run the workers' row validation over ``batches``; every row must pass."""
    began = time.perf_counter()
    rejected = sum(len(validate_bars(batch)[1]) for batch in batches)
    seconds = time.perf_counter() - began
    if rejected:
        raise ValueError(f"{rejected} generated bar(s) failed validation")
    return Timed(seconds, len(batches), sum(map(len, batches)))


def raw_ingest(engine: Engine, batches: Batches) -> tuple[Timed, int]:
    """COPY + merge each batch with :func:`write_bars` in its own transaction, on one
    connection of this process. Returns the timing and how many rows were written."""
    written = 0
    began = time.perf_counter()
    for batch in batches:
        with engine.begin() as conn:
            written += write_bars(conn, batch, source="sim")
    seconds = time.perf_counter() - began
    return Timed(seconds, len(batches), sum(map(len, batches))), written
