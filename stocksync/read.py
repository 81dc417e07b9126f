"""The reader researchers call after a sync: the store as pandas DataFrames.

    from stocksync import read
    frame = read.bars(index="000300.SH", start="2024-01-02", end="2024-12-31", adjust="qfq")

Every function reads PostgreSQL only (no Redis, no Flask, no Celery) and starts nothing unless
asked: it uses ``STOCKSYNC_DATABASE_URL``, or the embedded PostgreSQL under the data directory
when it is running (``read.connect(start=True)`` starts it; ``store="sim"`` reads the simulated
store). Rows leave PostgreSQL through ``COPY … TO STDOUT`` into a spooled file that pyarrow's
CSV reader parses, so ten million rows cost ten million rows of columns, never of Python
objects. Frames are long (one row per code and date), typed (dates as ``datetime64``, codes as
``category``, prices as ``float64``) and sorted by code and date.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from stocksync.codes import normalize_code
from stocksync.config import SIM_STORE, Settings, get_settings
from stocksync.domain import Period
from stocksync.embedded import postgres as pg
from stocksync.embedded.resolve import postgres_dir, resolve_service_urls
from stocksync.embedded.stores import sim_database_url
from stocksync.errors import InvalidRequest, ServiceUnavailable
from stocksync.market.index_reading import find_index
from stocksync.runs.spec import parse_date
from stocksync.storage.engine import make_engine

BAR_FIELDS = ("open", "high", "low", "close", "pre_close", "volume", "amount", "turnover_pct",
              "pct_chg", "trade_status", "is_st")  # fmt: skip
MINUTE_FIELDS = ("open", "high", "low", "close", "volume", "amount")
PRICES = ("open", "high", "low", "close", "pre_close")
ADJUSTS = (None, "qfq", "hfq")
SPOOL_BYTES = 64 << 20  # COPY output kept in memory up to this, on disk beyond


@dataclass
class Reader:
    """A connection to one store's database; the module's functions use a default one."""

    engine: Engine

    def frame(self, sql: str, params: dict[str, Any], types: dict[str, str]) -> pd.DataFrame:
        """The rows of ``sql`` (bound with ``params``) as a typed frame, through COPY."""
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            query = cursor.mogrify(sql, params).decode()
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
                cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)", spool)
                spool.seek(0)
                data = pd.read_csv(spool, engine="pyarrow")  # type: ignore[arg-type]
        finally:
            raw.close()
        return _typed(data, types)


def _typed(data: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    for name, kind in types.items():
        if name not in data:
            continue
        if kind == "date":
            data[name] = pd.to_datetime(data[name])
        elif kind == "bool":
            data[name] = data[name].map({"t": True, "f": False, True: True, False: False})
        else:
            data[name] = data[name].astype(kind)
    return data.reset_index(drop=True)


_default: Reader | None = None


def connect(
    database_url: str | None = None, *, store: str | None = None, start: bool = False
) -> Reader:
    """Read from ``database_url``, or from the configured store (``STOCKSYNC_DATABASE_URL`` or
    the embedded PostgreSQL; ``store="sim"`` for the simulated one). The embedded server is
    started only when ``start`` is true; otherwise a server that is not running is a
    :class:`ServiceUnavailable` saying how to start it. Becomes the module's default reader."""
    global _default
    settings = get_settings()
    if store is not None:
        settings = settings.with_overrides(store=store)
    _default = Reader(make_engine(database_url or _database_url(settings, start), pool_size=2))
    return _default


def _database_url(settings: Settings, start: bool) -> str:
    if start:
        return resolve_service_urls(settings, start=True).database_url
    url = settings.database_url
    if not url:
        info = pg.find_postgres(postgres_dir(settings))
        if info is None or not info.ready:
            raise ServiceUnavailable(
                f"the embedded PostgreSQL in {postgres_dir(settings)} is not running: run "
                "`stocksync services start`, call read.connect(start=True), or set "
                "STOCKSYNC_DATABASE_URL"
            )
        url = pg.database_url(info)
    return sim_database_url(url) if settings.store == SIM_STORE else url


def _reader() -> Reader:
    return _default or connect()


def _codes(codes: str | Sequence[str] | None) -> list[str] | None:
    if codes is None:
        return None
    given = [codes] if isinstance(codes, str) else list(codes)
    found = [normalize_code(c) for c in given]
    if not found:
        raise InvalidRequest("codes is empty; leave it out for every stock", field="codes")
    return found


def _day(value: str | dt.date | None, field: str) -> dt.date:
    return parse_date(value, field)


def bars(
    codes: str | Sequence[str] | None = None,
    *,
    index: str | None = None,
    start: str | dt.date,
    end: str | dt.date,
    period: str = "daily",
    adjust: str | None = None,
    fields: Sequence[str] | None = None,
    as_of: str | dt.date | None = None,
) -> pd.DataFrame:
    """Stored bars of ``codes`` (or every stock, or with ``index`` the index's members on each
    date: its latest snapshot on or before that date) from ``start`` to ``end``.

    ``adjust``: None (raw), ``"hfq"`` (× the day's factor) or ``"qfq"`` (× the day's factor ÷
    the stock's latest stored factor, or its factor on ``as_of``); prices rounded to 4 places.
    Columns: code, trade_date (``bar_time`` for minute periods: the minute a bar ends), then
    ``fields`` (default all of :data:`BAR_FIELDS`, or :data:`MINUTE_FIELDS`), and ``factor``
    when adjusting (a minute bar takes its day's factor). A bar that needs a factor that is
    not stored is an InvalidRequest (nothing is silently left raw)."""
    first, last = _day(start, "start"), _day(end, "end")
    if first > last:
        raise InvalidRequest(f"start {first} is after end {last}", field="start")
    try:
        chosen = Period(period)
    except ValueError:
        names = ", ".join(p.value for p in Period)
        raise InvalidRequest(f"period {period!r} is unknown; use {names}", field="period") from None
    if adjust not in ADJUSTS:
        raise InvalidRequest(f"adjust {adjust!r} is unknown; use None, qfq or hfq", field="adjust")
    minute = chosen.intraday
    table, day, stamp = (("minute_bars", "b.bar_time::date", "b.bar_time") if minute
                         else ("bars", "b.trade_date", "b.trade_date"))  # fmt: skip
    known = MINUTE_FIELDS if minute else BAR_FIELDS
    wanted = list(fields or known)
    if unknown := [f for f in wanted if f not in known]:
        raise InvalidRequest(f"unknown field(s) {', '.join(unknown)}", field="fields")
    params: dict[str, Any] = {"period": chosen.value, "start": first, "end": last}
    where = ["b.period = %(period)s", f"{day} BETWEEN %(start)s AND %(end)s"]
    joins = []
    if (listed := _codes(codes)) is not None:
        where.append("b.code = ANY(%(codes)s)")
        params["codes"] = listed
    if index is not None:
        params["index"] = find_index(index).code
        joins.append(
            "JOIN (SELECT d.day, (SELECT max(m.trade_date) FROM index_members m WHERE "
            "m.index_code = %(index)s AND m.trade_date <= d.day) AS snap FROM (SELECT "
            "DISTINCT cal_date AS day FROM trade_calendar WHERE is_open AND cal_date BETWEEN "
            f"%(start)s AND %(end)s) d) s ON s.day = {day} "
            "JOIN index_members im ON im.index_code = %(index)s AND im.trade_date = s.snap "
            "AND im.code = b.code"
        )
    columns = [f"b.{f}" for f in wanted if f not in PRICES]
    if adjust is None:
        columns += [f"b.{f}" for f in wanted if f in PRICES]
    else:
        joins.append(f"LEFT JOIN adj_factors f ON f.code = b.code AND f.trade_date = {day}")
        scale = "f.factor"
        if adjust == "qfq":
            base = "(SELECT g.factor FROM adj_factors g WHERE g.code = b.code"
            if as_of is not None:
                params["as_of"] = _day(as_of, "as_of")
                base += " AND g.trade_date <= %(as_of)s"
            scale = f"f.factor / {base} ORDER BY g.trade_date DESC LIMIT 1)"
        columns += [f"round(b.{f} * {scale}, 4) AS {f}" for f in wanted if f in PRICES]
        columns.append("f.factor")
    time_column = "bar_time" if minute else "trade_date"
    sql = (f"SELECT b.code, {stamp} AS {time_column}, {', '.join(columns)} FROM {table} b "
           f"{' '.join(joins)} WHERE {' AND '.join(where)} ORDER BY b.code, {stamp}")  # fmt: skip
    numbers = (*PRICES, "amount", "turnover_pct", "pct_chg", "factor")
    types = {"code": "category", time_column: "date", "is_st": "bool", "volume": "int64",
             **dict.fromkeys(numbers, "float64")}  # fmt: skip
    frame = _reader().frame(sql, params, types)
    if adjust is not None and frame["factor"].isna().any():
        gap = frame[frame["factor"].isna()].iloc[0]
        raise InvalidRequest(
            f"{adjust} needs the adjustment factors of {gap['code']} from "
            f"{gap[time_column].date()}, which are not stored; sync adj_factors first",
            field="adjust",
        )
    order = ["code", time_column, *wanted] + (["factor"] if adjust else [])
    return frame[order]


def universe(date: str | dt.date, index: str | None = None) -> pd.DataFrame:
    """The stocks listed on ``date`` (code, name, exchange, board, list and delist dates), or
    with ``index`` its members then and their weights (percent)."""
    day = _day(date, "date")
    if index is not None:
        sql = (
            "SELECT m.code, s.name, m.weight, m.trade_date AS snapshot FROM index_members m "
            "LEFT JOIN securities s ON s.code = m.code WHERE m.index_code = %(index)s AND "
            "m.trade_date = (SELECT max(trade_date) FROM index_members WHERE index_code = "
            "%(index)s AND trade_date <= %(day)s) ORDER BY m.code"
        )
        params = {"index": find_index(index).code, "day": day}
        return _reader().frame(sql, params, {"code": "category", "weight": "float64",
                                             "snapshot": "date"})  # fmt: skip
    sql = (
        "SELECT code, name, exchange, board, list_date, delist_date FROM securities WHERE "
        "list_date <= %(day)s AND (delist_date IS NULL OR delist_date > %(day)s) ORDER BY code"
    )
    return _reader().frame(sql, {"day": day}, {"code": "category", "list_date": "date",
                                               "delist_date": "date"})  # fmt: skip


def calendar(start: str | dt.date, end: str | dt.date) -> pd.DatetimeIndex:
    """The stored trading days from ``start`` to ``end``."""
    sql = ("SELECT DISTINCT cal_date AS trade_date FROM trade_calendar WHERE is_open AND "
           "cal_date BETWEEN %(start)s AND %(end)s ORDER BY trade_date")  # fmt: skip
    params = {"start": _day(start, "start"), "end": _day(end, "end")}
    frame = _reader().frame(sql, params, {"trade_date": "date"})
    return pd.DatetimeIndex(frame["trade_date"], name="trade_date")


def financials(
    codes: str | Sequence[str] | None = None, *, as_of: str | dt.date | None = None
) -> pd.DataFrame:
    """Every report period of ``codes`` (or every stock) as known on ``as_of`` (default today):
    per period the latest version announced on or before it — a later restatement unseen."""
    day = _day(as_of, "as_of") if as_of is not None else dt.date.today()
    params: dict[str, Any] = {"day": day}
    where = "announce_date <= %(day)s"
    if (listed := _codes(codes)) is not None:
        where += " AND code = ANY(%(codes)s)"
        params["codes"] = listed
    sql = (
        "SELECT DISTINCT ON (code, report_period) code, report_period, announce_date, eps, roe, "
        "revenue, net_profit, revenue_yoy, net_profit_yoy, gross_margin, debt_ratio, "
        f"announce_estimated, source FROM financials WHERE {where} "
        "ORDER BY code, report_period, announce_date DESC"
    )
    types = {"code": "category", "report_period": "date", "announce_date": "date",
             "announce_estimated": "bool"}  # fmt: skip
    return _reader().frame(sql, params, types)


def actions(
    codes: str | Sequence[str] | None = None,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
) -> pd.DataFrame:
    """Stored corporate actions of ``codes`` (or every stock) going ex within [start, end]
    (default: all): amounts per share, in yuan."""
    params: dict[str, Any] = {
        "start": _day(start, "start") if start else dt.date(1990, 1, 1),
        "end": _day(end, "end") if end else dt.date(2100, 1, 1),
    }
    where = "ex_date BETWEEN %(start)s AND %(end)s"
    if (listed := _codes(codes)) is not None:
        where += " AND code = ANY(%(codes)s)"
        params["codes"] = listed
    sql = (
        "SELECT code, ex_date, cash_div, bonus_ratio, transfer_ratio, rights_ratio, rights_price, "
        "record_date, pay_date, announce_date, report_period, source FROM corporate_actions "
        f"WHERE {where} ORDER BY code, ex_date"
    )
    dates = ("ex_date", "record_date", "pay_date", "announce_date", "report_period")
    types = {"code": "category", **dict.fromkeys(dates, "date")}
    return _reader().frame(sql, params, types)
