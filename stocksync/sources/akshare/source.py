"""The akshare source: eastmoney klines and the exchanges' lists through the unmodified library
(see the package docstring)."""

from __future__ import annotations

import bisect
import datetime as dt
import importlib
import inspect
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd  # type: ignore[import-untyped]
import requests

from stocksync.codes import normalize_code
from stocksync.config import Settings
from stocksync.coordination.ratelimit import InProcessQuota
from stocksync.domain import (
    MINUTE_PERIODS,
    AdjFactor,
    Bar,
    CorporateAction,
    DatasetName,
    Exchange,
    FinancialReport,
    IndexBar,
    MinuteBar,
    Period,
    Security,
    StockProfile,
)
from stocksync.errors import InvalidRequest
from stocksync.sources.akshare import events, frames, indices, minutes
from stocksync.sources.base import (
    ALL_PERIODS,
    Availability,
    CallQuota,
    FatalSourceError,
    NoDataError,
    Offer,
    RateLimitedError,
    Shape,
    Source,
    SourceError,
    TransientSourceError,
    catalogue,
    take_quota,
)

__all__ = ["AkshareSource", "build_akshare_source"]

log = logging.getLogger(__name__)
T = TypeVar("T")
NAME = "akshare"
DEFAULT_CALLS_PER_MINUTE = 20  # eastmoney bans IPs even at one call per 2-3 s
BAN_WAIT_S = 1800.0  # eastmoney bans last hours; execution caps a wait at half the visibility
INLINE_WAIT_MAX_S = 5.0  # a quota wait up to this is slept through instead of raised
LIST_DEADLINE_FACTOR = 3  # a stock-list call (some pass no timeout) may take this × the timeout
KNOWN_TTL_S = 3600.0  # how long the securities list answers "is this code known?"
_PERIOD = {Period.DAILY: "daily", Period.WEEKLY: "weekly", Period.MONTHLY: "monthly"}
_BAN_PAGE = re.compile(r"403 Forbidden|<title>\s*403|访问过于频繁|禁止访问", re.IGNORECASE)
_MISCONFIGURED = (
    requests.exceptions.InvalidProxyURL,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
)


def _akshare() -> Any:
    """The akshare module, imported on first use (it takes a second and has no type hints)."""
    return importlib.import_module("akshare")


class AkshareSource(Source):
    """eastmoney through akshare: one stock over a range, daily/weekly/monthly, with factors,
    and recent minute bars (eastmoney leaves suspended days out; it serves no valuations here)."""

    name = NAME
    serves = catalogue(
        {
            DatasetName.BARS: Offer(frozenset({Shape.STOCK_BY_RANGE}), ALL_PERIODS, True),
            DatasetName.ADJ_FACTORS: Offer(frozenset({Shape.STOCK_BY_RANGE}), omits_suspended=True),
            DatasetName.INDEX_BARS: Offer(frozenset({Shape.STOCK_BY_RANGE}), ALL_PERIODS),
            DatasetName.CORPORATE_ACTIONS: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.PROFILES: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.FINANCIALS: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.MINUTE_BARS: Offer(
                frozenset({Shape.STOCK_BY_RANGE}), MINUTE_PERIODS, omits_suspended=True
            ),
        }
    )

    def __init__(
        self,
        *,
        timeout_s: float = 15.0,
        calls_per_minute: int = DEFAULT_CALLS_PER_MINUTE,
        quota: CallQuota | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if calls_per_minute <= 0:
            raise ValueError(f"calls_per_minute must be > 0, got {calls_per_minute}")
        self._timeout_s = timeout_s
        self._limit = calls_per_minute
        self._quota: CallQuota = quota if quota is not None else InProcessQuota()
        self._known: dict[str, Security] = {}
        self._known_at = -math.inf
        self._unanswered: frozenset[Exchange] = frozenset()  # exchanges whose list failed
        self._known_lock = threading.Lock()

    @property
    def expected_latency_s(self) -> float:
        return 0.5

    @property
    def calls_per_minute(self) -> int | None:
        return self._limit

    def availability(self) -> Availability:
        """akshare importable, with a ``timeout`` on ``stock_zh_a_hist`` and its calendar file."""
        try:
            ak = _akshare()
            hist = ak.stock_zh_a_hist
        except (ImportError, AttributeError) as exc:
            return Availability(False, f"akshare is not usable: {exc}")
        if "timeout" not in inspect.signature(hist).parameters:
            return Availability(False, "akshare's stock_zh_a_hist takes no timeout; upgrade it")
        try:
            frames.calendar()
        except (OSError, ValueError) as exc:
            return Availability(False, f"akshare's trading calendar is unreadable: {exc}")
        return Availability(True)

    # -- reference data ----------------------------------------------------------------------
    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """SSE sessions in ``[start, end]`` from akshare's offline calendar."""
        days = frames.calendar()
        if end > days[-1]:
            raise FatalSourceError(
                self.name, f"akshare's calendar ends on {days[-1]}; cannot go to {end}"
            )
        return list(days[bisect.bisect_left(days, start) : bisect.bisect_right(days, end)])

    def securities(self) -> list[Security]:
        """Listed stocks of SSE (main, STAR), SZSE and BSE, and SSE/SZSE delisted ones.

        Six lists, each asked on its own: when some do not answer, the others are returned and
        a warning names the missing ones (their stocks then count as unknown-for-now, never as
        unlisted); only when none answers does the call fail, as the first failure did."""
        self._admit("securities")
        ak = _akshare()
        for listing in (ak.stock_info_sh_name_code, ak.stock_info_sz_name_code,
                        ak.stock_info_bj_name_code):  # fmt: skip
            listing.cache_clear()  # lru_cached for the process: a fresh list on every call
        found: dict[str, Security] = {}
        failures: list[tuple[str, Exchange, SourceError]] = []
        lists: tuple[tuple[str, Exchange, Callable[[], Any], Callable[[Any], Any]], ...] = (
            ("SSE main board", Exchange.SH,
             lambda: ak.stock_info_sh_name_code(symbol="主板A股"), frames.sh_listed),
            ("SSE STAR", Exchange.SH,
             lambda: ak.stock_info_sh_name_code(symbol="科创板"), frames.sh_listed),
            ("SZSE", Exchange.SZ,
             lambda: ak.stock_info_sz_name_code(symbol="A股列表"), frames.sz_listed),
            ("BSE", Exchange.BJ, ak.stock_info_bj_name_code, frames.bj_listed),
            ("SSE delisted", Exchange.SH,
             lambda: ak.stock_info_sh_delist(symbol="全部"), frames.sh_delisted),
            ("SZSE delisted", Exchange.SZ,
             lambda: ak.stock_info_sz_delist(symbol="终止上市公司"), frames.sz_delisted),
        )  # fmt: skip
        replies = self._bounded_all([fetch for _, _, fetch, _ in lists])
        for (label, exchange, _, parse), reply in zip(lists, replies, strict=True):
            try:
                rows = self._stock_list(reply, parse)
            except SourceError as exc:
                failures.append((label, exchange, exc))
                continue
            for security in rows:
                found.setdefault(security.code, security)  # a listed entry beats a delisted one
        if len(failures) == len(lists):
            raise failures[0][2]
        if failures:
            log.warning(
                "akshare: %d of %d stock lists did not answer (%s); using the other %d",
                len(failures),
                len(lists),
                "; ".join(f"{label}: {exc.message}" for label, _, exc in failures),
                len(lists) - len(failures),
            )
        if not found:
            raise TransientSourceError(self.name, "the exchanges listed no stock at all")
        with self._known_lock:
            self._known, self._known_at = found, time.monotonic()
            self._unanswered = frozenset(exchange for _, exchange, _ in failures)
        return sorted(found.values(), key=lambda s: s.code)

    def _stock_list(self, reply: Any, parse: Callable[[Any], Any]) -> list[Security]:
        """One exchange list's rows from its reply; a SourceError if it failed or is malformed."""
        if isinstance(reply, SourceError):
            raise reply
        try:
            return list(parse(reply))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TransientSourceError(self.name, f"malformed stock list: {exc!r}") from exc

    # -- bars ----------------------------------------------------------------------------------
    def stock_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[Bar]:
        """Unadjusted bars of ``code`` in ``[start, end]``; suspended days are absent."""
        code = self._canonical(code)
        frame = self._hist(code, period, start, end, adjust="")
        if frame.empty:
            self._explain_empty(code, period, start, end)
            return []
        bars = self._convert(lambda: frames.bars(frame, code, period))
        return [bar for bar in bars if start <= bar.trade_date <= end]

    def adj_factors(self, code: str, start: dt.date, end: dt.date) -> list[AdjFactor]:
        """hfq factors of ``code`` on its traded days in ``[start, end]``: hfq close / close."""
        code = self._canonical(code)
        raw = self._hist(code, Period.DAILY, start, end, adjust="")
        if raw.empty:
            self._explain_empty(code, Period.DAILY, start, end)
            return []
        hfq = self._hist(code, Period.DAILY, start, end, adjust="hfq")
        closes = self._convert(lambda: frames.closes(raw))
        adjusted = self._convert(lambda: frames.closes(hfq))
        if closes.keys() != adjusted.keys():
            raise TransientSourceError(
                self.name, f"{code}: the raw and hfq replies cover different days"
            )
        return [
            AdjFactor(code=code, trade_date=day, factor=round(adjusted[day] / close, 6))
            for day, close in sorted(closes.items())
            if start <= day <= end
        ]

    # -- index bars ----------------------------------------------------------------------------
    def index_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[IndexBar]:
        """Bars of the main index ``code`` dated in ``[start, end]``, cut from eastmoney's
        whole history (see :mod:`stocksync.sources.akshare.indices`); NoDataError for an index
        that is not a main one."""
        code = indices.main_index(self.name, code)
        if period not in _PERIOD:
            raise FatalSourceError(self.name, f"unsupported period {period!r}")
        frame = indices.fetch_frame(
            self.name, code, _PERIOD[period], start, end, self._admit, self._bounded
        )
        if not isinstance(frame, pd.DataFrame):
            raise TransientSourceError(self.name, f"unexpected reply {type(frame).__name__}")
        bars = self._convert(lambda: indices.index_bars(frame, code, period))
        return indices.dated_within(bars, period, start, end)

    # -- stock events (see :mod:`stocksync.sources.akshare.events`) ----------------------------
    def corporate_actions(self, code: str, start: dt.date, end: dt.date) -> list[CorporateAction]:
        """eastmoney's implemented dividends and bonus/transfer shares of ``code`` with an
        ex-date in ``[start, end]``, per share."""
        code = self._canonical(code)
        frame = events.fetch_actions_frame(code, self._admit, self._bounded)
        if frame is None:
            return []
        return self._convert(lambda: events.actions(frame, code, start, end))

    def profiles(self, code: str, start: dt.date, end: dt.date) -> list[StockProfile]:
        """eastmoney's snapshot of ``code`` (name, ST, industry, shares), dated today: it has
        no history."""
        code = self._canonical(code)
        try:
            frame = events.fetch_profile_frame(code, self._admit, self._timeout_s)
        except Exception as exc:  # classified once, here
            raise self._classify(exc) from exc
        if frame is None:
            if code not in self._known_securities():
                raise NoDataError(self.name, f"no exchange lists {code}")
            raise TransientSourceError(self.name, f"eastmoney sent no quote of listed {code}")
        return [self._convert(lambda: events.profile(frame, code, dt.date.today()))]

    def financials(self, code: str, start: dt.date, end: dt.date) -> list[FinancialReport]:
        """eastmoney's main indicators of ``code``: one version per period, dated on its
        notice (or later update) date within ``[start, end]``."""
        code = self._canonical(code)
        frame = events.fetch_financials_frame(code, self._admit, self._bounded)
        if frame is None:
            return []
        return self._convert(lambda: events.financials(frame, code, start, end))

    # -- minute bars (see :mod:`stocksync.sources.akshare.minutes`) ----------------------------
    def minute_bars(
        self, code: str, period: Period, start: dt.date, end: dt.date
    ) -> list[MinuteBar]:
        """Unadjusted ``period`` bars of ``code`` on its days in ``[start, end]`` that eastmoney
        still keeps (recent months only: older days are missing); one request, cut here."""
        code = self._canonical(code)
        frame = minutes.fetch_frame(self.name, code, period, self._admit, self._bounded)
        if frame is None:  # "data": null
            self._explain_empty(code, Period.DAILY, start, end)
            return []
        bars = self._convert(lambda: minutes.minute_bars(frame, code, period))
        return minutes.within(bars, code, period, start, end)

    # -- plumbing ------------------------------------------------------------------------------
    def _canonical(self, code: str) -> str:
        try:
            return normalize_code(code)
        except InvalidRequest as exc:
            raise FatalSourceError(self.name, str(exc)) from exc

    def _admit(self, what: str) -> None:
        """Take one call from the quota, sleeping through a short wait."""
        take_quota(self._quota, self.name, self.name, self._limit, what, INLINE_WAIT_MAX_S)

    def _hist(
        self, code: str, period: Period, start: dt.date, end: dt.date, *, adjust: str
    ) -> pd.DataFrame:
        """One eastmoney kline request (the library passes our timeout to ``requests``)."""
        if period not in _PERIOD:
            raise FatalSourceError(self.name, f"unsupported period {period!r}")
        self._admit("stock_zh_a_hist")
        try:
            frame = _akshare().stock_zh_a_hist(
                symbol=code[:6],
                period=_PERIOD[period],
                start_date=start.strftime("%Y%m%d"),
                end_date=end.strftime("%Y%m%d"),
                adjust=adjust,
                timeout=self._timeout_s,
            )
        except Exception as exc:  # classified once, here
            raise self._classify(exc) from exc
        if not isinstance(frame, pd.DataFrame):
            raise TransientSourceError(self.name, f"unexpected reply {type(frame).__name__}")
        return frame

    def _bounded(self, fetch: Callable[[], T]) -> T:
        """The value of one library call that may set no timeout, run within the lists'
        deadline (see :meth:`_bounded_all`); its failure raised as a SourceError."""
        reply = self._bounded_all([fetch])[0]
        if isinstance(reply, SourceError):
            raise reply
        return reply  # type: ignore[no-any-return]

    def _bounded_all(self, fetches: list[Callable[[], Any]]) -> list[Any]:
        """Run library calls that may set no timeout side by side in daemon threads, all within
        one deadline: each one's value, or the SourceError it ended in.

        A call past the deadline is abandoned (its thread ends when the socket does).
        """
        boxes: list[dict[str, Any]] = [{} for _ in fetches]

        def run(fetch: Callable[[], Any], box: dict[str, Any]) -> None:
            try:
                box["value"] = fetch()
            except BaseException as exc:
                box["error"] = exc

        limit = self._timeout_s * LIST_DEADLINE_FACTOR
        threads = [
            threading.Thread(target=run, args=(f, b), name="akshare-call", daemon=True)
            for f, b in zip(fetches, boxes, strict=True)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + limit
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        results: list[Any] = []
        for thread, box in zip(threads, boxes, strict=True):
            if thread.is_alive():
                results.append(TransientSourceError(self.name, f"no answer within {limit:g} s"))
            elif "error" in box:
                failure = self._classify(box["error"])
                failure.__cause__ = box["error"]
                results.append(failure)
            else:
                results.append(box["value"])
        return results

    def _classify(self, exc: BaseException) -> SourceError:
        """The one place an akshare/requests failure becomes a :class:`SourceError`."""
        if isinstance(exc, SourceError):
            return exc
        detail = f"{type(exc).__name__}: {exc}"
        untrusted = "CERTIFICATE_VERIFY_FAILED" in str(exc)
        if isinstance(exc, requests.exceptions.SSLError) and untrusted:
            return FatalSourceError(self.name, f"TLS certificate not trusted: {detail}")
        if isinstance(exc, _MISCONFIGURED):  # e.g. an HTTPS_PROXY without a scheme
            return FatalSourceError(self.name, f"bad URL or proxy setting: {detail}")
        if isinstance(exc, requests.exceptions.Timeout):
            return TransientSourceError(self.name, f"no answer within {self._timeout_s:g} s")
        if isinstance(exc, json.JSONDecodeError | requests.exceptions.JSONDecodeError):
            # akshare never checks the HTTP status: a 403 ban page reaches r.json()
            if _BAN_PAGE.search(str(getattr(exc, "doc", ""))[:2000]):
                return RateLimitedError(self.name, "eastmoney refused (403: IP ban)", BAN_WAIT_S)
            return TransientSourceError(self.name, f"malformed reply: {detail}")
        if isinstance(exc, requests.exceptions.HTTPError) and _status(exc) == 403:
            return RateLimitedError(self.name, "eastmoney refused (403: IP ban)", BAN_WAIT_S)
        if isinstance(exc, requests.exceptions.RequestException):
            return TransientSourceError(self.name, detail)
        if isinstance(exc, ImportError):
            return FatalSourceError(self.name, f"akshare is not importable: {detail}")
        # KeyError/ValueError/... raised while akshare parses an unexpected body
        return TransientSourceError(self.name, f"malformed reply: {detail}")

    def _convert(self, convert: Callable[[], T]) -> T:
        """Run a frame conversion; a frame that does not convert is a malformed reply."""
        try:
            return convert()
        except (TypeError, ValueError) as exc:  # what the server's rows can cause; else a bug
            raise TransientSourceError(self.name, f"malformed rows: {exc!r}") from exc

    def _known_securities(self) -> dict[str, Security]:
        with self._known_lock:
            if time.monotonic() - self._known_at < KNOWN_TTL_S:
                return self._known
        self.securities()
        return self._known

    def _explain_empty(self, code: str, period: Period, start: dt.date, end: dt.date) -> None:
        """An empty frame: NoData for a code no exchange lists, nothing when the stock has no
        bar date in range, else a (throttled?) failure."""
        security = self._known_securities().get(code)
        if security is None:
            if Exchange(code[-2:]) in self._unanswered:
                raise TransientSourceError(
                    self.name, f"eastmoney sent no bars of {code}, and its exchange's stock list "
                    "did not answer: cannot tell whether it is listed",
                )  # fmt: skip
            raise NoDataError(self.name, f"no exchange lists {code}")
        if not any(security.is_listed_on(day) for day in frames.bar_dates(period, start, end)):
            return
        raise TransientSourceError(
            self.name, f"eastmoney sent no {period} bars of listed stock {code} for {start}..{end}"
        )


def _status(exc: requests.exceptions.HTTPError) -> int | None:
    """The HTTP status of a ``raise_for_status`` failure (akshare's clist pages raise one)."""
    return exc.response.status_code if exc.response is not None else None


def build_akshare_source(settings: Settings, quota: CallQuota | None = None) -> AkshareSource:
    """An :class:`AkshareSource` with the configured timeout and (conservative) call limit."""
    return AkshareSource(
        timeout_s=settings.source_timeout_s,
        calls_per_minute=settings.calls_per_minute.get(NAME) or DEFAULT_CALLS_PER_MINUTE,
        quota=quota,
    )
