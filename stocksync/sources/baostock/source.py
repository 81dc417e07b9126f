"""The baostock adapter: per-stock bars, factors, valuations, minute bars, index bars and members,
corporate actions, profiles and financials, securities and calendar, classified errors.

Every call goes through :meth:`BaostockSource._query`: blacklist memory, call quota, the
process's session lock, login when needed, the library call and all its pages under a
:class:`~stocksync.sources.baostock.session.Watchdog`, one retry after 10001001, and after any
error a dropped session so the next call logs in on a new socket (a late reply to a timed-out
request can never be read as the answer to the next one).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from stocksync.config import Settings
from stocksync.coordination.ratelimit import InProcessQuota
from stocksync.domain import (
    AdjFactor,
    Bar,
    CorporateAction,
    DatasetName,
    FinancialReport,
    IndexBar,
    IndexMember,
    MinuteBar,
    Period,
    Security,
    StockProfile,
    Valuation,
)
from stocksync.sources.baostock import actions, indices, members, minutes, profiles, reports
from stocksync.sources.baostock import rows as wire
from stocksync.sources.baostock.replies import out_of_step
from stocksync.sources.baostock.session import (
    OK,
    SESSION,
    BrokenOff,
    Watchdog,
    drain,
    library,
)
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
    unit_memo,
)

log = logging.getLogger(__name__)

NAME = "baostock"
DEFAULT_CALLS_PER_MINUTE = 300
BLACKLIST_WAIT_S = 4 * 3600.0  # 10001011: back off for hours, not seconds
AVAILABILITY_TIMEOUT_S = 3.0
_DAILY_FIELDS = (
    "date,code,open,high,low,close,preclose,volume,amount,adjustflag,turn,tradestatus,pctChg,isST"
)
_PERIOD_FIELDS = "date,code,open,high,low,close,volume,amount,adjustflag,turn,pctChg"
# One daily query per unit carries the bars, the raw close behind the factors and the
# valuations (peTTM, pbMRQ: daily k-data only; baostock has no market value).
_DAILY_ALL_FIELDS = _DAILY_FIELDS + ",peTTM,pbMRQ"
_FREQUENCY = {Period.DAILY: "d", Period.WEEKLY: "w", Period.MONTHLY: "m", **minutes.FREQUENCY}
_RAW, _HFQ = "3", "1"

NO_LOGIN = "10001001"
LOGIN_COUNT_LIMIT = "10001005"
BLACKLISTED = "10001011"
PARSE_ERRORS = frozenset({"10004001", "10004002"})  # the reply arrived corrupted
SYSTEM_ERROR = "10005001"


class BaostockSource(Source):
    """baostock: per-stock daily/weekly/monthly bars, factors, daily valuations (P/E and P/B
    only), 5-60 minute bars of stocks, bars of the SH and SZ indices, members of CSI 300, SSE 50
    and CSI 500 (no weights), dividends, ST status, industry and today's name, quarterly reports
    (one version a period), securities and the calendar; nothing of Beijing."""

    name = NAME
    serves = catalogue(
        {
            DatasetName.BARS: Offer(frozenset({Shape.STOCK_BY_RANGE}), ALL_PERIODS),
            DatasetName.ADJ_FACTORS: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.VALUATIONS: Offer(frozenset({Shape.STOCK_BY_RANGE}), omits_suspended=True),
            DatasetName.INDEX_BARS: Offer(frozenset({Shape.STOCK_BY_RANGE}), ALL_PERIODS),
            DatasetName.INDEX_MEMBERS: Offer(
                frozenset({Shape.STOCK_BY_RANGE}), frozenset({Period.MONTHLY})
            ),
            DatasetName.CORPORATE_ACTIONS: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.PROFILES: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.FINANCIALS: Offer(frozenset({Shape.STOCK_BY_RANGE})),
            DatasetName.MINUTE_BARS: minutes.OFFER,
        }
    )

    def __init__(
        self,
        addr: tuple[str, int] | None = None,
        *,
        timeout_s: float = 15.0,
        calls_per_minute: int = DEFAULT_CALLS_PER_MINUTE,
        quota: CallQuota | None = None,
        blacklist_wait_s: float = BLACKLIST_WAIT_S,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.addr = addr
        self.timeout_s = timeout_s
        self.deadline_s = timeout_s * 3 + 5  # a whole call, every page included
        self._limit = calls_per_minute
        self._quota: CallQuota = quota if quota is not None else InProcessQuota()
        self._blacklist_wait_s = blacklist_wait_s
        self._blocked_until = 0.0
        self._today = today

    @property
    def expected_latency_s(self) -> float:
        return 0.16

    @property
    def calls_per_minute(self) -> int | None:
        return self._limit or None

    # -- the contract --------------------------------------------------------------------
    def covers(self, code: str) -> bool:
        """Every stock and index of Shanghai and Shenzhen, none of Beijing."""
        return wire.covered(code)

    def covers_dataset(self, dataset: DatasetName, code: str) -> bool:
        """Members of 000300.SH, 000016.SH and 000905.SH only; otherwise :meth:`covers`."""
        if dataset is DatasetName.INDEX_MEMBERS:
            return members.covered(code)
        return self.covers(code)

    def availability(self) -> Availability:
        """The library imports and the server answers a login within a few seconds."""
        try:
            library()
        except ImportError as exc:
            return Availability(False, f"the baostock library is not installed: {exc}")
        if self._blocked_s() > 0:
            return Availability(False, f"blacklisted by the server for {self._blocked_s():.0f} s")
        try:
            with SESSION.lock:
                self._login(min(self.timeout_s, AVAILABILITY_TIMEOUT_S))
        except SourceError as exc:
            return Availability(False, exc.message)
        return Availability(True)

    def securities(self) -> list[Security]:
        """Stocks of ``query_stock_basic`` (type 1), listed or delisted; no indexes or funds."""
        rows = self._records("securities", lambda bs: bs.query_stock_basic())
        out = [s for r in rows if (s := wire.security(r)) is not None]
        if not out:
            raise NoDataError(NAME, "query_stock_basic returned no stocks")
        return sorted(out, key=lambda s: s.code)

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Days ``query_trade_dates`` marks as trading days within ``[start, end]``."""
        rows = self._records(
            "trading days",
            lambda bs: bs.query_trade_dates(start_date=start.isoformat(), end_date=end.isoformat()),
        )
        if not rows:
            raise NoDataError(NAME, f"no calendar for {start} to {end}")
        days = {wire.parse_date(r["calendar_date"]) for r in rows if r.get("is_trading_day") == "1"}
        return sorted(d for d in days if start <= d <= end)

    def stock_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[Bar]:
        """Unadjusted bars of ``code``; NoDataError when baostock has none (or no such code)."""
        period = Period(period)
        if period is Period.DAILY:
            canonical, rows = self._daily_raw(code, start, end)
        else:
            canonical, rows = self._k_data(code, period, start, end, _RAW)
        if not rows:
            raise NoDataError(NAME, f"no {period} bars of {canonical} from {start} to {end}")
        try:
            return [wire.bar(canonical, period, r) for r in rows]
        except (ValueError, ArithmeticError) as exc:
            raise TransientSourceError(
                NAME, f"unreadable {period} bar of {canonical}: {exc!r}"
            ) from exc

    def adj_factors(self, code: str, start: dt.date, end: dt.date) -> list[AdjFactor]:
        """hfq factors derived from the series: hfq close / raw close (6 decimals); the raw
        close comes from the unit's daily query when its bars or valuations asked already."""
        canonical, raw = self._daily_raw(code, start, end)
        _, hfq = self._k_data(code, Period.DAILY, start, end, _HFQ, "date,code,close")
        if not raw:
            raise NoDataError(NAME, f"no bars of {canonical} from {start} to {end}")
        hfq_close = {r["date"]: r["close"] for r in hfq}
        if set(hfq_close) != {r["date"] for r in raw}:
            raise TransientSourceError(NAME, f"raw and hfq bars of {canonical} cover other days")
        try:
            return [
                AdjFactor(
                    canonical,
                    wire.parse_date(r["date"]),
                    round(wire.number(hfq_close[r["date"]]) / c, 6),
                )
                for r in raw
                if (c := wire.number(r["close"])) > 0
            ]
        except ValueError as exc:
            raise TransientSourceError(NAME, f"unreadable close of {canonical}: {exc}") from exc

    def stock_valuations(self, code: str, start: dt.date, end: dt.date) -> list[Valuation]:
        """``peTTM`` and ``pbMRQ`` of ``code`` on its trading days, from one daily k-data query.

        Suspended days (tradestatus 0), on which baostock still reports ratios, are skipped.
        baostock serves no market value: ``total_mv`` and ``circ_mv`` are None. A P/E that is
        empty, unreadable or not positive (a loss-making stock) is None, and so is an empty or
        unreadable P/B. NoDataError when baostock has no rows (or no such code).
        """
        canonical, rows = self._daily_raw(code, start, end)
        if not rows:
            raise NoDataError(NAME, f"no valuations of {canonical} from {start} to {end}")
        try:
            return [
                wire.valuation(canonical, r) for r in rows if int(r.get("tradestatus") or 1) != 0
            ]
        except ValueError as exc:
            raise TransientSourceError(
                NAME, f"unreadable valuation of {canonical}: {exc!r}"
            ) from exc

    def minute_bars(
        self, code: str, period: Period, start: dt.date, end: dt.date
    ) -> list[MinuteBar]:
        """A stock's 5-60 minute bars from one k-data query, every page (:mod:`.minutes`)."""
        period = minutes.frequency_of(period)
        canonical, rows = self._k_data(code, period, start, end, _RAW, minutes.FIELDS)
        return minutes.minute_bars(canonical, period, start, end, rows)

    def index_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[IndexBar]:
        """Bars of the index ``code`` (``000300.SH``) from one k-data query with baostock's index
        fields; weekly/monthly pre_close from pctChg. NoDataError when baostock has none."""
        period = Period(period)
        canonical, bs_code = indices.bs_code(code)
        fields = indices.FIELDS[period]
        rows = self._k_rows(canonical, bs_code, period, start, end, _RAW, fields)
        return indices.index_bars(canonical, period, start, end, rows)

    def index_members(self, code: str, start: dt.date, end: dt.date) -> list[IndexMember]:
        """The members of ``code`` as of each month's last trading day within [start, end]
        (from the index's first day on): one calendar query, then one members query per month
        end. Weights are None. NoDataError when baostock has members on none of them."""
        canonical, query = members.query_of(code)
        first = members.first_day(canonical, start)
        if first > end:
            return []
        days = self.trading_days(first, members.calendar_end(end))
        out: list[IndexMember] = []
        asked = members.month_ends(days, first, end)
        for day in asked:
            found = members.on(self._records, canonical, query, day)
            out += members.snapshot(canonical, day, found)
        if asked and not out:
            raise NoDataError(NAME, f"no members of {canonical} from {first} to {end}")
        return out

    def corporate_actions(self, code: str, start: dt.date, end: dt.date) -> list[CorporateAction]:
        """Dividends and bonus/transfer shares by ex-date (:mod:`.actions`); no rights issues."""
        return actions.fetch(self._records, wire.canonical(code), start, end)

    def profiles(self, code: str, start: dt.date, end: dt.date) -> list[StockProfile]:
        """ST status and its changes, industry, today's name (:mod:`.profiles`); no shares."""
        canonical = wire.canonical(code)
        return profiles.fetch(self._records, self._k_rows, canonical, start, end, self._today())

    def financials(self, code: str, start: dt.date, end: dt.date) -> list[FinancialReport]:
        """Each period's one version announced in range (:mod:`.reports`); no eps, revenue yoy."""
        return reports.fetch(self._records, wire.canonical(code), start, end, self._today())

    def close(self) -> None:
        """Log out (best effort, briefly) and close the process's baostock connection."""
        with SESSION.lock:
            if not SESSION.alive_for(self.addr):
                return  # not logged in, or another instance's session to another server
            lib = library()
            with Watchdog(lib, min(self.timeout_s, 2.0)), contextlib.suppress(Exception):
                lib.bs.logout()
            SESSION.drop()

    # -- calls ---------------------------------------------------------------------------
    def _daily_raw(
        self, code: str, start: dt.date, end: dt.date
    ) -> tuple[str, list[dict[str, str]]]:
        """The unadjusted daily series of ``code`` with every field the daily datasets read,
        asked once per unit (:func:`~stocksync.sources.base.unit_memo`)."""
        memo = unit_memo()
        key = (NAME, "daily_raw", code, start, end)
        if memo is not None and key in memo:
            found: tuple[str, list[dict[str, str]]] = memo[key]
            return found
        found = self._k_data(code, Period.DAILY, start, end, _RAW, _DAILY_ALL_FIELDS)
        if memo is not None:
            memo[key] = found
        return found

    def _k_data(
        self,
        code: str,
        period: Period,
        start: dt.date,
        end: dt.date,
        adjustflag: str,
        fields: str | None = None,
    ) -> tuple[str, list[dict[str, str]]]:
        canonical = wire.canonical(code)
        bs_code = f"{canonical[7:].lower()}.{canonical[:6]}"
        fields = fields or (_DAILY_FIELDS if period is Period.DAILY else _PERIOD_FIELDS)
        return canonical, self._k_rows(canonical, bs_code, period, start, end, adjustflag, fields)

    def _k_rows(
        self, canonical: str, bs_code: str, period: Period, start: dt.date, end: dt.date,
        adjustflag: str, fields: str,
    ) -> list[dict[str, str]]:  # fmt: skip
        """The rows of one k-data query, each checked to answer it (``bs_code``, the dates)."""
        rows = self._records(
            f"{period} bars of {canonical}",
            lambda bs: bs.query_history_k_data_plus(
                bs_code, fields, start_date=start.isoformat(), end_date=end.isoformat(),
                frequency=_FREQUENCY[period], adjustflag=adjustflag,
            ),
        )  # fmt: skip
        if rows and not set(fields.split(",")) <= rows[0].keys():
            missing = ", ".join(sorted(set(fields.split(",")) - rows[0].keys()))
            raise TransientSourceError(NAME, f"malformed reply for {canonical}: no {missing}")
        first, last = start.isoformat(), end.isoformat()
        if any(r.get("code") != bs_code or not first <= r.get("date", "") <= last for r in rows):
            raise out_of_step(f"{period} bars of {canonical}")  # never stored; a new session
        return rows

    def _records(self, what: str, call: Callable[[Any], Any]) -> list[dict[str, str]]:
        fields, rows = self._query(what, call)
        try:
            return [dict(zip(fields, row, strict=True)) for row in rows]
        except ValueError as exc:
            raise TransientSourceError(NAME, f"{what}: rows do not match the fields") from exc

    def _query(self, what: str, call: Callable[[Any], Any]) -> tuple[list[str], list[list[str]]]:
        """Run one library query with every page: quota, lock, login, watchdog, one retry after
        10001001, and each failure classified once."""
        lib = library()
        if (blocked := self._blocked_s()) > 0:
            raise RateLimitedError(NAME, f"{what}: blacklisted by the server", wait_s=blocked)
        take_quota(self._quota, NAME, NAME, self._limit, what)
        with SESSION.lock:
            for attempt in (1, 2):
                self._login(self.timeout_s)
                began = time.monotonic()
                with Watchdog(lib, self.deadline_s) as dog:
                    try:
                        rs = call(lib.bs)
                        rows = drain(rs) if rs is not None else []
                    except BrokenOff as exc:
                        SESSION.drop()
                        raise TransientSourceError(NAME, f"{what}: {exc}") from exc
                    except Exception as exc:  # the client choked on the reply
                        SESSION.drop()
                        raise TransientSourceError(
                            NAME, f"{what}: malformed reply ({type(exc).__name__}: {exc})"
                        ) from exc
                if rs is None:
                    raise FatalSourceError(NAME, f"{what}: the client refused the request")
                if rs.error_code == OK:
                    return list(rs.fields), rows
                SESSION.drop()  # the stream may be out of step: re-login after any error
                if rs.error_code == NO_LOGIN and attempt == 1:
                    continue
                took = time.monotonic() - began
                raise self._error(what, rs.error_code, rs.error_msg, dog.tripped, took)
        raise AssertionError("unreachable")

    def _login(self, timeout_s: float) -> None:
        """Log in unless this process already is (call with the session lock held)."""
        if SESSION.alive_for(self.addr):
            return
        lib = library()
        SESSION.drop()
        lib.point_at(self.addr)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout_s)  # the client's new socket inherits it
        began = time.monotonic()
        try:
            with Watchdog(lib, timeout_s * 2 + 2) as dog:
                try:
                    lg = lib.bs.login()
                except Exception as exc:
                    SESSION.drop()
                    raise TransientSourceError(
                        NAME, f"login: malformed reply ({type(exc).__name__}: {exc})"
                    ) from exc
        finally:
            socket.setdefaulttimeout(previous)
        sock = lib.socket()
        if lg.error_code != OK or sock is None or dog.tripped:
            SESSION.drop()
            code = lg.error_code if lg.error_code != OK else "10002007"
            raise self._error("login", code, lg.error_msg, dog.tripped, time.monotonic() - began)
        sock.settimeout(self.timeout_s)
        SESSION.logged_in(self.addr, sock)
        log.info("baostock: logged in to %s", self.addr or "the library's default server")

    def _error(self, what: str, code: str, msg: str, tripped: str, took: float) -> SourceError:
        """The one place a baostock error code becomes a SourceError."""
        detail = tripped or msg or "no reply"
        if code.startswith("10002") and not tripped and took >= self.timeout_s * 0.9:
            detail = f"no reply within {self.timeout_s:g} s"
        text = f"{what}: error {code} ({detail})"
        if code == BLACKLISTED:
            self._blocked_until = time.monotonic() + self._blacklist_wait_s
            return RateLimitedError(NAME, text, wait_s=self._blacklist_wait_s)
        if code.startswith("10002") or code in (NO_LOGIN, LOGIN_COUNT_LIMIT, SYSTEM_ERROR):
            return TransientSourceError(NAME, text)
        if code in PARSE_ERRORS:
            return TransientSourceError(NAME, text)
        if code.startswith(("10001", "10004")):
            return FatalSourceError(NAME, text)
        return TransientSourceError(NAME, f"{text}: unknown error code")

    def _blocked_s(self) -> float:
        return max(0.0, self._blocked_until - time.monotonic())


def build_baostock_source(settings: Settings, quota: CallQuota | None = None) -> BaostockSource:
    """A :class:`BaostockSource` configured from ``settings``."""
    return BaostockSource(
        wire.parse_addr(settings.baostock_addr),
        timeout_s=settings.source_timeout_s,
        calls_per_minute=settings.calls_per_minute.get(NAME, DEFAULT_CALLS_PER_MINUTE),
        quota=quota,
    )
