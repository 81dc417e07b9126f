"""A fake eastmoney (and SSE / SZSE / BSE stock lists) serving the simulated market, reached by
the unmodified akshare library over real HTTPS.

How traffic gets here: :class:`FakeEastmoney` is an HTTP ``CONNECT`` proxy on 127.0.0.1. For the
hosts it fakes (:data:`HOSTS`) it answers ``200 Connection established`` and then speaks TLS
itself on the tunnel, with a certificate for those hosts issued by a throw-away test CA
(``trustme``); any other host is refused (502), so nothing leaves the machine. A process that
sets ``HTTPS_PROXY`` to :attr:`FakeEastmoney.proxy_url` and ``REQUESTS_CA_BUNDLE`` to
:attr:`FakeEastmoney.ca_path` (see :meth:`FakeEastmoney.env`) sends every ``requests`` call of
akshare here, with certificate checks on, and no code is patched: worker processes inherit it.

What it serves, in the forms akshare 1.19.5 parses:

- ``push2his.eastmoney.com/api/qt/stock/kline/get``: ``secid=M.CODE`` (M = 1 for 6xxxxx, else 0,
  as akshare sends it: Beijing stocks come as ``0.920xxx``), ``klt`` 101/102/103, ``fqt`` 0/1/2,
  ``beg``/``end``. ``data.klines`` are ``"date,open,close,high,low,volume(手),amount(元),
  amplitude,pct,change,turnover"`` strings; suspended days are absent; an unknown ``secid`` (or a
  code in :attr:`FakeEastmoney.blank`) gets ``"data": null``. hfq prices are raw x factor, qfq
  raw x factor / the stock's last factor in the simulated history, sent unrounded (eastmoney
  rounds them to cents; unrounded, hfq/raw gives the factor back exactly). Weekly and monthly
  adjusted bars scale the raw bar by the factor on its date (an approximation the adapter does
  not use).
- Index klines on the same endpoint, as akshare's ``index_zh_a_hist`` asks for them: ``secid``
  with eastmoney's market id of the index (1 for the SSE/CSI main indices, 0 for ``399xxx`` and
  ``899050``; any other market id gets ``"data": null``), ``klt`` 101/102/103, ``fqt`` ignored
  (an index has no adjustment), ``beg``/``end`` compared as YYYYMMDD numbers (akshare sends
  ``0``/``20500000``, so the whole history comes back, from the index's first simulated bar to
  :attr:`FakeEastmoney.today`, :data:`CALENDAR_END` unless a test sets it; a week or month
  under way on that day comes as a bar dated on it). Levels with 2 decimals, 成交量 in 手, 成交额 in yuan, 涨跌额 against the
  previous bar's close (weekly and monthly bars are dated on the period's last trading day, as
  eastmoney dates them); the first kline of the history has 振幅, 涨跌幅 and 涨跌额 ``0.00`` (no
  previous close), as eastmoney sends it; 换手率 is ``0.00`` (the simulation has no free float
  for an index).
- ``80.push2.eastmoney.com/api/qt/clist/get``: the index list akshare's
  ``index_code_id_map_em`` reads (``fs`` :data:`INDEX_FS`, ``fields=f3,f12,f13``): the main
  indices (less :attr:`FakeEastmoney.unlisted`) among :attr:`FakeEastmoney.index_list_rows`
  rows in all (filler codes of other indices, which have no klines; eastmoney's real list is
  longer, its length unverified), sorted by ``f3`` descending (``po=1``), paged by ``pn``/``pz``
  (at most 100 rows a page), ``{"data": {"total": N, "diff": [{"f3", "f12", "f13"}, ...]}}``;
  another ``fs`` gets ``"data": null``.
- ``query.sse.com.cn``: listed (``STOCK_TYPE`` 1 main, 8 STAR) and delisted (``COMPANY_STATUS=3``)
  JSON; ``www.szse.cn``: the A-share list and the delisted list as xlsx; ``www.bse.cn``: the
  paged ``null([{...}])`` list, rows whose keys sit where akshare maps them by position.
- Minute klines (``klt`` 5/15/30/60 on the kline endpoint, recent trading days only): see
  :mod:`fake_eastmoney_minutes`.
- Stock events (dividends on ``datacenter-web``, the quote snapshot on ``push2``, the main
  indicators on ``datacenter``): see :mod:`fake_eastmoney_events`.

Every request is counted and logged and obeys :class:`faults.Faults`: ``latency_s`` sleeps;
``rate_limit`` and ``auth`` answer eastmoney's ban, an nginx ``403 Forbidden`` page;
``server_error`` a 500 page; ``bad_json`` a cut-off body; ``stall`` answers nothing until cleared
(at most :data:`STALL_MAX_S`); ``drop`` closes the connection; ``garbage`` sends klines with high
below low and volume in shares instead of lots (every kline of an index reply).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd  # type: ignore[import-untyped]
import trustme
from fake_eastmoney_events import HOSTS as EVENT_HOSTS  # type: ignore[import-not-found]
from fake_eastmoney_events import EventEndpoints
from fake_eastmoney_minutes import MINUTE_KLT, MinuteKlines  # type: ignore[import-not-found]
from faults import Faults  # type: ignore[import-not-found]

from stocksync.datasets.indices import MAIN_INDICES, IndexInfo
from stocksync.domain import Bar, Board, Exchange, IndexBar, Period, Security
from stocksync.sim import SimMarket

INDEX_LIST_HOST = "80.push2.eastmoney.com"
HOSTS = (
    "push2his.eastmoney.com", INDEX_LIST_HOST, "query.sse.com.cn", "www.szse.cn", "www.bse.cn",
    *EVENT_HOSTS,
)  # fmt: skip
KLINE_PATH = "/api/qt/stock/kline/get"
CLIST_PATH = "/api/qt/clist/get"
INDEX_FS = "b:MK0010,m:1+t:1,m:0 t:5,m:1+s:3,m:0+t:5,m:2"
CLIST_PAGE_MAX = 100
INDEX_LIST_ROWS = 150  # two pages of akshare's pz=100
CALENDAR_END = dt.date(2026, 12, 31)
STALL_MAX_S = 30.0
BSE_PAGE_ROWS = 10
_PERIOD = {"101": Period.DAILY, "102": Period.WEEKLY, "103": Period.MONTHLY}
_NGINX = "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# akshare renames the BSE row's keys by position: these positions carry what it keeps
_BSE_KEYS = {0: "fxssrq", 11: "xxfxsgb", 17: "xxhyzl", 22: "bgrq", 29: "xxssdq", 35: "xxzbqs",
             36: "xxzgb", 38: "xxzqdm", 40: "xxzqjc"}  # fmt: skip


def ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _parse_ymd(text: str | None, default: dt.date) -> dt.date:
    if not text or len(text) != 8 or not text.isdigit():
        return default
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


class FakeEastmoney:
    """The fake servers behind one CONNECT proxy; see the module docstring."""

    def __init__(self, market: SimMarket, faults: Faults, workdir: Path) -> None:
        self.market = market
        self.faults = faults
        self.blank: set[str] = set()  # six-digit codes whose klines come back "data": null
        self.failing: set[str] = set()  # hosts answering HTTP 500 (e.g. one exchange's list)
        self.requests: collections.Counter[str] = collections.Counter()  # "host path" -> count
        self.tunnels: collections.Counter[str] = collections.Counter()  # CONNECT host -> count
        self.refused: list[str] = []  # CONNECT targets it would not fake
        self.log: list[tuple[str, str, dict[str, str]]] = []  # (host, path, params)
        self.served: list[list[str]] = []  # the klines of each kline reply, in order
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._securities = {s.code: s for s in market.securities()}
        self._last_factor: dict[str, float] = {}
        self._xlsx: dict[str, bytes] = {}
        self.index_list_rows = INDEX_LIST_ROWS
        self.unlisted: set[str] = set()  # six-digit index codes the clist leaves out
        self._index_by_secid = {f"{index_market(i.code)}.{i.code[:6]}": i for i in MAIN_INDICES}
        self.today = CALENDAR_END  # the last day eastmoney has bars of
        self._index_klines: dict[tuple[str, Period, dt.date], list[tuple[int, str]]] = {}
        self.events = EventEndpoints(market)  # dividends, the quote snapshot, main indicators
        # minute klines (klt 5/15/30/60): recent days only, see fake_eastmoney_minutes
        self.minutes = MinuteKlines(market, self._securities, self._scales)

        ca = trustme.CA()
        self.ca_path = workdir / "fake-eastmoney-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*HOSTS).configure_cert(self.tls)

        self.server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.fake = self
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="fake-eastmoney", daemon=True
        )
        self._thread.start()

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """The environment that routes ``requests`` (and so akshare) here."""
        return {
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
        }

    def reset(self) -> None:
        with self._lock:
            self.blank.clear()
            self.failing.clear()
            self.requests.clear()
            self.tunnels.clear()
            self.refused.clear()
            self.log.clear()
            self.served.clear()
            self.index_list_rows = INDEX_LIST_ROWS
            self.unlisted.clear()
            self.today = CALENDAR_END
            self.events.reset()
            self.minutes.reset()

    def count(self, host: str, path: str = "") -> int:
        """Requests seen for ``host`` (and ``path`` when given)."""
        with self._lock:
            return sum(n for key, n in self.requests.items() if key.startswith(f"{host} {path}"))

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    # -- the request cycle -------------------------------------------------------------------
    def record(self, host: str, path: str, params: dict[str, str]) -> None:
        with self._lock:
            self.requests[f"{host} {path}"] += 1
            self.log.append((host, path, params))

    def wait_while_stalled(self) -> None:
        until = time.monotonic() + STALL_MAX_S
        while self.faults.stall and not self._closing.is_set() and time.monotonic() < until:
            time.sleep(0.02)

    def route(
        self, host: str, path: str, params: dict[str, str], garbage: bool
    ) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request."""
        if host in self.failing:
            return 500, "text/html", _NGINX.format("500 Internal Server Error").encode()
        if host == "push2his.eastmoney.com" and path == KLINE_PATH:
            return 200, "application/json; charset=UTF-8", _json(self.kline(params, garbage))
        if self.events.serves(host, path):
            return (
                200,
                "application/json; charset=UTF-8",
                _json(self.events.route(host, path, params)),
            )
        if host == INDEX_LIST_HOST and path == CLIST_PATH:
            return 200, "application/json; charset=UTF-8", _json(self.clist(params))
        if host == "query.sse.com.cn" and path in ("/sseQuery/commonQuery.do", "/commonQuery.do"):
            return 200, "application/json;charset=UTF-8", _json(self.sse(params))
        if host == "www.szse.cn" and path == "/api/report/ShowReport":
            key = f"{params.get('CATALOGID')}/{params.get('TABKEY')}"
            if key not in ("1110/tab1", "1793_ssgs/tab1", "1793_ssgs/tab2"):
                return 404, "text/html", _NGINX.format("404 Not Found").encode()
            return 200, _XLSX, self.szse(key)
        if host == "www.bse.cn" and path == "/nqxxController/nqxxCnzq.do":
            return 200, "text/html;charset=UTF-8", self.bse(int(params.get("page") or 0))
        return 404, "text/html", _NGINX.format("404 Not Found").encode()

    # -- eastmoney klines --------------------------------------------------------------------
    def kline(self, params: dict[str, str], garbage: bool) -> dict[str, Any]:
        reply: dict[str, Any] = {"rc": 0, "rt": 17, "svr": 181669437, "lt": 1, "full": 0,
                                 "dlmkts": "", "data": None}  # fmt: skip
        if params.get("klt") in MINUTE_KLT:
            reply, klines = self.minutes.kline(reply, params, garbage, self.blank)
            if klines is not None:
                with self._lock:
                    self.served.append(klines)
            return reply
        index = self._index_by_secid.get(params.get("secid", ""))
        if index is not None:
            return self.index_kline(reply, index, params, garbage)
        market_id, _, digits = params.get("secid", "").partition(".")
        suffix = "SH" if digits.startswith("6") else "BJ" if digits[:1] in "489" else "SZ"
        security = self._securities.get(f"{digits}.{suffix}")
        if (
            security is None
            or market_id != ("1" if suffix == "SH" else "0")
            or digits in self.blank
            or params.get("klt") not in _PERIOD
            or params.get("fqt") not in ("0", "1", "2")
        ):
            return reply
        period = _PERIOD[params["klt"]]
        start = _parse_ymd(params.get("beg"), dt.date(1990, 1, 1))
        end = min(_parse_ymd(params.get("end"), CALENDAR_END), CALENDAR_END)
        bars = self.market.bars_for_code(security.code, start, end, period) if start <= end else []
        bars = [b for b in bars if b.trade_status == 1]  # eastmoney omits suspended days
        scale = self._scales(security, bars, params["fqt"])
        klines = [_kline(bar, scale.get(bar.trade_date, 1.0), params["fqt"] != "0") for bar in bars]
        if garbage and bars:  # volume in shares, and the first row's high below its low
            klines = [_kline(bar, 1.0, False, lots=False) for bar in bars]
            first = bars[0]
            high, low = (
                (first.low, first.high) if first.high > first.low else (first.low - 0.01, first.low)
            )
            klines[0] = _kline(
                dataclasses.replace(first, high=high, low=low), 1.0, False, lots=False
            )
        with self._lock:
            self.served.append(klines)
        reply["data"] = {
            "code": digits,
            "market": int(market_id),
            "name": security.name,
            "decimal": 2,
            "dktotal": len(klines),
            "preKPrice": bars[0].pre_close if bars else 0.0,
            "prePrice": bars[-1].close if bars else 0.0,
            "klines": klines,
        }
        return reply

    def _scales(self, security: Security, bars: list[Bar], fqt: str) -> dict[dt.date, float]:
        if fqt == "0" or not bars:
            return {}
        days = {f.trade_date: f.factor for f in self.market.adj_factors(
            security.code, bars[0].trade_date, bars[-1].trade_date)}  # fmt: skip
        if fqt == "2":
            return days
        last = self._last_factor.get(security.code)
        if last is None:
            history_end = min(security.delist_date or CALENDAR_END, CALENDAR_END)
            history = self.market.adj_factors(security.code, security.list_date, history_end)
            last = self._last_factor[security.code] = history[-1].factor
        return {day: factor / last for day, factor in days.items()}

    # -- eastmoney indices -------------------------------------------------------------------
    def index_kline(
        self, reply: dict[str, Any], index: IndexInfo, params: dict[str, str], garbage: bool
    ) -> dict[str, Any]:
        if params.get("klt") not in _PERIOD:
            return reply
        period = _PERIOD[params["klt"]]
        history = self._index_history(index, period)
        beg, end = _ymd_number(params.get("beg"), 0), _ymd_number(params.get("end"), 99999999)
        klines = [kline for day, kline in history if beg <= day <= end]
        if garbage:
            klines = [_garbled(kline) for kline in klines]
        with self._lock:
            self.served.append(klines)
        reply["data"] = {
            "code": index.code[:6],
            "market": index_market(index.code),
            "name": index.name,
            "decimal": 2,
            "dktotal": len(history),
            "preKPrice": _pre_close(klines[0]) if klines else 0.0,
            "klines": klines,
        }
        return reply

    def _index_history(self, index: IndexInfo, period: Period) -> list[tuple[int, str]]:
        """(YYYYMMDD, kline) for the history of ``index`` up to :attr:`today`, built once; a
        week or month still under way ends in a bar dated on its latest day, as eastmoney's."""
        today = self.today
        with self._lock:
            cached = self._index_klines.get((index.code, period, today))
        if cached is not None:
            return cached
        bars = self.market.index_bars(index.code, period, index.since, today)
        done = bars[-1].trade_date if bars else index.since - dt.timedelta(days=1)
        if period is not Period.DAILY and done < today:
            tail = self.market.index_bars(
                index.code, Period.DAILY, done + dt.timedelta(days=1), today
            )
            bars += [_under_way(period, tail)] if tail else []
        history = [
            (int(ymd(bar.trade_date)), _index_kline(bar, first=i == 0))
            for i, bar in enumerate(bars)
        ]
        with self._lock:
            self._index_klines[(index.code, period, today)] = history
        return history

    def clist(self, params: dict[str, str]) -> dict[str, Any]:
        reply: dict[str, Any] = {"rc": 0, "rt": 6, "svr": 177617938, "lt": 1, "full": 1,
                                 "dlmkts": "", "data": None}  # fmt: skip
        if params.get("fs") != INDEX_FS:
            return reply
        rows = sorted(self._index_list(), key=lambda row: -row["f3"])  # fid=f3, po=1
        size = max(1, min(int(params.get("pz") or 20), CLIST_PAGE_MAX))
        page = max(1, int(params.get("pn") or 1))
        diff = rows[(page - 1) * size : page * size]
        if diff:
            reply["data"] = {"total": len(rows), "diff": diff}
        return reply

    def _index_list(self) -> list[dict[str, Any]]:
        """The main indices and filler rows up to :attr:`index_list_rows`, keys in field order."""
        main = [(index_market(i.code), i.code[:6]) for i in MAIN_INDICES]
        codes = [(market, code) for market, code in main if code not in self.unlisted]
        fillers = ((1, f"000{n:03d}") for n in range(100, 300))
        others = ((0, f"399{n:03d}") for n in range(300, 700))
        csi = ((2, f"930{n:03d}") for n in range(100, 1000))
        for more in (fillers, others, csi):
            for market, code in more:
                if len(codes) >= self.index_list_rows:
                    break
                codes.append((market, code))
        return [{"f3": _change_pct(code), "f12": code, "f13": market} for market, code in codes]

    # -- exchange lists ----------------------------------------------------------------------
    def _listed(self, exchange: Exchange, boards: tuple[Board, ...]) -> list[Security]:
        return [s for s in self._securities.values()
                if s.exchange is exchange and s.board in boards and s.delist_date is None]  # fmt: skip

    def _delisted(self, exchange: Exchange) -> list[Security]:
        return [s for s in self._securities.values()
                if s.exchange is exchange and s.delist_date is not None]  # fmt: skip

    def sse(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("COMPANY_STATUS") == "3":
            boards = {"1,2,8": (Board.MAIN, Board.STAR), "1,2": (Board.MAIN,), "8": (Board.STAR,)}
            wanted = boards.get(params.get("STOCK_TYPE", ""), ())
            rows = [{"COMPANY_CODE": s.code[:6], "COMPANY_ABBR": s.name,
                     "LIST_DATE": ymd(s.list_date), "DELIST_DATE": ymd(s.delist_date)}
                    for s in self._delisted(Exchange.SH) if s.board in wanted and s.delist_date]  # fmt: skip
        else:
            board = {"1": (Board.MAIN,), "8": (Board.STAR,)}.get(params.get("STOCK_TYPE", ""), ())
            rows = [{"A_STOCK_CODE": s.code[:6], "B_STOCK_CODE": "-", "COMPANY_CODE": s.code[:6],
                     "COMPANY_ABBR": s.name, "FULL_NAME": f"{s.name}股份有限公司",
                     "SEC_NAME_CN": s.name, "SEC_NAME_FULL": s.name, "LIST_DATE": ymd(s.list_date),
                     "PRODUCT_STATUS": "   F  F  F  F    N   N       "}
                    for s in self._listed(Exchange.SH, board)]  # fmt: skip
        return {"actionErrors": [], "fieldErrors": {}, "isPagination": "true",
                "pageHelp": {"pageNo": 1, "pageSize": 10000, "total": len(rows), "data": rows},
                "result": rows, "type": ""}  # fmt: skip

    def szse(self, key: str) -> bytes:
        with self._lock:
            cached = self._xlsx.get(key)
        if cached is not None:
            return cached
        if key == "1110/tab1":
            frame = pd.DataFrame([{
                "板块": "创业板" if s.board is Board.CHINEXT else "主板", "公司全称": f"{s.name}股份有限公司",
                "英文名称": "", "注册地址": "", "A股代码": s.code[:6], "A股简称": s.name,
                "A股上市日期": s.list_date.isoformat(), "A股总股本": "1,000,000,000",
                "A股流通股本": "800,000,000", "地区": "华南", "省份": "广东", "城市": "深圳",
                "所属行业": "J 金融业", "公司网址": "",
            } for s in self._listed(Exchange.SZ, (Board.MAIN, Board.CHINEXT))])  # fmt: skip
        elif key == "1793_ssgs/tab2":
            frame = pd.DataFrame([{
                "证券代码": s.code[:6], "证券简称": s.name, "上市日期": s.list_date.isoformat(),
                "终止上市日期": s.delist_date.isoformat() if s.delist_date else "",
            } for s in self._delisted(Exchange.SZ)])  # fmt: skip
        else:
            frame = pd.DataFrame(columns=["证券代码", "证券简称", "上市日期", "暂停上市日期"])
        out = io.BytesIO()
        frame.to_excel(out, index=False)
        with self._lock:
            self._xlsx[key] = out.getvalue()
        return out.getvalue()

    def bse(self, page: int) -> bytes:
        listed = sorted(self._listed(Exchange.BJ, (Board.BSE,)), key=lambda s: s.code)
        pages = max(1, math.ceil(len(listed) / BSE_PAGE_ROWS))
        chunk = listed[page * BSE_PAGE_ROWS : (page + 1) * BSE_PAGE_ROWS]
        content = []
        for s in chunk:
            values = {0: ymd(s.list_date), 11: 80_000_000, 17: "制造业", 22: "20250630",
                      29: "北京市", 35: "中信证券", 36: 100_000_000, 38: s.code[:6], 40: s.name}  # fmt: skip
            content.append({_BSE_KEYS.get(i, f"xx{i:02d}"): values.get(i, "") for i in range(48)})
        body = [{"content": content, "firstPage": page == 0, "lastPage": page >= pages - 1,
                 "number": page, "numberOfElements": len(content), "size": BSE_PAGE_ROWS,
                 "totalElements": len(listed), "totalPages": pages}]  # fmt: skip
        return f"null({json.dumps(body, ensure_ascii=False)})".encode()


def _kline(bar: Bar, scale: float, adjusted: bool, *, lots: bool = True) -> str:
    """One eastmoney kline string for ``bar`` with prices scaled by ``scale``."""
    pre = bar.pre_close or bar.open
    o, c, h, lo, p = (v * scale for v in (bar.open, bar.close, bar.high, bar.low, pre))
    price = (lambda v: f"{v:.10f}") if adjusted else (lambda v: f"{v:.2f}")
    volume = bar.volume // 100 if lots else bar.volume
    fields = [
        bar.trade_date.isoformat(), price(o), price(c), price(h), price(lo), str(volume),
        f"{bar.amount:.2f}", f"{(h - lo) / p * 100:.2f}", f"{(c / p - 1) * 100:.2f}",
        f"{c - p:.2f}", f"{bar.turnover_pct or 0.0:.2f}",
    ]  # fmt: skip
    return ",".join(fields)


def index_market(code: str) -> int:
    """eastmoney's market id of a main index: 1 for the SSE/CSI ones, 0 for SZSE and BSE."""
    return 1 if code.endswith(".SH") else 0


def _index_kline(bar: IndexBar, *, first: bool) -> str:
    """One eastmoney index kline; the first of a history has no previous close to compare."""
    pre = bar.pre_close or bar.close
    h, lo, c = bar.high, bar.low, bar.close
    changes = ("0.00", "0.00", "0.00") if first else (
        f"{(h - lo) / pre * 100:.2f}", f"{(c / pre - 1) * 100:.2f}", f"{c - pre:.2f}")  # fmt: skip
    fields = [
        bar.trade_date.isoformat(), f"{bar.open:.2f}", f"{c:.2f}", f"{h:.2f}", f"{lo:.2f}",
        str(bar.volume // 100), f"{bar.amount:.2f}", *changes, "0.00",
    ]  # fmt: skip
    return ",".join(fields)


def _under_way(period: Period, days: list[IndexBar]) -> IndexBar:
    """The bar of a week or month so far, dated on its latest day."""
    first, last = days[0], days[-1]
    return dataclasses.replace(
        last,
        period=period,
        open=first.open,
        high=max(b.high for b in days),
        low=min(b.low for b in days),
        pre_close=first.pre_close,
        volume=sum(b.volume for b in days),
        amount=sum(b.amount for b in days),
    )


def _garbled(kline: str) -> str:
    """The kline with high and low swapped and the volume in shares instead of lots."""
    fields = kline.split(",")
    fields[3], fields[4] = fields[4], fields[3]
    fields[5] = str(int(fields[5]) * 100)
    return ",".join(fields)


def _pre_close(kline: str) -> float:
    fields = kline.split(",")
    return round(float(fields[2]) - float(fields[9]), 2)


def _ymd_number(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() else default


def _change_pct(code: str) -> float:
    """A stable stand-in for today's 涨跌幅 (f3), which orders the clist."""
    digest = hashlib.blake2b(code.encode(), digest_size=4).digest()
    return round(int.from_bytes(digest, "big") / 2**32 * 6 - 3, 2)


def _json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeEastmoney


class _ProxyHandler(BaseHTTPRequestHandler):
    """The proxy: CONNECT to a faked host becomes a TLS session served by :class:`_SiteHandler`."""

    server: _ProxyServer
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        fake = self.server.fake
        if host not in HOSTS or port != "443":
            fake.refused.append(self.path)
            self.send_error(502, "not a faked host")
            return
        with fake._lock:
            fake.tunnels[host] += 1
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        try:
            tls = fake.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client gave up on the handshake (e.g. it does not trust our CA)
        _SiteHandler(tls, self.client_address, self.server)

    def do_GET(self) -> None:
        self.send_error(405, "this proxy only tunnels HTTPS (CONNECT)")


class _SiteHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 over the TLS tunnel, answering as whichever faked host the request names."""

    server: _ProxyServer
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self._serve(body)

    def _serve(self, form: str = "") -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query + "&" + form).items()}
        host = (self.headers.get("Host") or "").split(":")[0]
        fake.record(host, url.path, params)
        faults = fake.faults.take()
        if faults.latency_s:
            time.sleep(faults.latency_s)
        if faults.stall:
            fake.wait_while_stalled()
            self._hang_up()
            return
        if faults.drop:
            self._hang_up()
            return
        if faults.rate_limit or faults.auth:
            self._send(403, "text/html", _NGINX.format("403 Forbidden").encode())
            return
        if faults.server_error:
            self._send(500, "text/html", _NGINX.format("500 Internal Server Error").encode())
            return
        status, kind, body = fake.route(host, url.path, params, faults.garbage)
        if faults.bad_json:
            status, kind, body = 200, "application/json", b'{"rc":0,"data":{"klines":["2024-12-0'
        self._send(status, kind, body)

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
