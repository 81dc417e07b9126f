"""Export stored daily bars as qlib's binary data set, appending to what an earlier export wrote.

The layout is the one qlib's ``scripts/dump_bin.py`` writes and ``qlib.data.D`` reads::

    DIR/calendars/day.txt                  one trading day a line, YYYY-MM-DD
    DIR/instruments/all.txt                SH600000<TAB>first day<TAB>last day
    DIR/features/sh600000/<field>.day.bin  little-endian float32: the series' start index in
                                           the calendar, then one value a calendar day

Prices follow qlib's Yahoo collector (``YahooNormalize1d``: price × factor, then every field
divided by the first day's adjusted close), with our hfq-style factor ``F`` in place of
Yahoo's ``adjclose / close``. With ``k = F(t0) × close(t0)`` on the stock's first exported day::

    factor = F / k                       so $close / $factor is the raw close in yuan
    open, high, low, close = raw × factor   (the first day's close is 1.0)
    volume = raw shares / factor         so $volume * $factor is the raw volume in shares
    amount = raw yuan                    (adjusted price × adjusted volume is the raw amount)
    change = adjusted close ÷ the previous traded day's adjusted close − 1

A suspended day (``trade_status`` 0 or no volume) has NaN in every field but ``factor``, as
qlib's collector leaves it; a calendar day without a bar is NaN throughout.

The calendar is the days that have daily bars in the store (not ``trade_calendar``), so it never
runs ahead of what was synced. A later export appends: days after the calendar's last, and for
every stock the values after the end of each of its files, from the file's own end — nothing
already written is changed, and an export that was interrupted is finished by the next one.
A day synced only partly when it was exported stays as it was exported.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.engine import Connection

from stocksync.codes import normalize_code
from stocksync.domain import Period
from stocksync.errors import InvalidRequest
from stocksync.market.reading import Adjust, missing_factors
from stocksync.runs.spec import parse_date
from stocksync.storage.schema import adj_factors, bars

FIELDS = ("open", "close", "high", "low", "volume", "amount", "factor", "change")
PRICES = ("open", "close", "high", "low")
FLOAT = np.dtype("<f4")
DAILY = Period.DAILY.value


def qlib_symbol(code: str) -> str:
    """qlib's instrument name of a canonical code: ``600000.SH`` → ``SH600000``."""
    digits, exchange = code.split(".")
    return f"{exchange}{digits}"


def export_qlib(
    engine: Engine,
    out_dir: Path | str,
    *,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    codes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write (or extend) qlib's day data set in ``out_dir`` from the stored daily bars and
    factors: days up to ``end`` (everything stored when left out); ``start`` bounds the first
    export's calendar (a later export continues from the calendar's last day and refuses a
    ``start`` that would leave days out); ``codes`` limits the stocks. Returns what was written:
    days appended, the calendar's extent, stocks extended or created, files and values written.
    InvalidRequest for bad parameters, or when a bar has no stored factor (checked before
    anything is written)."""
    first = None if start is None else parse_date(start, "start")
    last = None if end is None else parse_date(end, "end")
    if first and last and first > last:
        raise InvalidRequest(f"start {first} is after end {last}; swap them", field="start")
    wanted = None if codes is None else sorted({normalize_code(c) for c in codes})
    if wanted is not None and not wanted:
        raise InvalidRequest(
            "symbols is empty; leave it out to export every stock", field="symbols"
        )
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise InvalidRequest(f"{root} is not a directory", field="out")
    calendar = _read_calendar(root / "calendars" / "day.txt")
    snapshot = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**snapshot) as conn, conn.begin():
        new_days = _new_days(conn, calendar, first, last)
        calendar += new_days
        report: dict[str, Any] = {
            "out": str(root),
            "days_appended": len(new_days),
            "calendar_days": len(calendar),
            "first_day": calendar[0].isoformat() if calendar else None,
            "last_day": calendar[-1].isoformat() if calendar else None,
            "stocks": 0,
            "stocks_created": 0,
            "files": 0,
            "values": 0,
        }
        if not calendar:
            return report
        extents = _extents(conn, calendar[0], calendar[-1], wanted)
        _check_factors(conn, calendar[0], calendar[-1], wanted)
        if new_days:
            _write_lines(root / "calendars" / "day.txt", [d.isoformat() for d in calendar])
        instruments = _read_instruments(root / "instruments" / "all.txt")
        index = {day: i for i, day in enumerate(calendar)}
        for code, (begin, finish) in extents.items():
            symbol = qlib_symbol(code)
            known = instruments.get(symbol)
            begin = begin if known is None or known[0] not in index else known[0]
            files, values = _extend_stock(conn, root, code, calendar, index, begin, finish)
            if files:
                report["stocks"] += 1
                report["stocks_created"] += known is None
                report["files"] += files
                report["values"] += values
            instruments[symbol] = (begin, finish if known is None else max(known[1], finish))
        _write_lines(
            root / "instruments" / "all.txt",
            [f"{s}\t{a.isoformat()}\t{b.isoformat()}" for s, (a, b) in sorted(instruments.items())],
        )
    return report


def _new_days(
    conn: Connection, calendar: list[dt.date], first: dt.date | None, last: dt.date | None
) -> list[dt.date]:
    """The stored bar days to add after the calendar's end (from ``first`` on a first export)."""
    query = select(bars.c.trade_date).where(bars.c.period == DAILY).distinct()
    if calendar:
        query = query.where(bars.c.trade_date > calendar[-1])
    elif first:
        query = query.where(bars.c.trade_date >= first)
    if last:
        query = query.where(bars.c.trade_date <= last)
    days = list(conn.scalars(query.order_by(bars.c.trade_date)))
    if calendar and first and days and days[0] < first:
        raise InvalidRequest(
            f"the qlib data in this directory ends on {calendar[-1]}, and appending from "
            f"{first} would leave out {days[0]}; leave start out to continue it",
            field="start",
        )
    return days


def _extents(
    conn: Connection, first: dt.date, last: dt.date, codes: list[str] | None
) -> dict[str, tuple[dt.date, dt.date]]:
    """Each stock's first and last daily bar within the calendar."""
    query = select(bars.c.code, func.min(bars.c.trade_date), func.max(bars.c.trade_date)).where(
        bars.c.period == DAILY, bars.c.trade_date.between(first, last)
    )
    if codes is not None:
        query = query.where(bars.c.code.in_(codes))
    rows = conn.execute(query.group_by(bars.c.code).order_by(bars.c.code))
    return {code: (a, b) for code, a, b in rows}


def _check_factors(
    conn: Connection, first: dt.date, last: dt.date, codes: list[str] | None
) -> None:
    on = (adj_factors.c.code == bars.c.code) & (adj_factors.c.trade_date == bars.c.trade_date)
    query = (
        select(bars.c.code, func.min(bars.c.trade_date), func.count())
        .select_from(bars.join(adj_factors, on, isouter=True))
        .where(
            bars.c.period == DAILY,
            bars.c.trade_date.between(first, last),
            adj_factors.c.factor.is_(None),
        )
    )
    if codes is not None:
        query = query.where(bars.c.code.in_(codes))
    missing = conn.execute(query.group_by(bars.c.code).order_by(bars.c.code)).all()
    if missing:
        code, day, _ = missing[0]
        who = code if len(missing) == 1 else f"{code} and {len(missing) - 1} other stock(s)"
        error = missing_factors(Adjust.HFQ, who, sum(n for *_, n in missing), day)
        raise InvalidRequest(str(error).replace("hfq", "qlib export", 1), field="format")


def _extend_stock(
    conn: Connection,
    root: Path,
    code: str,
    calendar: list[dt.date],
    index: dict[dt.date, int],
    begin: dt.date,
    finish: dt.date,
) -> tuple[int, int]:
    """Append one stock's values from each file's end to ``finish``; (files, values) written."""
    folder = root / "features" / qlib_symbol(code).lower()
    start_at, stop_at = index[begin], index[finish]
    ends = {name: _file_end(folder / f"{name}.day.bin", start_at) for name in FIELDS}
    resume_at = min(ends.values()) + 1
    if resume_at > stop_at:
        return 0, 0
    rows = _rows(conn, code, begin, calendar[resume_at], finish)
    base = rows[0] if rows and rows[0][0] == begin else None
    if base is None:
        raise InvalidRequest(f"{code} has no stored bar on {begin}, its first day here")
    scale = base[2] * base[6]  # close × factor on the first day: the adjusted close made 1.0
    series = _series(rows, index, resume_at, stop_at, scale)
    folder.mkdir(parents=True, exist_ok=True)
    files = values = 0
    for name in FIELDS:
        end_at = ends[name]
        if end_at >= stop_at:
            continue
        tail = series[name][end_at + 1 - resume_at :]
        path = folder / f"{name}.day.bin"
        with open(path, "ab") as handle:
            if end_at < start_at:  # a new file: the start index first
                np.array([start_at], dtype=FLOAT).tofile(handle)
            tail.astype(FLOAT).tofile(handle)
        files += 1
        values += len(tail)
    return files, values


def _file_end(path: Path, start_at: int) -> int:
    """The calendar index of a file's last value (``start_at - 1`` when there is no file). A
    torn last value, left by an interrupted write, is cut off to be written again."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return start_at - 1
    if size % FLOAT.itemsize:
        os.truncate(path, size - size % FLOAT.itemsize)
    if size < FLOAT.itemsize:
        path.unlink()
        return start_at - 1
    header = int(np.fromfile(path, dtype=FLOAT, count=1)[0])
    if header != start_at:
        raise InvalidRequest(
            f"{path} starts at calendar day {header}, not {start_at} as instruments/all.txt "
            "says; export into a new directory",
            field="out",
        )
    return start_at + size // FLOAT.itemsize - 2


def _rows(conn: Connection, code: str, begin: dt.date, frm: dt.date, to: dt.date) -> list[Any]:
    """The stock's bars to write (``frm`` to ``to``), after its first day's bar and its last
    traded bar before ``frm`` (for ``change``), as (date, open, close, high, low, volume,
    factor, amount, traded) with numbers as doubles."""
    on = (adj_factors.c.code == bars.c.code) & (adj_factors.c.trade_date == bars.c.trade_date)
    traded = and_(bars.c.trade_status != 0, bars.c.volume > 0)
    before = (
        select(func.max(bars.c.trade_date))
        .where(
            bars.c.code == code,
            bars.c.period == DAILY,
            bars.c.trade_date.between(begin, frm - dt.timedelta(days=1)),
            traded,
        )
        .scalar_subquery()
    )
    query = (
        select(
            bars.c.trade_date,
            *(bars.c[name].cast(DOUBLE_PRECISION) for name in ("open", "close", "high", "low")),
            bars.c.volume.cast(DOUBLE_PRECISION),
            adj_factors.c.factor.cast(DOUBLE_PRECISION),
            bars.c.amount.cast(DOUBLE_PRECISION),
            traded.label("traded"),
        )
        .select_from(bars.join(adj_factors, on))
        .where(
            bars.c.code == code,
            bars.c.period == DAILY,
            or_(
                bars.c.trade_date == begin,
                bars.c.trade_date == before,
                bars.c.trade_date.between(frm, to),
            ),
        )
        .order_by(bars.c.trade_date)
    )
    return list(conn.execute(query))


def _series(
    rows: list[Any], index: dict[dt.date, int], resume_at: int, stop_at: int, scale: float
) -> dict[str, np.ndarray]:
    """Every field's float64 values for calendar days ``resume_at`` to ``stop_at``."""
    size = stop_at - resume_at + 1
    out = {name: np.full(size, np.nan) for name in FIELDS}
    previous: float | None = None  # the last traded day's close × factor
    for day, open_, close, high, low, volume, factor, amount, traded in rows:
        if day not in index:  # stored after its day was exported: not part of this data set
            continue
        at = index[day] - resume_at
        if at >= 0:
            out["factor"][at] = factor / scale
        if not traded:
            continue
        adjusted = close * factor
        if at >= 0:
            ratio = factor / scale
            for name, value in zip(PRICES, (open_, close, high, low), strict=True):
                out[name][at] = value * ratio
            out["volume"][at] = volume / ratio
            out["amount"][at] = amount
            if previous is not None:
                out["change"][at] = adjusted / previous - 1
        previous = adjusted
    return out


def _read_calendar(path: Path) -> list[dt.date]:
    if not path.exists():
        return []
    return [dt.date.fromisoformat(line) for line in path.read_text().split()]


def _read_instruments(path: Path) -> dict[str, tuple[dt.date, dt.date]]:
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            symbol, first, last = line.split("\t")[:3]
            out[symbol] = (dt.date.fromisoformat(first[:10]), dt.date.fromisoformat(last[:10]))
    return out


def _write_lines(path: Path, lines: list[str]) -> None:
    """Replace ``path`` with ``lines`` at once: written beside it, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{line}\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


__all__ = ["FIELDS", "export_qlib", "qlib_symbol"]
