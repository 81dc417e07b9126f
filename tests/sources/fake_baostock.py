"""A fake baostock server: the simulated market behind baostock's own TCP protocol.

It speaks exactly what the unmodified ``baostock`` client (0.9.4) writes and parses, read off
``baostock/util/socketutil.py``, ``baostock/data/resultset.py`` and the query modules:

- request: ``header + body + "\\x01" + str(crc32(header + body)) + "\\n"`` where the 21-character
  header is ``version "\\x01" msg_type "\\x01" len(body):010d`` and body fields are joined by
  ``"\\x01"``; the page number is always body field 2 and the page size field 3;
- reply: a 21-byte header of the same shape, the body, then ``<![CDATA[]]>\\n`` (the client reads
  until it sees that). Replies of type 96 (``query_history_k_data_plus``) are zlib-compressed:
  the header's length is the compressed size and the client decompresses exactly that many bytes;
- reply body: ``error_code, error_msg, method, user_id, page, page_size, {"record": [[...]]}``
  and then request echoes (code, fields, dates...) that differ per query; every value is a string;
  the client drops the last character of the (decompressed) body, so bodies end in a crc field
  and, when compressed, a newline;
- a page is 2,000 rows; the client asks for page n+1 while a page comes back full.

Errors are answered with message type ``04`` and ``error_code, error_msg``. Sessions are per
connection: a query on a connection that has not logged in is answered with 10001001.

Faults (:class:`faults.Faults`) apply per request: ``latency_s`` sleeps; ``stall`` holds the reply
until the fault is cleared, then sends it (a late reply on a connection the client may have given
up on); ``drop`` closes the connection (after ``drop_after_bytes`` bytes of the reply, 0 = none);
``rate_limit`` answers 10001011 (blacklisted); ``auth`` refuses logins (10001002) and queries
(10001001); ``server_error`` answers 10005001; ``bad_json`` sends a reply whose body does not
parse; ``garbage`` corrupts rows (high below low, volume in lots).

Daily k-data also serves ``peTTM`` and ``pbMRQ`` (baostock has them for daily bars only, and no
market value) from the sim's valuations, as 6-decimal strings. A loss-making stock's ``peTTM``
is the empty string (real baostock gives an empty or a negative P/E there; set
``negative_loss_pe`` to answer a negative one instead). Suspended days (tradestatus 0) carry the
last trading day's ratios, as baostock carries the close over; the sim has no valuation on them.

The same query answers the main indices of Shanghai and Shenzhen (``sh.000300``, ``sz.399006``;
``sh.000001`` is the SSE Composite, ``sz.000001`` a stock) from the sim's index bars, from
2006-01-01 on (baostock's index history) and none of Beijing: levels as 4-decimal strings,
volume in shares, amount in yuan (4 decimals), pctChg in percent (6 decimals) recomputed from
close and preclose (weekly/monthly: from the previous period's close, which those bars do not
carry). An index has no turnover, trading status, ST flag or valuation: ``turn``,
``tradestatus``, ``isST``, ``peTTM`` and ``pbMRQ`` are empty strings, and every ``adjustflag``
gives the same levels. Paging, compression and faults are those of the stocks' k-data.

``query_hs300_stocks`` / ``query_sz50_stocks`` / ``query_zz500_stocks`` (types 61/63/65, not
compressed) answer the members of 000300.SH / 000016.SH / 000905.SH as of the request's
``date`` (``""``: today, or the calendar's end when today is past it) from the sim's members,
with fields ``updateDate, code, code_name`` (``2018-11-26, sh.600000, 浦发银行``) and no
weights: ``updateDate`` is the Monday on or before that date (baostock updates weekly), and a
date before the index's first day has no members. The reply echoes ``date`` and the fields.
``stale_members`` answers as of a later date than asked (a reply that cannot be the answer).

``query_stock_basic``'s ``code_name`` is the stock's name as of the server's today (``today``, or
the real one at most the calendar's end), with its ``ST`` / ``*ST`` prefix as baostock writes it.
The stock-event queries (dividends, industry, quarterly reports) are answered by
:mod:`fake_baostock_events`, minute-frequency k-data (5/15/30/60) by :mod:`fake_baostock_minutes`.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
import itertools
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from faults import Faults  # type: ignore[import-not-found]

from stocksync.datasets.indices import MAIN_INDICES, index_info
from stocksync.domain import Bar, Exchange, Period
from stocksync.sim import SimMarket
from stocksync.sim.calendar import CALENDAR_END, CALENDAR_START
from stocksync.sim.members import sim_members

VERSION = "00.9.40"
SPLIT = "\x01"
HEADER_LENGTH = 21
END = b"<![CDATA[]]>\n"
PAGE_ROWS = 2000
COMPRESSED = frozenset({"96", "99", "9B", "9D"})
REPLY_TYPE = {
    "00": "01", "02": "03", "15": "16", "33": "34", "45": "46", "61": "62", "63": "64",
    "65": "66", "95": "96", "13": "14", "59": "60", "17": "18", "21": "22", "25": "26",
}  # fmt: skip
ERROR_TYPE = "04"

OK = "0"
NO_LOGIN = "10001001"
BAD_PASSWORD = "10001002"
BLACKLISTED = "10001011"
PARAM_ERR = "10004006"
START_AFTER_END = "10004009"
DATE_ERR = "10004010"
INDICATOR_INVALID = "10004012"
BEYOND_DATES = "10004013"
MESSAGE_ERROR = "10004019"
MESSAGE_TYPE_ERROR = "10004020"
SYSTEM_ERROR = "10005001"

DAILY_FIELDS = (
    "date", "code", "open", "high", "low", "close", "preclose", "volume", "amount", "adjustflag",
    "turn", "tradestatus", "pctChg", "isST", "peTTM", "pbMRQ",
)  # fmt: skip
VALUATION_FIELDS = frozenset({"peTTM", "pbMRQ"})  # daily only, like baostock's
VALUATION_LOOKBACK = dt.timedelta(days=366)  # how far back a suspended day looks for its ratios
PERIOD_FIELDS = (
    "date", "code", "open", "high", "low", "close", "volume", "amount", "adjustflag", "turn",
    "pctChg",
)  # baostock's weekly/monthly bars have no preclose, tradestatus or isST  # fmt: skip
MEMBER_FIELDS = "updateDate,code,code_name"
# message type -> (method, the index whose members it serves)
MEMBER_QUERIES = {
    "61": ("query_hs300_stocks", "000300.SH"),
    "63": ("query_sz50_stocks", "000016.SH"),
    "65": ("query_zz500_stocks", "000905.SH"),
}
FREQUENCIES = {"d": Period.DAILY, "w": Period.WEEKLY, "m": Period.MONTHLY}
MINUTE_FREQUENCIES = frozenset({"5", "15", "30", "60"})  # answered by fake_baostock_minutes
INDEX_HISTORY_START = dt.date(2006, 1, 1)  # baostock's index bars begin here
# Non-stocks baostock lists in query_stock_basic (type 2 index, 5 ETF): an adapter must skip them.
NON_STOCKS = (
    ("sh.000001", "上证综合指数", "1991-07-15", "2"),
    ("sz.399001", "深证成份指数", "1995-01-23", "2"),
    ("sh.510300", "沪深300ETF", "2012-05-28", "5"),
)


Prices = tuple[float, float, float, float, float]  # open, high, low, close, preclose


class Refused(Exception):
    """Answer the request with a baostock error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Request:
    msg_type: str
    fields: list[str]

    @property
    def method(self) -> str:
        return self.fields[0] if self.fields else ""


@dataclass
class _Conn:
    sock: socket.socket
    logged_in: bool = False
    user_id: str = ""
    generation: int = 0


@dataclass
class Stats:
    """What the server saw: every request's (msg_type, fields), in arrival order."""

    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    late_replies: int = 0  # stalled replies sent once the stall was cleared

    def count(self, method: str) -> int:
        return sum(1 for r in self.requests if r.method == method)


def bs_code(code: str) -> str:
    """``600000.SH`` -> ``sh.600000``."""
    return f"{code[7:].lower()}.{code[:6]}"


def canonical(code: str) -> str:
    """``sh.600000`` -> ``600000.SH``."""
    return f"{code[3:]}.{code[:2].upper()}"


# the sim's indices baostock has (no Beijing index), by baostock code
INDICES = frozenset(bs_code(i.code) for i in MAIN_INDICES if not i.code.endswith(".BJ"))


def _price(value: float) -> str:
    return f"{value:.10f}"


class FakeBaostockServer:
    """A threaded TCP server on 127.0.0.1 serving ``market`` in baostock's formats."""

    def __init__(self, market: SimMarket, faults: Faults | None = None) -> None:
        self.market = market
        self.faults = faults if faults is not None else Faults()
        self.stats = Stats()
        self.drop_after_bytes = 0  # with the drop fault: how much of the reply to send first
        self.always_not_logged_in = False  # answer every query 10001001, logins still succeed
        self.drop_from_page = 0  # close the connection on k-data requests for this page or later
        self.answer_with = ""  # serve k-data of this bs code whatever the request asks for
        self.negative_loss_pe = False  # a loss-making stock's peTTM: negative instead of empty
        self.stale_members = 0  # answer members queries as of this many days after the date
        self.today: dt.date | None = None  # the server's today (None: the real one)
        self._st_day: dt.date | None = None  # the day _st_today holds the ST flags of
        self._st_today: dict[str, bool] = {}
        self._generation = 0  # bumped by expire_sessions(): older logins no longer count
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self._conns: list[_Conn] = []
        self._thread = threading.Thread(target=self._serve, name="fake-baostock", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def address(self) -> str:
        host, port = self._listener.getsockname()
        return f"{host}:{port}"

    def start(self) -> FakeBaostockServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)  # wakes its handler's recv
            _close(conn.sock)

    def reset(self) -> Faults:
        """Fresh faults, statistics and knobs for the next test; returns the new faults."""
        self.faults = Faults()
        self.stats = Stats()
        self.drop_after_bytes = 0
        self.always_not_logged_in = False
        self.drop_from_page = 0
        self.answer_with = ""
        self.negative_loss_pe = False
        self.stale_members = 0
        self.today = None
        return self.faults

    def expire_sessions(self) -> None:
        """Forget every login, as a server restart would: the next query gets 10001001."""
        with self._lock:
            self._generation += 1

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            # accept() copies socket.getdefaulttimeout(), which the adapter sets around login
            sock.settimeout(None)
            conn = _Conn(sock)
            with self._lock:
                self._conns.append(conn)
                self.stats.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    # -- one connection ------------------------------------------------------------------
    def _handle(self, conn: _Conn) -> None:
        buffer = b""
        try:
            while not self._closing.is_set():
                while b"\n" not in buffer:
                    chunk = conn.sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                line, buffer = buffer.split(b"\n", 1)
                if not self._answer(conn, line):
                    return
        except OSError:
            return
        finally:
            _close(conn.sock)

    def _answer(self, conn: _Conn, line: bytes) -> bool:
        """Reply to one request; False when the connection is to be closed."""
        try:
            request = _parse(line)
        except Refused as exc:
            conn.sock.sendall(_error(exc.code, exc.message))
            return True
        with self._lock:
            self.stats.requests.append(request)
        faults = self.faults.take()
        if faults.latency_s:
            time.sleep(faults.latency_s)
        if faults.stall:
            while self.faults.stall and not self._closing.is_set():
                time.sleep(0.02)
            if self._closing.is_set():
                return False
            with self._lock:
                self.stats.late_replies += 1
        reply = self._reply(conn, request, faults)
        if faults.drop or self._page_dropped(request):
            if self.drop_after_bytes:
                conn.sock.sendall(reply[: self.drop_after_bytes])
            conn.sock.shutdown(socket.SHUT_RDWR)
            return False
        conn.sock.sendall(reply)
        return True

    def _page_dropped(self, request: Request) -> bool:
        if not self.drop_from_page or request.msg_type != "95" or len(request.fields) < 3:
            return False
        return request.fields[2].isdigit() and int(request.fields[2]) >= self.drop_from_page

    def _reply(self, conn: _Conn, request: Request, faults: Faults) -> bytes:
        reply_type = REPLY_TYPE.get(request.msg_type)
        if reply_type is None:
            return _error(MESSAGE_TYPE_ERROR, f"错误的消息类型 {request.msg_type}")
        if faults.bad_json:
            return _malformed(reply_type)
        if faults.rate_limit:
            return _error(BLACKLISTED, "黑名单用户")
        if faults.server_error:
            return _error(SYSTEM_ERROR, "系统级别错误")
        login = request.msg_type == "00"
        if faults.auth:
            if login:
                return _error(BAD_PASSWORD, "用户名或密码错误")
            return _error(NO_LOGIN, "用户未登陆")
        if login:
            return self._login(conn, request)
        with self._lock:
            session_ok = conn.logged_in and conn.generation == self._generation
        if not session_ok or self.always_not_logged_in:
            return _error(NO_LOGIN, "用户未登陆")
        if request.msg_type == "02":
            conn.logged_in = False
            return _frame(reply_type, [OK, "success", "logout", conn.user_id])
        handler = self._queries.get(request.msg_type) or _event_query(request.msg_type)
        try:
            return handler(self, request, reply_type, faults.garbage)
        except Refused as exc:
            return _error(exc.code, exc.message)

    def _login(self, conn: _Conn, request: Request) -> bytes:
        if len(request.fields) < 4 or request.fields[0] != "login" or not request.fields[1]:
            return _error(MESSAGE_ERROR, "消息格式不正确")
        with self._lock:
            conn.logged_in, conn.user_id, conn.generation = (
                True,
                request.fields[1],
                self._generation,
            )
        return _frame("01", [OK, "success", "login", conn.user_id])

    # -- queries -------------------------------------------------------------------------
    def _k_data(self, request: Request, reply_type: str, garbage: bool) -> bytes:
        f = request.fields
        if len(f) != 10:
            raise Refused(MESSAGE_ERROR, "消息格式不正确")
        _, user, page, size, code, fields, start, end, frequency, adjustflag = f
        if frequency in MINUTE_FREQUENCIES:
            return _minute_query()(self, request, reply_type, garbage)
        period = FREQUENCIES.get(frequency)
        if period is None or adjustflag not in ("1", "2", "3"):
            raise Refused(PARAM_ERR, "参数错误")
        names = [name.strip() for name in fields.split(",")]
        allowed = DAILY_FIELDS if period is Period.DAILY else PERIOD_FIELDS
        if not names or any(name not in allowed for name in names):
            raise Refused(INDICATOR_INVALID, "无效的指标")
        first, last = _dates(start, end)
        code = self.answer_with or code
        if code in INDICES:
            values = self._index_values(code, first, last, period, adjustflag, garbage)
        else:
            values = self._bar_values(code, first, last, period, adjustflag, garbage)
            if VALUATION_FIELDS.intersection(names):
                self._add_valuations(code, first, last, values)
        rows = [[row[name] for name in names] for row in values]
        return _page(
            reply_type, "query_history_k_data_plus", user, page, size, rows,
            [code, fields, start, end, frequency, adjustflag],
        )  # fmt: skip

    def _bar_values(
        self, code: str, start: dt.date, end: dt.date, period: Period, adjustflag: str,
        garbage: bool,
    ) -> list[dict[str, str]]:  # fmt: skip
        key = canonical(code)
        if not self._knows(key):
            return []  # baostock answers an unknown code with an empty result, not an error
        try:
            bars = self.market.bars_for_code(key, start, end, period)
        except ValueError as exc:
            raise Refused(BEYOND_DATES, f"超出日期支持范围: {exc}") from exc
        adjusted = self._adjusted(key, bars, period, adjustflag)
        out = []
        for i, (bar, (o, h, lo, c, pre)) in enumerate(zip(bars, adjusted, strict=True)):
            volume = bar.volume
            if garbage and i % 3 == 0:
                h = lo - 0.01  # high below low
            if garbage and i % 3 == 1:
                volume //= 100  # lots instead of shares
            pct = (c / pre - 1.0) * 100.0 if pre else 0.0
            out.append({
                "date": bar.trade_date.isoformat(), "code": code, "open": _price(o),
                "high": _price(h), "low": _price(lo), "close": _price(c), "preclose": _price(pre),
                "volume": str(volume), "amount": f"{bar.amount:.4f}", "adjustflag": adjustflag,
                "turn": f"{bar.turnover_pct or 0.0:.6f}", "tradestatus": str(bar.trade_status),
                "pctChg": f"{pct:.6f}", "isST": "1" if bar.is_st else "0",
            })  # fmt: skip
        return out

    def _index_values(
        self, code: str, start: dt.date, end: dt.date, period: Period, adjustflag: str,
        garbage: bool,
    ) -> list[dict[str, str]]:  # fmt: skip
        """Every field of the index ``code``'s k-data rows; ``garbage`` as for stocks."""
        try:
            bars = self.market.index_bars(
                canonical(code), period, max(start, INDEX_HISTORY_START), end
            )
        except ValueError as exc:
            raise Refused(BEYOND_DATES, f"超出日期支持范围: {exc}") from exc
        out = []
        for i, bar in enumerate(bars):
            high, volume, pre = bar.high, bar.volume, bar.pre_close or 0.0
            if garbage and i % 3 == 0:
                high = bar.low - 0.01  # high below low
            if garbage and i % 3 == 1:
                volume //= 100  # lots instead of shares
            pct = (bar.close / pre - 1.0) * 100.0 if pre else 0.0
            out.append({
                "date": bar.trade_date.isoformat(), "code": code, "open": f"{bar.open:.4f}",
                "high": f"{high:.4f}", "low": f"{bar.low:.4f}", "close": f"{bar.close:.4f}",
                "preclose": f"{pre:.4f}", "volume": str(volume), "amount": f"{bar.amount:.4f}",
                "adjustflag": adjustflag, "turn": "", "tradestatus": "", "pctChg": f"{pct:.6f}",
                "isST": "", "peTTM": "", "pbMRQ": "",
            })  # fmt: skip
        return out

    def _add_valuations(
        self, code: str, start: dt.date, end: dt.date, rows: list[dict[str, str]]
    ) -> None:
        """Set ``peTTM`` and ``pbMRQ`` on daily ``rows`` (sorted by date) from the sim truth; a
        suspended day repeats the last trading day's ratios (empty when there is none)."""
        if not rows:
            return
        since = max(CALENDAR_START, start - VALUATION_LOOKBACK)
        series = self.market.valuations_for_code(canonical(code), since, end)
        truth = {v.trade_date: v for v in series}
        days = sorted(truth)
        for row in rows:
            day = dt.date.fromisoformat(row["date"])
            i = bisect.bisect_right(days, day)
            value = truth[days[i - 1]] if i else None
            if value is None or (row["tradestatus"] == "1" and value.trade_date != day):
                row["peTTM"] = row["pbMRQ"] = ""
                continue
            if value.pe_ttm is not None:
                row["peTTM"] = f"{value.pe_ttm:.6f}"
            elif self.negative_loss_pe and value.pb is not None:
                row["peTTM"] = f"{-7.5 * value.pb:.6f}"  # some negative P/E
            else:
                row["peTTM"] = ""
            row["pbMRQ"] = f"{value.pb:.6f}" if value.pb is not None else ""

    def _adjusted(
        self, code: str, bars: list[Bar], period: Period, adjustflag: str
    ) -> list[Prices]:
        """(open, high, low, close, preclose) of each bar in the ``adjustflag`` series.

        hfq (1) multiplies each day's raw prices by that day's factor, qfq (2) divides that by
        the latest factor of the stock's history; weekly/monthly adjusted bars aggregate the
        adjusted daily bars. Raw (3) is the sim's bars as they are.
        """
        raw: list[Prices] = [(b.open, b.high, b.low, b.close, b.pre_close or 0.0) for b in bars]
        if adjustflag == "3" or not bars:
            return raw
        scale = 1.0 if adjustflag == "1" else 1.0 / self._latest_factor(code)
        if period is Period.DAILY:
            factors = self._factors(code, bars[0].trade_date, bars[-1].trade_date)
            out: list[Prices] = []
            for bar, (o, h, lo, c, pre) in zip(bars, raw, strict=True):
                f = factors[bar.trade_date] * scale
                o, h, lo, c, pre = (round(p * f, 10) for p in (o, h, lo, c, pre))
                out.append((o, h, lo, c, pre))
            return out
        first = bars[0].trade_date - dt.timedelta(days=31)
        daily = self.market.bars_for_code(code, first, bars[-1].trade_date, Period.DAILY)
        factors = self._factors(code, first, bars[-1].trade_date)
        ends = [b.trade_date for b in bars]
        groups: list[list[Bar]] = [[] for _ in bars]
        for day in daily:
            i = bisect.bisect_left(ends, day.trade_date)
            if (
                i < len(bars)
                and day.trade_status == 1
                and _same_period(day.trade_date, ends[i], period)
            ):
                groups[i].append(day)
        out = []
        for bar, days in zip(bars, groups, strict=True):
            fs = [factors[d.trade_date] * scale for d in days]
            # the period's pre_close is the one of its first listed day: adjust with that factor
            listed = min(d for d in factors if _same_period(d, bar.trade_date, period))
            pre_f = factors[listed] * scale
            out.append((
                round(days[0].open * fs[0], 10),
                round(max(d.high * f for d, f in zip(days, fs, strict=True)), 10),
                round(min(d.low * f for d, f in zip(days, fs, strict=True)), 10),
                round(days[-1].close * fs[-1], 10),
                round((bar.pre_close or 0.0) * pre_f, 10),
            ))  # fmt: skip
        return out

    def _factors(self, code: str, start: dt.date, end: dt.date) -> dict[dt.date, float]:
        return {f.trade_date: f.factor for f in self.market.adj_factors(code, start, end)}

    @functools.cache  # noqa: B019 - one server per test session; the market never changes
    def _latest_factor(self, code: str) -> float:
        factors = self.market.adj_factors(code, CALENDAR_START, CALENDAR_END)
        return factors[-1].factor if factors else 1.0

    @functools.cache  # noqa: B019
    def _knows(self, code: str) -> bool:
        try:
            self.market.security(code)
        except KeyError:
            return False
        return True

    def _trade_dates(self, request: Request, reply_type: str, garbage: bool) -> bytes:
        _, user, page, size, start, end = _fields(request, 6)
        first, last = _dates(start, end)
        if last > CALENDAR_END:
            raise Refused(BEYOND_DATES, "超出日期支持范围")
        open_days = set(self.market.trading_days(first, last))
        rows = []
        day = first
        while day <= last:
            rows.append([day.isoformat(), "1" if day in open_days else "0"])
            day += dt.timedelta(days=1)
        return _page(
            reply_type, "query_trade_dates", user, page, size, rows,
            [start, end, "calendar_date,is_trading_day"],
        )  # fmt: skip

    def _stock_basic(self, request: Request, reply_type: str, garbage: bool) -> bytes:
        _, user, page, size, code, name = _fields(request, 6)
        rows = [
            [bs_code(s.code), self._current_name(s.code, s.name), s.list_date.isoformat(),
             s.delist_date.isoformat() if s.delist_date else "", "1",
             "0" if s.delist_date else "1"]
            for s in self.market.securities()
            if s.exchange is not Exchange.BJ
        ]  # fmt: skip
        rows += [[c, n, ipo, "", kind, "1"] for c, n, ipo, kind in NON_STOCKS]
        rows = [r for r in rows if (not code or r[0] == code) and (not name or name in r[1])]
        return _page(
            reply_type, "query_stock_basic", user, page, size, rows,
            [code, name, "code,code_name,ipoDate,outDate,type,status"],
        )  # fmt: skip

    def _current_name(self, code: str, listed_as: str) -> str:
        """The name of ``code`` as of the server's today (``listed_as`` before its listing):
        a listed stock's from that day's ST flag (one whole-market evaluation, kept per day), a
        delisted one's from its profile history."""
        import fake_baostock_events as events  # type: ignore[import-not-found]

        today = events.server_today(self.today)
        if self._st_day != today:
            days = self.market.trading_days(today - dt.timedelta(days=20), today)
            bars = self.market.bars_for_date(days[-1]) if days else []
            self._st_today, self._st_day = {b.code: b.is_st for b in bars}, today
        security = self.market.security(code)
        if security.delist_date is None:
            if security.list_date > today:
                return listed_as
            return ("ST" + listed_as) if self._st_today.get(code) else listed_as
        profile = events.profile_on(self.market, code, today)
        return profile.name if profile is not None and profile.name else listed_as

    def _adjust_factor(self, request: Request, reply_type: str, garbage: bool) -> bytes:
        _, user, page, size, code, start, end = _fields(request, 7)
        first, last = _dates(start, end)
        rows = []
        key = canonical(code)
        if self._knows(key):
            latest = self._latest_factor(key)
            history = self.market.adj_factors(key, first - dt.timedelta(days=40), last)
            for before, now in itertools.pairwise(history):
                if now.factor != before.factor and first <= now.trade_date <= last:
                    back = f"{now.factor:.6f}"
                    rows.append([code, now.trade_date.isoformat(),
                                 f"{now.factor / latest:.6f}", back, back])  # fmt: skip
        return _page(
            reply_type, "query_adjust_factor", user, page, size, rows,
            [code, start, end,
             "code,dividOperateDate,foreAdjustFactor,backAdjustFactor,adjustFactor"],
        )  # fmt: skip

    def _members(self, request: Request, reply_type: str, garbage: bool) -> bytes:
        method, user, page, size, date = _fields(request, 5)
        expected, index_code = MEMBER_QUERIES[request.msg_type]
        if method != expected:
            raise Refused(MESSAGE_ERROR, "消息格式不正确")
        if date:
            day, _ = _dates(date, date)
        else:
            day = min(dt.date.today(), CALENDAR_END)
        day += dt.timedelta(days=self.stale_members)
        rows = []
        if day >= index_info(index_code).since:
            monday = (day - dt.timedelta(days=day.weekday())).isoformat()
            securities = self.market.securities()
            names = {s.code: s.name for s in securities}
            rows = sorted(
                [monday, bs_code(m.code), names[m.code]]
                for m in sim_members(self.market.seed, securities, index_code, day)
            )
        return _page(reply_type, method, user, page, size, rows, [date, MEMBER_FIELDS])

    _queries: ClassVar[dict[str, Callable[[FakeBaostockServer, Request, str, bool], bytes]]] = {
        "95": _k_data,
        "33": _trade_dates,
        "45": _stock_basic,
        "15": _adjust_factor,
        "61": _members,
        "63": _members,
        "65": _members,
    }


def _minute_query() -> Callable[[FakeBaostockServer, Request, str, bool], bytes]:
    """The handler of minute-frequency k-data (frequency 5, 15, 30, 60)."""
    import fake_baostock_minutes as minutes  # type: ignore[import-not-found]

    return minutes.k_data


def _event_query(msg_type: str) -> Callable[[FakeBaostockServer, Request, str, bool], bytes]:
    """The handler of a stock-event query (dividends, industry, quarterly reports)."""
    import fake_baostock_events as events  # type: ignore[import-not-found]

    return events.QUERIES[msg_type]


# -- wire format ---------------------------------------------------------------------------
def _parse(line: bytes) -> Request:
    """A request line (without its newline): header, body, crc32 of header + body."""
    try:
        text = line.decode("utf-8")
        head_body, crc = text.rsplit(SPLIT, 1)
        header, body = head_body[:HEADER_LENGTH], head_body[HEADER_LENGTH:]
        _version, msg_type, length = header.split(SPLIT)
    except ValueError as exc:
        raise Refused(MESSAGE_ERROR, "消息格式不正确") from exc
    if str(zlib.crc32(head_body.encode("utf-8"))) != crc or int(length) != len(body):
        raise Refused(MESSAGE_ERROR, "消息校验失败")
    return Request(msg_type, body.split(SPLIT))


def _header(msg_type: str, length: int) -> bytes:
    header = f"{VERSION}{SPLIT}{msg_type}{SPLIT}{length:010d}".encode()
    assert len(header) == HEADER_LENGTH
    return header


def _frame(msg_type: str, fields: list[str]) -> bytes:
    """One reply: body fields plus a crc field; compressed for the k-data message types."""
    body = SPLIT.join(fields)
    body += SPLIT + str(zlib.crc32(body.encode("utf-8")))
    if msg_type in COMPRESSED:
        packed = zlib.compress((body + "\n").encode("utf-8"))
        return _header(msg_type, len(packed)) + packed + END
    data = body.encode("utf-8")
    return _header(msg_type, len(data)) + data + END


def _error(code: str, message: str) -> bytes:
    return _frame(ERROR_TYPE, [code, message])


def _malformed(reply_type: str) -> bytes:
    """A reply that claims success but whose body cannot be read."""
    if reply_type in ("01", "03"):
        return _frame(reply_type, [OK])  # no method / user fields
    return _frame(reply_type, [OK, "success", "q", "anonymous", "1", "2000", '{"record": [["2'])


def _page(
    reply_type: str, method: str, user: str, page: str, size: str, rows: list[list[str]],
    echo: list[str],
) -> bytes:  # fmt: skip
    try:
        number, per_page = int(page), int(size)
    except ValueError as exc:
        raise Refused(PARAM_ERR, "参数错误") from exc
    if number < 1 or not 0 < per_page <= PAGE_ROWS:
        raise Refused(PARAM_ERR, "参数错误")
    chunk = rows[(number - 1) * per_page : number * per_page]
    record = json.dumps({"record": chunk}, ensure_ascii=False) if chunk else ""
    return _frame(reply_type, [OK, "success", method, user, page, size, record, *echo])


def _fields(request: Request, n: int) -> list[str]:
    if len(request.fields) != n:
        raise Refused(MESSAGE_ERROR, "消息格式不正确")
    return request.fields


def _dates(start: str, end: str) -> tuple[dt.date, dt.date]:
    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise Refused(DATE_ERR, "日期格式不正确") from exc
    if first > last:
        raise Refused(START_AFTER_END, "起始日期大于终止日期")
    return first, last


def _same_period(day: dt.date, end: dt.date, period: Period) -> bool:
    if period is Period.WEEKLY:
        return day.isocalendar()[:2] == end.isocalendar()[:2]
    return (day.year, day.month) == (end.year, end.month)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
