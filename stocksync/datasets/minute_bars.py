"""Dataset ``minute_bars``: 5-, 15-, 30- and 60-minute bars of the stocks, unadjusted, volume in
shares, amount in yuan, in ``minute_bars`` — a table partitioned by month on ``bar_time``,
each month's partition created the first time a row of it is written.

A (stock, day) is stored whole or not at all: a day with fewer or more bars than its period
tiles (48 five-minute bars…), a bar off the grid of its period, or a bar that fails a price
check rejects that day's bars, which are quarantined and leave the day missing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

from stocksync.datasets.base import Dataset, Key, RejectedRow
from stocksync.domain import MINUTE_PERIODS, TRADING_MINUTES, DatasetName, MinuteBar, Period
from stocksync.storage.upsert import copy_merge

if TYPE_CHECKING:
    from stocksync.sources.base import Source

COLUMNS = ("code", "period", "bar_time", "open", "high", "low", "close", "volume", "amount",
           "source")  # fmt: skip
MORNING = (dt.time(9, 30), dt.time(11, 30))
AFTERNOON = (dt.time(13, 0), dt.time(15, 0))
VWAP_SLACK = 0.02  # a bar's amount ÷ volume may stray this far outside [low, high] (rounding)


def bar_times(period: Period) -> list[dt.time]:
    """The minutes a day's bars of ``period`` end on: 09:35 … 11:30, 13:05 … 15:00 for 5min."""
    step = dt.timedelta(minutes=period.minutes or 0)
    found = []
    for begin, end in (MORNING, AFTERNOON):
        moment = dt.datetime.combine(dt.date.min, begin) + step
        while moment.time() <= end:
            found.append(moment.time())
            moment += step
    return found


def bar_problem(bar: MinuteBar) -> str | None:
    """Why one bar cannot be stored, or None."""
    prices = (bar.open, bar.high, bar.low, bar.close)
    if not all(isinstance(p, int | float) and math.isfinite(p) and p > 0 for p in prices):
        return f"a price is not a positive number: {prices}"
    if bar.high < max(bar.open, bar.close) or bar.low > min(bar.open, bar.close):
        return f"high {bar.high} / low {bar.low} do not bound open {bar.open} / close {bar.close}"
    if bar.volume < 0 or not math.isfinite(bar.amount) or bar.amount < 0:
        return f"volume {bar.volume} or amount {bar.amount} is negative"
    if bar.volume > 0:
        average = bar.amount / bar.volume
        if not bar.low * (1 - VWAP_SLACK) <= average <= bar.high * (1 + VWAP_SLACK):
            return (f"amount ÷ volume {average:.4f} is outside [{bar.low}, {bar.high}]: volume in "
                    "lots or amount in thousands?")  # fmt: skip
    return None


class MinuteBarsDataset(Dataset[MinuteBar]):
    name = DatasetName.MINUTE_BARS
    periods = MINUTE_PERIODS
    table = "minute_bars"

    def key(self, row: MinuteBar) -> Key:
        return row.code, row.trade_date

    def problem(self, row: MinuteBar) -> str | None:
        return bar_problem(row)

    def check(
        self, rows: Sequence[MinuteBar], period: Period
    ) -> tuple[list[MinuteBar], list[RejectedRow]]:
        """Whole sound days, and the rejected bars (every bar of a day with a faulty one)."""
        days: dict[Key, list[MinuteBar]] = defaultdict(list)
        for row in rows:
            days[self.key(row)].append(row)
        grid = bar_times(period)
        good: list[MinuteBar] = []
        rejected: list[RejectedRow] = []
        for bars in days.values():
            reason = _day_problem(bars, period, grid)
            if reason is None:
                good.extend(sorted(bars, key=lambda b: b.bar_time))
            else:
                rejected.extend(self.reject(b, reason, period) for b in bars)
        return good, rejected

    def reject(self, row: MinuteBar, reason: str, period: Period) -> RejectedRow:
        return RejectedRow(self.name.value, row.code, row.trade_date, reason, row, period.value)

    def write(self, conn: Connection, rows: Sequence[MinuteBar], *, source: str) -> int:
        ensure_partitions(conn, {r.bar_time.date().replace(day=1) for r in rows})
        # checked rows only (codes canonical, prices finite): one f-string a row, no escaping
        lines = (f"{r.code}\t{r.period.value}\t{r.bar_time.isoformat(' ')}\t{r.open!r}\t"
                 f"{r.high!r}\t{r.low!r}\t{r.close!r}\t{r.volume}\t{r.amount!r}\t{source}\n"
                 for r in rows)  # fmt: skip
        return copy_merge(conn, self.table, COLUMNS, COLUMNS[:3], COLUMNS[3:9], (), lines=lines)

    def fetch_market(self, source: Source, period: Period, day: dt.date) -> list[MinuteBar]:
        return source.market_minute_bars(period, day)

    def fetch_stock(
        self, source: Source, period: Period, code: str, start: dt.date, end: dt.date
    ) -> list[MinuteBar]:
        return source.minute_bars(code, period, start, end)


MINUTE_BARS = MinuteBarsDataset()


def _day_problem(bars: list[MinuteBar], period: Period, grid: list[dt.time]) -> str | None:
    expected = TRADING_MINUTES // (period.minutes or 1)
    times = sorted(b.bar_time.time() for b in bars)
    if any(b.period is not period for b in bars):
        return f"a bar of another period than {period}"
    if len(times) != expected or times != grid:
        off = sorted(set(times) - set(grid))
        return (f"{len(times)} of {expected} {period} bars" +
                (f"; off the grid: {', '.join(t.isoformat('minutes') for t in off[:3])}"
                 if off else ""))  # fmt: skip
    for bar in bars:
        if (problem := bar_problem(bar)) is not None:
            return f"{bar.bar_time.time().isoformat('minutes')}: {problem}"
    return None


def partition_name(month: dt.date) -> str:
    return f"minute_bars_{month.year:04d}{month.month:02d}"


def ensure_partitions(conn: Connection, months: Iterable[dt.date]) -> None:
    """Create the monthly partitions ``months`` need, each in a short transaction of its own
    (so the parent's lock is not held through the unit's write), once: an advisory lock keeps
    two workers from creating the same one."""
    missing = [m for m in sorted(set(months))
               if conn.execute(text("SELECT to_regclass(:name)"),
                               {"name": partition_name(m)}).scalar() is None]  # fmt: skip
    if not missing:
        return
    with conn.engine.begin() as ddl:
        for month in missing:
            following = (month + dt.timedelta(days=32)).replace(day=1)
            ddl.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                        {"name": partition_name(month)})  # fmt: skip
            ddl.execute(text(
                f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF minute_bars "
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"
            ))  # fmt: skip
