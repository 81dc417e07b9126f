"""A fake tushare pro server: the simulated market over tushare's HTTP protocol.

It speaks the protocol exactly as ``tushare/pro/client.py`` uses it: ``POST {base}/{api_name}``
with a JSON body ``{api_name, token, params, fields}``, answered by
``{"code": 0, "msg": "", "data": {"fields": [...], "items": [[...]], "has_more": false}}``; an
error is ``{"code": N, "msg": "...", "data": null}``. Data comes in tushare's units and forms:
``ts_code`` like ``600000.SH``, dates as ``YYYYMMDD`` strings, ``vol`` in lots (手), ``amount``
in thousands of yuan (千元), ``daily_basic``'s ``total_mv`` / ``circ_mv`` in ten thousands of yuan
(万元) and ``pe_ttm`` null for a loss-making stock, rows newest first, suspended days absent, at
most ``page_rows`` rows per call from ``offset`` (``caps`` per API where tushare documents its
own: ``index_daily`` 8,000, ``index_weekly`` / ``index_monthly`` 1,000). Index bars are the
simulated main indices, one ``ts_code`` per call (``index_weekly`` / ``index_monthly`` also take
``trade_date`` alone: every index); an unknown ``ts_code`` gets an empty table; without
``fields``, ``index_monthly`` leaves ``vol`` and ``amount`` out (not 默认显示). ``index_weight``
serves the simulated index members (see :meth:`FakeTushare._index_weights`): weights in percent,
``con_code`` like ``600000.SH``, CSI 300 only as ``399300.SZ``, irregular snapshot dates, at most
6,000 rows a call (a cap of our choosing: tushare's own is unverified). The stock events
(``dividend``, ``namechange``, ``fina_indicator``, ``income``, and the share capital and
industry columns of ``daily_basic`` and ``stock_basic``) are served by
``fake_tushare_events.py``, the minute bars (``stk_mins``, with their own permission) by
``fake_tushare_minutes.py``.

Every request obeys :class:`faults.Faults` (see there) and is recorded (api name and time, and
in :attr:`FakeTushare.calls` its params and fields), so tests can count calls and check rate
limits and what was asked; ``per_minute_limit`` makes the server enforce a
per-minute limit of its own with tushare's reply (over ``window_s``, a minute unless a test
shortens it), and :meth:`FakeTushare.force` queues
arbitrary error replies.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fake_tushare_events import (  # type: ignore[import-not-found]
    EVENT_CAPS,
    EVENT_HIDDEN,
    EventWire,
    beijing_today,
)
from fake_tushare_minutes import (  # type: ignore[import-not-found]
    MINUTE_CAPS,
    FreqNotSimulated,
    MinuteWire,
)
from faults import Faults  # type: ignore[import-not-found]

from stocksync.datasets.indices import MAIN_INDICES
from stocksync.domain import (
    Bar,
    Board,
    Exchange,
    IndexBar,
    IndexMember,
    Period,
    Security,
    Valuation,
)
from stocksync.sim import SimMarket
from stocksync.sim.members import MEMBER_INDICES

TEST_TOKEN = "tk-7f3a9c1e5b2d4f608a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d"
BASE_PATH = "/dataapi"
CALENDAR_START = dt.date(2005, 1, 1)  # the simulated calendar's span
CALENDAR_END = dt.date(2026, 12, 31)
STALL_MAX_S = 30.0

MSG_TOKEN = "您的token不对，请确认。"
MSG_PERMISSION = (
    "抱歉，您没有访问该接口的权限，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
)
MSG_DAILY_LIMIT = "抱歉，您每天最多访问该接口20000次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"
MSG_INTERNAL = "-1000 系统内部错误"


def per_minute_message(n: int) -> str:
    return f"抱歉，您每分钟最多访问该接口{n}次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。"


BAR_FIELDS = [
    "ts_code", "trade_date", "open", "high", "low", "close", "pre_close", "change", "pct_chg",
    "vol", "amount",
]  # fmt: skip
BASIC_FIELDS = [
    "ts_code", "symbol", "name", "area", "industry", "market", "exchange", "list_status",
    "list_date", "delist_date",
]  # fmt: skip
VALUATION_FIELDS = [
    "ts_code", "trade_date", "close", "pe_ttm", "pb", "total_share", "float_share", "total_mv",
    "circ_mv",
]  # fmt: skip
INDEX_FIELDS = [
    "ts_code", "trade_date", "close", "open", "high", "low", "pre_close", "change", "pct_chg",
    "vol", "amount",
]  # fmt: skip
INDEX_APIS = {
    "index_daily": Period.DAILY,
    "index_weekly": Period.WEEKLY,
    "index_monthly": Period.MONTHLY,
}
INDEX_CAPS = {
    "index_daily": 8000, "index_weekly": 1000, "index_monthly": 1000, "index_weight": 6000,
}  # fmt: skip
CAPS = {**INDEX_CAPS, **EVENT_CAPS, **MINUTE_CAPS}
MEMBER_FIELDS = ["index_code", "con_code", "trade_date", "weight"]
MEMBER_WIRE_CODES = {"399300.SZ": "000300.SH"}  # CSI 300 answers only under its SZ code
MEMBER_SILENT_CODES = frozenset({"000300.SH"})  # answered with an empty table (issues/801)
REVIEW_MONTHS = (1, 7)  # months with an early snapshot still holding the previous members
DAILY_SNAPSHOT_MONTHS = frozenset({("000905.SH", 2011, 8)})  # a snapshot every trading day
HIDDEN_FIELDS = {"index_monthly": frozenset({"vol", "amount"}), **EVENT_HIDDEN}  # when named
_PERIOD = {"daily": Period.DAILY, "weekly": Period.WEEKLY, "monthly": Period.MONTHLY}
_EXCHANGE = {Exchange.SH: "SSE", Exchange.SZ: "SZSE", Exchange.BJ: "BSE"}
_MARKET = {Board.MAIN: "主板", Board.STAR: "科创板", Board.CHINEXT: "创业板", Board.BSE: "北交所"}


def ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _date(text: object, default: dt.date) -> dt.date:
    if not text:
        return default
    s = str(text)
    return dt.date(int(s[:4]), int(s[4:6]), int(s[6:8]))


def wire_bar(bar: Bar) -> dict[str, Any]:
    """One bar as tushare's ``daily`` row: vol in lots, amount in thousands of yuan."""
    pre = bar.pre_close or 0.0
    return {
        "ts_code": bar.code,
        "trade_date": ymd(bar.trade_date),
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "pre_close": bar.pre_close,
        "change": round(bar.close - pre, 2),
        "pct_chg": round((bar.close / pre - 1.0) * 100.0, 4) if pre else None,
        "vol": bar.volume / 100,
        "amount": bar.amount / 1000,
    }


def wire_index_bar(bar: IndexBar) -> dict[str, Any]:
    """One index bar as tushare's ``index_daily`` row: points, vol in lots, amount in 千元."""
    pre = bar.pre_close or 0.0
    return {
        "ts_code": bar.code,
        "trade_date": ymd(bar.trade_date),
        "close": bar.close,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "pre_close": bar.pre_close,
        "change": round(bar.close - pre, 4),
        "pct_chg": round((bar.close / pre - 1.0) * 100.0, 4) if pre else None,
        "vol": bar.volume / 100,
        "amount": bar.amount / 1000,
    }


def wire_member(index_code: str, member: IndexMember, day: dt.date) -> dict[str, Any]:
    """One member as tushare's ``index_weight`` row of the snapshot dated ``day``."""
    return {
        "index_code": index_code,
        "con_code": member.code,
        "trade_date": ymd(day),
        "weight": member.weight,
    }


def wire_valuation(value: Valuation, close: float) -> dict[str, Any]:
    """One valuation as tushare's ``daily_basic`` row: market values in 万元 at full precision
    (so x10000 gives the yuan back), ``pe_ttm`` null while loss-making."""
    return {
        "ts_code": value.code,
        "trade_date": ymd(value.trade_date),
        "close": close,
        "pe_ttm": value.pe_ttm,
        "pb": value.pb,
        "total_share": None,  # filled in from the truth's profiles when sent (EventWire.fill)
        "float_share": None,
        "total_mv": None if value.total_mv is None else value.total_mv / 10000,
        "circ_mv": None if value.circ_mv is None else value.circ_mv / 10000,
    }


class FakeTushare:
    """The server. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(self, market: SimMarket, *, token: str = TEST_TOKEN, page_rows: int = 6000):
        self.market = market
        self.token = token
        self.page_rows = self._default_page_rows = page_rows
        self.faults = Faults()
        self.per_minute_limit: int | None = None  # the server's own limit, None: unlimited
        self.window_s = 60.0  # its window (tushare's is a minute; tests may shorten it)
        self.unpublished: set[dt.date] = set()  # dates whose bars/factors are not out yet
        self.withheld: set[str] = set()  # codes answered as an empty table (a lagging source)
        self.requests: list[tuple[float, str]] = []  # (time.time(), api_name) of every request
        self.calls: list[tuple[str, dict[str, Any], str]] = []  # (api_name, params, fields)
        self.caps = dict(CAPS)  # per-call row caps of the APIs that have their own
        self.events = EventWire(market)  # dividend, namechange, fina_indicator, income
        self.minutes = MinuteWire(market)  # stk_mins
        self._accepted: collections.deque[float] = collections.deque()
        self._forced: collections.deque[tuple[int, str]] = collections.deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{BASE_PATH}"

    def start(self) -> FakeTushare:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.faults.clear()  # releases stalled handlers
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTushare:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to a healthy server: no faults, limits, forced replies or recorded requests."""
        self.faults.clear()
        with self._lock:
            self.per_minute_limit = None
            self.window_s = 60.0
            self.unpublished.clear()
            self.withheld.clear()
            self.requests.clear()
            self.calls.clear()
            self.caps = dict(CAPS)
            self.events.today = beijing_today
            self.minutes.reset()
            self._accepted.clear()
            self._forced.clear()
            self.page_rows = self._default_page_rows

    def force(self, code: int, msg: str, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``{"code": code, "msg": msg}``."""
        with self._lock:
            self._forced.extend([(code, msg)] * times)

    def count(self, api_name: str | None = None) -> int:
        with self._lock:
            return sum(1 for _, api in self.requests if api_name in (None, api))

    # -- the protocol --------------------------------------------------------------------
    def answer(self, api_name: str, body: dict[str, Any]) -> tuple[int, bytes | None]:
        """The HTTP status and body for one request (body None: drop the connection)."""
        with self._lock:
            self.requests.append((time.time(), api_name))
            self.calls.append(
                (api_name, dict(body.get("params") or {}), str(body.get("fields") or ""))
            )
        faults = self.faults.take()
        if faults.latency_s:
            time.sleep(faults.latency_s)
        if faults.drop:
            return 0, None
        if faults.stall:
            began = time.monotonic()
            while self.faults.stall and time.monotonic() - began < STALL_MAX_S:
                time.sleep(0.02)
            return 0, None  # the client has given up long ago: never answer
        if faults.server_error:
            return 500, b"<html><body><h1>500 Internal Server Error</h1></body></html>"
        if faults.bad_json:
            return 200, b"<html><body>502 Bad Gateway</body></html>"
        if faults.auth:
            return _error(40101, MSG_TOKEN)
        if faults.rate_limit:
            return _error(40203, per_minute_message(50))
        with self._lock:
            forced = self._forced.popleft() if self._forced else None
        if forced is not None:
            return _error(*forced)
        if body.get("token") != self.token:
            return _error(40101, MSG_TOKEN)
        if self._over_limit():
            return _error(40203, per_minute_message(self.per_minute_limit or 0))
        handler = self._apis().get(api_name)
        if handler is None:
            return _error(-2001, "请指定正确的接口名")
        if self.minutes.refuses(api_name):  # a permission of its own, not points
            return _error(40203, MSG_PERMISSION)
        params = body.get("params") or {}
        try:
            rows, fields = handler(params)
        except FreqNotSimulated as exc:
            return _error(-2002, str(exc))
        if self.withheld and api_name != "stock_basic":  # an empty table (columns kept)
            rows = [r for r in rows if r.get("ts_code", r.get("index_code")) not in self.withheld]
        if faults.garbage and (api_name in _PERIOD or api_name in INDEX_APIS):
            rows = _garble(rows)
        elif faults.garbage and api_name == "index_weight":
            rows = _garble_members(rows)
        elif faults.garbage and api_name == "daily_basic":
            rows = _garble_valuations(rows)
        offset = int(params.get("offset") or 0)
        cap = self.caps.get(api_name, self.page_rows)
        limit = min(int(params.get("limit") or cap), cap)
        rows = rows[offset : offset + limit]
        wanted = [f.strip() for f in str(body.get("fields") or "").split(",") if f.strip()]
        hidden = HIDDEN_FIELDS.get(api_name, frozenset())
        columns = (
            [f for f in wanted if f in fields] if wanted else [f for f in fields if f not in hidden]
        )
        self.events.fill(api_name, rows, columns)
        data = {
            "fields": columns,
            "items": [[row.get(c) for c in columns] for row in rows],
            "has_more": False,
        }
        return 200, json.dumps({"code": 0, "msg": "", "data": data}).encode()

    def _over_limit(self) -> bool:
        with self._lock:
            if not self.per_minute_limit:
                return False
            now = time.monotonic()
            while self._accepted and self._accepted[0] <= now - self.window_s:
                self._accepted.popleft()
            if len(self._accepted) >= self.per_minute_limit:
                return True
            self._accepted.append(now)
            return False

    def _apis(
        self,
    ) -> dict[str, Callable[[dict[str, Any]], tuple[list[dict[str, Any]], list[str]]]]:
        return {
            "daily": lambda p: (self._bars(Period.DAILY, p), BAR_FIELDS),
            "weekly": lambda p: (self._bars(Period.WEEKLY, p), BAR_FIELDS),
            "monthly": lambda p: (self._bars(Period.MONTHLY, p), BAR_FIELDS),
            "adj_factor": lambda p: (self._factors(p), ["ts_code", "trade_date", "adj_factor"]),
            "daily_basic": lambda p: (self._valuations(p), VALUATION_FIELDS),
            "index_daily": lambda p: (self._index_bars(Period.DAILY, p), INDEX_FIELDS),
            "index_weekly": lambda p: (self._index_bars(Period.WEEKLY, p), INDEX_FIELDS),
            "index_monthly": lambda p: (self._index_bars(Period.MONTHLY, p), INDEX_FIELDS),
            "index_weight": lambda p: (self._index_weights(p), MEMBER_FIELDS),
            "trade_cal": lambda p: (
                self._calendar(p),
                ["exchange", "cal_date", "is_open", "pretrade_date"],
            ),
            "stock_basic": lambda p: (self._basic(p), BASIC_FIELDS),
            **self.events.apis(),
            **self.minutes.apis(),
        }

    def _codes(self, params: dict[str, Any]) -> list[str]:
        return [c.strip() for c in str(params.get("ts_code") or "").split(",") if c.strip()]

    def _bars(self, period: Period, params: dict[str, Any]) -> list[dict[str, Any]]:
        codes = self._codes(params)
        bars: list[Bar] = []
        if params.get("trade_date"):
            day = _date(params["trade_date"], CALENDAR_END)
            if day in self.unpublished:
                return []
            try:
                bars = self.market.bars_for_date(day, period)
            except ValueError:  # not a period end, or past the calendar
                return []
            if codes:
                bars = [b for b in bars if b.code in codes]
        else:
            start = _date(params.get("start_date"), CALENDAR_START)
            end = min(_date(params.get("end_date"), CALENDAR_END), CALENDAR_END)
            for code in codes:
                try:
                    bars += self.market.bars_for_code(code, start, end, period)
                except KeyError:
                    continue
            bars = [b for b in bars if b.trade_date not in self.unpublished]
        bars = [b for b in bars if b.trade_status == 1]  # tushare omits suspended days
        bars.sort(key=lambda b: (-b.trade_date.toordinal(), b.code))
        return [wire_bar(b) for b in bars]

    def _factors(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        codes = self._codes(params)
        if params.get("trade_date"):
            day = _date(params["trade_date"], CALENDAR_END)
            start = end = day
            if day in self.unpublished or day > CALENDAR_END:
                return []
            if not codes:
                codes = [s.code for s in self.market.securities() if s.is_listed_on(day)]
        else:
            start = _date(params.get("start_date"), CALENDAR_START)
            end = min(_date(params.get("end_date"), CALENDAR_END), CALENDAR_END)
        rows = []
        for code in codes:
            try:
                found = self.market.adj_factors(code, start, end)
            except KeyError:
                continue
            rows += [
                {"ts_code": f.code, "trade_date": ymd(f.trade_date), "adj_factor": f.factor}
                for f in found
            ]
        rows.sort(key=lambda r: (-int(r["trade_date"]), r["ts_code"]))
        return rows

    def _valuations(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """``daily_basic``: by ``trade_date`` (optionally some codes) or by ``ts_code`` over a
        range; suspended and unpublished days are absent."""
        codes = self._codes(params)
        values: list[Valuation] = []
        closes: dict[tuple[str, dt.date], float] = {}
        if params.get("trade_date"):
            day = _date(params["trade_date"], CALENDAR_END)
            if day in self.unpublished or day > CALENDAR_END:
                return []
            values = self.market.valuations_for_date(day)
            closes = {(b.code, b.trade_date): b.close for b in self.market.bars_for_date(day)}
            if codes:
                values = [v for v in values if v.code in codes]
        else:
            start = _date(params.get("start_date"), CALENDAR_START)
            end = min(_date(params.get("end_date"), CALENDAR_END), CALENDAR_END)
            for code in codes:
                try:
                    values += self.market.valuations_for_code(code, start, end)
                    bars = self.market.bars_for_code(code, start, end)
                except KeyError:
                    continue
                closes.update({(b.code, b.trade_date): b.close for b in bars})
            values = [v for v in values if v.trade_date not in self.unpublished]
        values.sort(key=lambda v: (-v.trade_date.toordinal(), v.code))
        return [wire_valuation(v, closes[(v.code, v.trade_date)]) for v in values]

    def _index_bars(self, period: Period, params: dict[str, Any]) -> list[dict[str, Any]]:
        """``index_daily`` / ``_weekly`` / ``_monthly``: one index over a range or on a
        ``trade_date``; weekly and monthly also every index on a ``trade_date`` alone."""
        codes = self._codes(params)
        if params.get("trade_date"):
            start = end = _date(params["trade_date"], CALENDAR_END)
            if not codes and period is not Period.DAILY:
                codes = [info.code for info in MAIN_INDICES]
        else:
            start = max(_date(params.get("start_date"), CALENDAR_START), CALENDAR_START)
            end = _date(params.get("end_date"), CALENDAR_END)
        end = min(end, CALENDAR_END)
        bars: list[IndexBar] = []
        for code in codes if start <= end else []:
            try:
                bars += self.market.index_bars(code, period, start, end)
            except KeyError:  # tushare answers an unknown ts_code with an empty table
                continue
        bars = [b for b in bars if b.trade_date not in self.unpublished]
        bars.sort(key=lambda b: (-b.trade_date.toordinal(), b.code))
        return [wire_index_bar(b) for b in bars]

    def _index_weights(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """``index_weight``: the snapshots of one ``index_code`` dated within ``start_date`` ..
        ``end_date`` (or on ``trade_date``), newest first.

        Each month's snapshot is the truth's, dated on the month's last trading day. Irregular
        snapshots, as tushare has them: in January and July (the review months) an extra one on
        the month's first trading day still holds the previous month's members and weights, and
        000905.SH has one on every trading day of 2011-08 (the earlier ones stale alike). CSI
        300 answers only as 399300.SZ; 000300.SH, an index without members here and an unknown
        code get an empty table."""
        asked = str(params.get("index_code") or "").strip()
        code = MEMBER_WIRE_CODES.get(asked, asked)
        if asked in MEMBER_SILENT_CODES or code not in MEMBER_INDICES:
            return []
        if params.get("trade_date"):
            start = end = _date(params["trade_date"], CALENDAR_END)
        else:
            start = max(_date(params.get("start_date"), CALENDAR_START), CALENDAR_START)
            end = _date(params.get("end_date"), CALENDAR_END)
        end = min(end, CALENDAR_END)
        if start > end:
            return []
        since = (start.replace(day=1) - dt.timedelta(days=1)).replace(day=1)  # the month before
        next_month = (end.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        until = min(next_month - dt.timedelta(days=1), CALENDAR_END)
        month_ends: dict[dt.date, list[IndexMember]] = {}
        for member in self.market.index_members(code, since, until):
            month_ends.setdefault(member.trade_date, []).append(member)
        dated: dict[dt.date, list[IndexMember]] = {}
        previous: list[IndexMember] = []
        for month_end in sorted(month_ends):
            days = self.market.trading_days(month_end.replace(day=1), month_end)
            if previous and (code, month_end.year, month_end.month) in DAILY_SNAPSHOT_MONTHS:
                dated.update({day: previous for day in days[:-1]})
            elif previous and month_end.month in REVIEW_MONTHS and len(days) > 1:
                dated[days[0]] = previous
            dated[month_end] = previous = month_ends[month_end]
        return [
            wire_member(asked, member, day)
            for day in sorted(dated, reverse=True)
            if start <= day <= end and day not in self.unpublished
            for member in sorted(dated[day], key=lambda m: m.code)
        ]

    def _calendar(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if params.get("exchange") not in (None, "", "SSE", "SZSE", "BSE"):
            return []
        start = max(_date(params.get("start_date"), CALENDAR_START), CALENDAR_START)
        end = min(_date(params.get("end_date"), CALENDAR_END), CALENDAR_END)
        if start > end:
            return []
        open_days = set(self.market.trading_days(start, end))
        before = self.market.trading_days(CALENDAR_START, start - dt.timedelta(days=1)) or [None]
        rows = []
        previous = before[-1]
        day = start
        while day <= end:
            rows.append({
                "exchange": params.get("exchange") or "SSE",
                "cal_date": ymd(day),
                "is_open": int(day in open_days),
                "pretrade_date": ymd(previous) if previous else None,
            })  # fmt: skip
            if day in open_days:
                previous = day
            day += dt.timedelta(days=1)
        wanted = params.get("is_open")
        if wanted not in (None, ""):
            rows = [r for r in rows if r["is_open"] == int(wanted)]
        return rows[::-1]

    def _basic(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        status = params.get("list_status") or "L"
        exchange = params.get("exchange") or ""
        codes = self._codes(params)
        rows = []
        for sec in self.market.securities():
            row = basic_row(sec)
            if row["list_status"] != status or (exchange and row["exchange"] != exchange):
                continue
            if codes and sec.code not in codes:
                continue
            rows.append(row)
        return rows

    # -- HTTP ----------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                prefix = BASE_PATH + "/"
                api_name = self.path[len(prefix) :]
                if not self.path.startswith(prefix) or not api_name.isidentifier():
                    self._send(404, b"<html><body>404 Not Found</body></html>")
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, b"bad request")
                    return
                status, payload = fake.answer(api_name, body)
                if payload is None:  # drop: close the socket without an HTTP response
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self._send(status, payload)

            def _send(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # the client gave up (timed out) meanwhile

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _error(code: int, msg: str) -> tuple[int, bytes]:
    return 200, json.dumps({"code": code, "msg": msg, "data": None}).encode()


def basic_row(sec: Security) -> dict[str, Any]:
    """A ``stock_basic`` row; a stock with a delisting date is listed as D."""
    return {
        "ts_code": sec.code,
        "symbol": sec.code[:6],
        "name": sec.name,
        "area": None,
        "industry": None,
        "market": _MARKET[sec.board],
        "exchange": _EXCHANGE[sec.exchange],
        "list_status": "D" if sec.delist_date else "L",
        "list_date": ymd(sec.list_date),
        "delist_date": ymd(sec.delist_date) if sec.delist_date else None,
    }


def _garble(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two corrupted rows: high below low, and vol in shares instead of lots."""
    traded = [i for i, r in enumerate(rows) if r["vol"] and r["amount"]]
    rows = [dict(r) for r in rows]
    if traded:
        first = rows[traded[0]]
        first["high"] = round(first["low"] - 0.01, 2)
    if len(traded) > 1:
        rows[traded[1]]["vol"] = rows[traded[1]]["vol"] * 100
    return rows


def _garble_valuations(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two corrupted ``daily_basic`` rows: a negative total market value, and a market value
    that is not a number."""
    rows = [dict(r) for r in rows]
    if rows:
        rows[0]["total_mv"] = -abs(rows[0]["total_mv"] or 1.0)
    if len(rows) > 1:
        rows[1]["circ_mv"] = "--"
    return rows


def _garble_members(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two corrupted ``index_weight`` rows: a negative weight, and a member code without its
    exchange."""
    rows = [dict(r) for r in rows]
    if rows:
        rows[0]["weight"] = -abs(rows[0]["weight"] or 1.0)
    if len(rows) > 1:
        rows[1]["con_code"] = rows[1]["con_code"][:6]
    return rows


def running(market: SimMarket, **kwargs: Any) -> Iterator[FakeTushare]:
    """A started fake for a fixture: ``yield from running(market)``."""
    with FakeTushare(market, **kwargs) as fake:
        yield fake
