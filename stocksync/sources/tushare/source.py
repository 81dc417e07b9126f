"""``TushareSource``: bars, factors, valuations, index bars, index members, corporate actions,
profiles, financial reports, calendar and securities from tushare pro."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from stocksync.config import Settings
from stocksync.domain import (
    MINUTE_PERIODS,
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
)
from stocksync.sources.tushare import (
    actions,
    financials,
    indices,
    members,
    minutes,
    profiles,
    rows,
)
from stocksync.sources.tushare.client import (
    BEIJING,
    PAGE_ROWS,
    PER_MINUTE_WAIT_S,
    Library,
    TushareClient,
)

DEFAULT_CALLS_PER_MINUTE = 200
CHUNK_YEARS = 20  # one stock's range is asked for in spans that stay well under a page
PROBE_TIMEOUT_S = 3.0  # availability(): how long the cheap probe call may take
CODES_REFRESH_S = 600.0  # an unknown code re-reads the securities list at most this often
T = TypeVar("T")


def _beijing_today() -> dt.date:
    return dt.datetime.now(BEIJING).date()


def _spans(start: dt.date, end: dt.date) -> list[tuple[str, str]]:
    """``[start, end]`` cut at year boundaries into spans of at most CHUNK_YEARS years."""
    spans = []
    while start <= end:
        last = min(end, dt.date(start.year + CHUNK_YEARS - 1, 12, 31))
        spans.append((rows.ymd(start), rows.ymd(last)))
        start = last + dt.timedelta(days=1)
    return spans


class TushareSource(Source):
    """tushare pro: both request shapes for daily, weekly and monthly bars, adjustment factors
    and daily valuations (``daily_basic``, which needs 2,000 points) per stock and per date, the
    SSE calendar and the securities list (listed, delisted, paused); daily, weekly and monthly
    bars of one index over a range; monthly member snapshots of the main indices but the SSE
    Composite (``index_weight``); per stock, implemented dividends (``dividend``), the name
    history, share capital and today's industry and area (``namechange``, ``daily_basic``,
    ``stock_basic``) and every version of the quarterly reports (``fina_indicator``,
    ``income``) — each of those endpoints needs 2,000 points; 5- to 60-minute bars per stock
    over a range (``stk_mins``, which needs a minute permission of its own).

    Every call goes through :class:`TushareClient`: the shared ``quota`` first (with
    :attr:`calls_per_minute`, tightened to the per-minute limit tushare reports), then the
    unmodified client, then classification into exactly one SourceError.
    """

    name = "tushare"
    serves = catalogue(
        {
            DatasetName.BARS: Offer(frozenset(Shape), ALL_PERIODS, omits_suspended=True),
            DatasetName.ADJ_FACTORS: Offer(frozenset(Shape)),
            DatasetName.VALUATIONS: Offer(frozenset(Shape), omits_suspended=True),
            DatasetName.INDEX_BARS: Offer(frozenset({Shape.STOCK_BY_RANGE}), ALL_PERIODS),
            DatasetName.INDEX_MEMBERS: Offer(
                frozenset({Shape.STOCK_BY_RANGE}), frozenset({Period.MONTHLY})
            ),
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
        token: str | None,
        *,
        url: str | None = None,
        timeout_s: float = 15.0,
        calls_per_minute: int = DEFAULT_CALLS_PER_MINUTE,
        quota: CallQuota | None = None,
        page_rows: int = PAGE_ROWS,
        today: Callable[[], dt.date] = _beijing_today,
        limit_window_s: float = PER_MINUTE_WAIT_S,
        index_page_rows: Mapping[str, int] = indices.INDEX_PAGE_ROWS,
        member_page_rows: int = members.MEMBER_PAGE_ROWS,
        minute_page_rows: int = minutes.MINUTE_PAGE_ROWS,
    ) -> None:
        self._client = TushareClient(
            token,
            url=url,
            timeout_s=timeout_s,
            calls_per_minute=calls_per_minute,
            quota=quota,
            page_rows=page_rows,
            limit_window_s=limit_window_s,
        )
        self._today = today
        self._index_page_rows = dict(index_page_rows)
        self._member_page_rows = member_page_rows
        self._minute_page_rows = minute_page_rows
        self._lock = threading.Lock()
        self._known_codes: frozenset[str] = frozenset()
        self._known_at = -CODES_REFRESH_S

    def __repr__(self) -> str:
        c = self._client
        return (
            f"TushareSource(url={c.url or 'library default'!r}, timeout_s={c.timeout_s}, "
            f"calls_per_minute={c.limit}, token={'set' if c.token else 'unset'})"
        )

    @property
    def expected_latency_s(self) -> float:
        return 0.3

    @property
    def calls_per_minute(self) -> int | None:
        """The configured limit, tightened to the learned one; None when neither is set."""
        return self._client.limit

    @property
    def learned_calls_per_minute(self) -> int | None:
        """The lowest per-minute limit tushare has reported in a rate-limit reply."""
        return self._client.learned_limit

    def availability(self) -> Availability:
        """Token present, library importable, endpoint answering a one-day calendar query."""
        if self._client.token is None:
            return Availability(False, "TUSHARE_TOKEN is not set")
        try:
            Library.load()
        except ImportError as exc:
            return Availability(False, f"the tushare library cannot be imported: {exc}")
        today = rows.ymd(self._today())
        try:
            self._client.query(
                "trade_cal",
                rows.CAL_FIELDS,
                timeout_s=min(PROBE_TIMEOUT_S, self._client.timeout_s),
                exchange="SSE",
                start_date=today,
                end_date=today,
            )
        except RateLimitedError as exc:
            return Availability(True, f"reachable but rate-limited: {exc.message}")
        except SourceError as exc:
            return Availability(False, exc.message)
        return Availability(True)

    def _convert(self, api_name: str, convert: Callable[[], T]) -> T:
        try:
            return convert()
        except (ValueError, TypeError, OverflowError) as exc:
            raise TransientSourceError(self.name, f"{api_name}: malformed row ({exc})") from None

    # -- reference data ------------------------------------------------------------------
    def securities(self) -> list[Security]:
        """Listed (L), delisted (D) and paused (P) stocks of SSE, SZSE and BSE."""
        listing: list[rows.Row] = []
        for status in ("L", "D", "P"):
            listing += self._client.fetch("stock_basic", rows.BASIC_FIELDS, list_status=status)
        converted = self._convert("stock_basic", lambda: [rows.security(r) for r in listing])
        found = {sec.code: sec for sec in converted if sec is not None}
        if not found:
            raise TransientSourceError(self.name, "stock_basic: an empty securities list")
        with self._lock:
            self._known_codes, self._known_at = frozenset(found), time.monotonic()
        return [found[code] for code in sorted(found)]

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """SSE open days in ``[start, end]``; FatalSourceError when tushare's calendar stops
        before ``end`` (it is published about a year ahead)."""
        if start > end:
            return []
        days = self._calendar(start, end)
        known = max(days, default=None)
        if known is None or known < end:
            raise FatalSourceError(
                self.name, f"tushare's trading calendar is only known up to {known}, not {end}"
            )
        return sorted(d for d, is_open in days.items() if is_open and start <= d <= end)

    def _calendar(self, start: dt.date, end: dt.date) -> dict[dt.date, bool]:
        found = self._client.fetch(
            "trade_cal",
            rows.CAL_FIELDS,
            exchange="SSE",
            start_date=rows.ymd(start),
            end_date=rows.ymd(end),
        )
        return self._convert(
            "trade_cal", lambda: {rows.parse_day(d): int(o) == 1 for d, o in found}
        )

    def _unknown(self, code: str) -> NoDataError | None:
        """A NoDataError when tushare does not list ``code`` (after an empty reply for it)."""
        with self._lock:
            known, stale = self._known_codes, time.monotonic() - self._known_at > CODES_REFRESH_S
        if code not in known and stale:
            self.securities()  # the code may have listed since the list was read
            with self._lock:
                known = self._known_codes
        if code in known:
            return None
        return NoDataError(self.name, f"tushare does not know the stock {code}")

    def _empty_market(self, what: str, period: Period, day: dt.date) -> list[Any]:
        """Explain an empty whole-market reply: [] on a closed day, else a SourceError."""
        is_open = self._calendar(day, day).get(day)
        if is_open is None:
            raise NoDataError(self.name, f"tushare's calendar does not know {day}")
        if not is_open:
            if period is Period.DAILY:
                return []
            raise NoDataError(self.name, f"{day} is not a trading day: it ends no {period}")
        if day >= self._today() - dt.timedelta(days=1):
            raise TransientSourceError(self.name, f"{what} for {day} are not published yet")
        hint = "" if period is Period.DAILY else f" (is it the last trading day of its {period}?)"
        raise NoDataError(self.name, f"tushare has no {what} for trading day {day}{hint}")

    # -- bars and factors ----------------------------------------------------------------
    def market_bars(self, period: Period, trade_date: dt.date) -> list[Bar]:
        """Every stock's bar for ``trade_date`` (the period's last trading day unless daily).

        An empty reply is checked against the calendar: [] on a closed day (DAILY),
        TransientSourceError when the day is too recent to be published, else NoDataError."""
        api = rows.BAR_API[period]
        found = self._client.fetch(api, rows.BAR_FIELDS, trade_date=rows.ymd(trade_date))
        bars = self._convert(api, lambda: rows.bars(period, found))
        return bars or self._empty_market(f"{period} bars", period, trade_date)

    def stock_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[Bar]:
        """Bars of ``code`` in ``[start, end]`` (suspended days are absent); NoDataError for a
        code tushare does not list, [] for a listed one without bars in the range."""
        api = rows.BAR_API[period]
        found = []
        for lo, hi in _spans(start, end):
            found += self._client.fetch(
                api, rows.BAR_FIELDS, ts_code=code, start_date=lo, end_date=hi
            )
        bars = self._convert(api, lambda: rows.bars(period, found))
        bars = [b for b in bars if b.code == code and start <= b.trade_date <= end]
        if not bars and (unknown := self._unknown(code)):
            raise unknown
        return bars

    def adj_factors(self, code: str, start: dt.date, end: dt.date) -> list[AdjFactor]:
        """hfq factors of ``code`` on each trading day in ``[start, end]``."""
        found = []
        for lo, hi in _spans(start, end):
            found += self._client.fetch(
                "adj_factor", rows.FACTOR_FIELDS, ts_code=code, start_date=lo, end_date=hi
            )
        factors = self._convert("adj_factor", lambda: rows.factors(found))
        factors = [f for f in factors if f.code == code and start <= f.trade_date <= end]
        if not factors and (unknown := self._unknown(code)):
            raise unknown
        return factors

    def market_adj_factors(self, trade_date: dt.date) -> list[AdjFactor]:
        """Every stock's factor on ``trade_date`` in one call ([] on a closed day)."""
        found = self._client.fetch(
            "adj_factor", rows.FACTOR_FIELDS, trade_date=rows.ymd(trade_date)
        )
        factors = self._convert("adj_factor", lambda: rows.factors(found))
        return factors or self._empty_market("adjustment factors", Period.DAILY, trade_date)

    def index_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[IndexBar]:
        """Bars of the index ``code`` in ``[start, end]`` (``index_daily`` / ``_weekly`` /
        ``_monthly``, paged). An empty reply for a main index is [], never filled in: its
        missing days are the completeness check's to see; NoDataError for another code."""
        api = indices.INDEX_API[period]
        found = indices.fetch_index_rows(
            self._client, code, period, start, end, self._index_page_rows
        )
        bars = self._convert(api, lambda: indices.index_bars(period, found))
        bars = [b for b in bars if b.code == code and start <= b.trade_date <= end]
        if not bars and (unknown := indices.unknown_index(code)):
            raise unknown
        return bars

    def covers_dataset(self, dataset: DatasetName, code: str) -> bool:
        """Members of the main indices but the SSE Composite; every code for the rest."""
        if dataset is DatasetName.INDEX_MEMBERS:
            return code in members.MEMBER_INDICES
        return self.covers(code)

    def index_members(self, code: str, start: dt.date, end: dt.date) -> list[IndexMember]:
        """Monthly snapshots of the index ``code``'s members dated within ``[start, end]``, from
        ``index_weight`` (paged; CSI 300 is asked as ``399300.SZ``). tushare's snapshot dates
        are irregular, so of each month the latest snapshot it has is kept and dated on the
        month's last trading day, which one ``trade_cal`` call per reply with rows finds. An
        empty reply for a member index is [] (the completeness check sees the missing months);
        NoDataError, without a call, for an index tushare has no members of here."""
        if code not in members.MEMBER_INDICES:
            raise NoDataError(self.name, f"tushare has no members of the index {code}")
        wire = members.fetch_member_rows(self._client, code, start, end, self._member_page_rows)
        found = self._convert(members.MEMBER_API, lambda: members.snapshots(code, wire))
        if not found:
            return []
        days = self.trading_days(*members.months_spanned(found))
        return members.monthly(code, found, days, start, end)

    # -- valuations ----------------------------------------------------------------------
    def market_valuations(self, trade_date: dt.date) -> list[Valuation]:
        """Every trading stock's pe_ttm, pb and market values (yuan) on ``trade_date`` in one
        ``daily_basic`` call; an empty reply is explained like :meth:`market_bars`'s."""
        found = self._client.fetch(
            rows.VALUATION_API, rows.VALUATION_FIELDS, trade_date=rows.ymd(trade_date)
        )
        values = self._convert(rows.VALUATION_API, lambda: rows.valuations(found))
        return values or self._empty_market("valuations", Period.DAILY, trade_date)

    def stock_valuations(self, code: str, start: dt.date, end: dt.date) -> list[Valuation]:
        """Valuations of ``code`` on its trading days in ``[start, end]`` (suspended days are
        absent); NoDataError for a code tushare does not list."""
        found = []
        for lo, hi in _spans(start, end):
            found += self._client.fetch(
                rows.VALUATION_API,
                rows.VALUATION_FIELDS,
                ts_code=code,
                start_date=lo,
                end_date=hi,
            )
        values = self._convert(rows.VALUATION_API, lambda: rows.valuations(found))
        values = [v for v in values if v.code == code and start <= v.trade_date <= end]
        if not values and (unknown := self._unknown(code)):
            raise unknown
        return values

    # -- stock events --------------------------------------------------------------------
    def corporate_actions(self, code: str, start: dt.date, end: dt.date) -> list[CorporateAction]:
        """Implemented dividends, bonus and transfer shares of ``code`` with an ex-date in
        ``[start, end]`` (see :mod:`.actions`; tushare has no rights issues). One ``dividend``
        call answers the whole history; NoDataError for a code tushare does not list."""
        wire = actions.fetch_dividend_rows(self._client, code)
        found = self._convert(actions.DIVIDEND_API, lambda: actions.actions(code, wire, start, end))
        if not wire and (unknown := self._unknown(code)):
            raise unknown
        return found

    def profiles(self, code: str, start: dt.date, end: dt.date) -> list[StockProfile]:
        """Name / ST history and share capital of ``code`` over ``[start, end]`` (with what
        stood on ``start``), and its industry and area dated today when today is in the range
        (see :mod:`.profiles`). NoDataError for a code tushare does not list."""
        today = self._today()
        wire = profiles.fetch(self._client, code, start, end, today)
        found = self._convert(
            profiles.APIS, lambda: profiles.profiles(code, start, end, today, wire)
        )
        if wire.empty and (unknown := self._unknown(code)):
            raise unknown
        return found

    def financials(self, code: str, start: dt.date, end: dt.date) -> list[FinancialReport]:
        """Every version of ``code``'s quarterly reports announced in ``[start, end]``,
        restatements included (see :mod:`.financials`). NoDataError for a code tushare does
        not list."""
        ratios = financials.fetch_indicator_rows(self._client, code, start, end)
        amounts = financials.fetch_income_rows(self._client, code, start, end)
        found = self._convert(
            financials.APIS, lambda: financials.reports(code, start, end, ratios, amounts)
        )
        if not (ratios or amounts) and (unknown := self._unknown(code)):
            raise unknown
        return found

    def minute_bars(
        self, code: str, period: Period, start: dt.date, end: dt.date
    ) -> list[MinuteBar]:
        """``period`` bars (5min … 60min) of ``code`` on its trading days in ``[start, end]``
        from ``stk_mins``, paged by 8,000 rows (see :mod:`.minutes`); suspended days are absent.
        NoDataError for a code tushare does not list."""
        wire = minutes.fetch_minute_rows(
            self._client, code, period, start, end, self._minute_page_rows
        )
        found = self._convert(
            minutes.MINUTE_API, lambda: minutes.minute_bars(code, period, wire, start, end)
        )
        if not found and (unknown := self._unknown(code)):
            raise unknown
        return found


def build_tushare_source(settings: Settings, quota: CallQuota | None = None) -> TushareSource:
    """A :class:`TushareSource` from ``settings`` (token, URL, timeout, calls per minute)."""
    return TushareSource(
        settings.tushare_token,
        url=settings.tushare_url,
        timeout_s=settings.source_timeout_s,
        calls_per_minute=settings.calls_per_minute.get("tushare", DEFAULT_CALLS_PER_MINUTE),
        quota=quota,
    )
