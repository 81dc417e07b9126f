"""``SimMarket``: a deterministic, offline A-share market and the exact oracle for sync tests.

Everything is a pure function of ``(seed, n_stocks)``: any (code, date range) or any whole-market
date is computed on its own, in time independent of how much history lies before it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import numpy as np

from stocksync.datasets.indices import index_info
from stocksync.domain import (
    AdjFactor,
    Bar,
    CorporateAction,
    FinancialReport,
    IndexBar,
    IndexMember,
    MinuteBar,
    Period,
    Security,
    StockProfile,
    Valuation,
)
from stocksync.errors import InvalidRequest
from stocksync.sim import calendar
from stocksync.sim.events import StockEvents
from stocksync.sim.indices import sim_index_bars
from stocksync.sim.intraday import minute_bars
from stocksync.sim.members import MEMBER_INDICES, sim_members
from stocksync.sim.prices import Aggregate, Daily, aggregate, evaluate, factors
from stocksync.sim.universe import build_universe
from stocksync.sim.valuation import ValuationModel, factor_map


class UnknownStock(KeyError):
    """The simulated market has no such stock."""


class SimMarket:
    """The simulated market for ``seed``: ``n_stocks`` stocks on every board, 2005-2026."""

    def __init__(self, seed: int, n_stocks: int = 5200) -> None:
        self._universe = build_universe(seed, n_stocks)
        self._valuation = ValuationModel(seed, [s.code for s in self._universe.securities])
        self._cal = calendar.xshg()
        self._events = StockEvents(self._universe, self._cal, self._valuation)
        self.seed = seed
        self.n_stocks = n_stocks

    def securities(self) -> list[Security]:
        """Every simulated stock, listed or delisted, sorted by code."""
        return list(self._universe.securities)

    def security(self, code: str) -> Security:
        """The stock ``code`` (canonical form); ``KeyError`` when the market has no such stock."""
        return self._universe.securities[self._row(code)]

    def trading_days(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """XSHG sessions in ``[start, end]``; ``ValueError`` past 2026-12-31."""
        return calendar.trading_days(start, end)

    def period_end_dates(self, period: Period, start: dt.date, end: dt.date) -> list[dt.date]:
        """Dates bars of ``period`` carry in ``[start, end]`` (see calendar.period_end_dates)."""
        return calendar.period_end_dates(period, start, end)

    def bars_for_date(self, trade_date: dt.date, period: Period = Period.DAILY) -> list[Bar]:
        """Bars of every stock listed on ``trade_date``, sorted by code.

        DAILY: an empty list on a non-trading day. WEEKLY/MONTHLY: ``trade_date`` must be a
        period-end date (``ValueError`` otherwise); each bar aggregates the stock's daily bars of
        that period, and a stock that traded on no day of the period has no bar.
        Raises ``ValueError`` past 2026-12-31.
        """
        self._cal.check_end(trade_date)
        g = self._cal.index.get(trade_date)
        n = len(self._universe.securities)
        stocks = np.arange(n, dtype=np.int64)
        codes = [sec.code for sec in self._universe.securities]
        if period is Period.DAILY:
            if g is None:
                return []
            daily = evaluate(self._universe, stocks, np.full(n, g, dtype=np.int64))
            keep = np.flatnonzero(daily.listed)
            return _daily_bars(daily, keep, [codes[i] for i in keep], [trade_date] * len(keep))
        if g is None or g not in calendar.period_end_indexes(period, trade_date, trade_date):
            raise ValueError(f"{trade_date.isoformat()} is not the last trading day of a {period}")
        g0 = calendar.period_start_index(period, g)
        rows = g - g0 + 1
        sessions = np.repeat(np.arange(g0, g + 1, dtype=np.int64), n)
        agg = aggregate(evaluate(self._universe, np.tile(stocks, rows), sessions), rows)
        keep = np.flatnonzero(agg.keep)
        return _period_bars(agg, keep, period, [codes[i] for i in keep], [trade_date] * len(keep))

    def bars_for_code(
        self, code: str, start: dt.date, end: dt.date, period: Period = Period.DAILY
    ) -> list[Bar]:
        """Bars of ``code`` dated within ``[start, end]``, sorted by date; each one equal to the
        bar :meth:`bars_for_date` gives for that (code, date). ``KeyError`` for an unknown code,
        ``ValueError`` past 2026-12-31."""
        row = self._row(code)
        first, stop = self._listed_span(row)
        ends = [g for g in calendar.period_end_indexes(period, start, end) if first <= g < stop]
        if not ends:
            return []
        days = self._cal.days
        if period is Period.DAILY:
            sessions = np.array(ends, dtype=np.int64)
            daily = evaluate(self._universe, np.full(len(ends), row, dtype=np.int64), sessions)
            keep = np.flatnonzero(daily.listed)
            return _daily_bars(daily, keep, [code] * len(keep), [days[ends[i]] for i in keep])
        starts = [calendar.period_start_index(period, g) for g in ends]
        rows = max(g - g0 + 1 for g0, g in zip(starts, ends, strict=True))
        grid = np.array(ends, dtype=np.int64)[None, :] - np.arange(rows - 1, -1, -1)[:, None]
        padding = grid < np.array(starts, dtype=np.int64)[None, :]
        grid = np.where(padding, np.array(starts)[None, :], grid).ravel()
        daily = evaluate(self._universe, np.full(grid.size, row, dtype=np.int64), grid)
        daily = dataclasses.replace(daily, listed=daily.listed & ~padding.ravel())
        agg = aggregate(daily, rows)
        keep = np.flatnonzero(agg.keep)
        return _period_bars(agg, keep, period, [code] * len(keep), [days[ends[i]] for i in keep])

    def minute_bars(
        self, code: str, period: Period, start: dt.date, end: dt.date
    ) -> list[MinuteBar]:
        """Intraday bars of ``period`` (5min … 60min) of ``code`` on its trading days in
        ``[start, end]``, sorted by time; a suspended day has none (see
        :mod:`stocksync.sim.intraday`). ``KeyError`` for an unknown code, ``ValueError`` for a
        period that is not intraday or past 2026-12-31."""
        return minute_bars(self.seed, self.bars_for_code(code, start, end, Period.DAILY), period)

    def market_minute_bars(self, period: Period, trade_date: dt.date) -> list[MinuteBar]:
        """Intraday bars of ``period`` of every stock trading on ``trade_date``, sorted by code
        and time; each equal to what :meth:`minute_bars` gives for that stock. Empty on a
        non-trading day; ``ValueError`` as :meth:`minute_bars`."""
        return minute_bars(self.seed, self.bars_for_date(trade_date, Period.DAILY), period)

    def adj_factors(self, code: str, start: dt.date, end: dt.date) -> list[AdjFactor]:
        """The hfq factor of ``code`` on every trading day in ``[start, end]`` it is listed:
        1.0 at listing, multiplied by the split/dividend ratio at each ex-date (6 decimals)."""
        row = self._row(code)
        first, stop = self._listed_span(row)
        lo, hi = self._cal.span(start, end)
        sessions = np.arange(max(lo, first), min(hi, stop), dtype=np.int64)
        values = factors(self._universe, np.full(sessions.size, row, dtype=np.int64), sessions)
        days = self._cal.days
        return [
            AdjFactor(code=code, trade_date=days[g], factor=f)
            for g, f in zip(sessions.tolist(), values.tolist(), strict=True)
        ]

    def market_adj_factors(self, trade_date: dt.date) -> list[AdjFactor]:
        """Every listed stock's hfq factor on ``trade_date`` ([] on a closed day), by code."""
        g = self._cal.index.get(trade_date)
        if g is None:
            self._cal.check_end(trade_date)
            return []
        u = self._universe
        rows = np.flatnonzero((u.first_g <= g) & (np.minimum(u.end_g, len(self._cal)) > g))
        values = factors(u, rows.astype(np.int64), np.full(rows.size, g, dtype=np.int64))
        return [  # rows are in code order
            AdjFactor(code=u.securities[r].code, trade_date=trade_date, factor=f)
            for r, f in zip(rows.tolist(), values.tolist(), strict=True)
        ]

    def valuations_for_date(self, trade_date: dt.date) -> list[Valuation]:
        """Daily valuation of every stock trading on ``trade_date`` (suspended ones have none)."""
        bars = self.bars_for_date(trade_date, Period.DAILY)
        return self._valuation.values(bars, factor_map(self.market_adj_factors(trade_date)))

    def valuations_for_code(self, code: str, start: dt.date, end: dt.date) -> list[Valuation]:
        """Daily valuation of ``code`` on its trading days in ``[start, end]``."""
        bars = self.bars_for_code(code, start, end, Period.DAILY)
        return self._valuation.values(bars, factor_map(self.adj_factors(code, start, end)))

    def index_bars(self, code: str, period: Period, start: dt.date, end: dt.date) -> list[IndexBar]:
        """Bars of the main index ``code`` (see :mod:`stocksync.sim.indices`); ``KeyError`` for
        an index the market does not have."""
        try:
            return sim_index_bars(self.seed, code, Period(period), start, end)
        except InvalidRequest as exc:
            raise UnknownStock(code) from exc

    def index_members(self, code: str, start: dt.date, end: dt.date) -> list[IndexMember]:
        """Monthly snapshots of the members of index ``code`` dated on each month's last
        trading day within [start, end] (see :mod:`stocksync.sim.members`); ``KeyError`` for
        an index without members here."""
        if code not in MEMBER_INDICES:
            raise UnknownStock(code)
        since = index_info(code).since
        return [
            member
            for day in self.period_end_dates(Period.MONTHLY, max(start, since), end)
            for member in sim_members(self.seed, self._universe.securities, code, day)
        ]

    def corporate_actions(self, code: str, start: dt.date, end: dt.date) -> list[CorporateAction]:
        """The actions of ``code`` with an ex-date in [start, end] (see :mod:`.events`)."""
        self._cal.check_end(end)
        return [a for a in self._events.actions(self._row(code)) if start <= a.ex_date <= end]

    def profiles(self, code: str, start: dt.date, end: dt.date) -> list[StockProfile]:
        """The profile rows of ``code`` taking effect in [start, end], and the one in force on
        ``start``."""
        self._cal.check_end(end)
        rows = self._events.profiles(self._row(code))
        before = [p for p in rows if p.valid_from < start][-1:]
        return before + [p for p in rows if start <= p.valid_from <= end]

    def financials(self, code: str, start: dt.date, end: dt.date) -> list[FinancialReport]:
        """Every version of ``code``'s reports announced in [start, end]."""
        self._cal.check_end(end)
        return [r for r in self._events.reports(self._row(code))
                if start <= r.announce_date <= end]  # fmt: skip

    def _row(self, code: str) -> int:
        try:
            return self._universe.index[code]
        except KeyError:
            raise UnknownStock(f"{code} is not a stock of the simulated market") from None

    def _listed_span(self, row: int) -> tuple[int, int]:
        u = self._universe
        return int(u.first_g[row]), int(min(u.end_g[row], len(self._cal)))


def _cents(a: np.ndarray, keep: np.ndarray) -> list[float]:
    return [v / 100 for v in a[keep].tolist()]


def _daily_bars(
    d: Daily, keep: np.ndarray, codes: Sequence[str], dates: Sequence[dt.date]
) -> list[Bar]:
    status = (~d.suspended[keep]).astype(np.int64).tolist()
    return _assemble(Period.DAILY, codes, dates, d, keep, status, d.is_st[keep].tolist())


def _period_bars(
    a: Aggregate, keep: np.ndarray, period: Period, codes: Sequence[str], dates: Sequence[dt.date]
) -> list[Bar]:
    return _assemble(period, codes, dates, a, keep, [1] * len(keep), a.is_st[keep].tolist())


def _assemble(
    period: Period,
    codes: Sequence[str],
    dates: Sequence[dt.date],
    v: Daily | Aggregate,
    keep: np.ndarray,
    status: list[int],
    is_st: list[bool],
) -> list[Bar]:
    columns = zip(
        codes,
        dates,
        _cents(v.open, keep),
        _cents(v.high, keep),
        _cents(v.low, keep),
        _cents(v.close, keep),
        _cents(v.pre_close, keep),
        v.volume[keep].tolist(),
        _cents(v.amount, keep),
        [t / 10000 for t in v.turnover[keep].tolist()],
        status,
        is_st,
        strict=True,
    )
    return [
        Bar(
            code=code,
            period=period,
            trade_date=day,
            open=o,
            high=h,
            low=lo,
            close=c,
            pre_close=pre,
            volume=vol,
            amount=amt,
            turnover_pct=turn,
            pct_chg=round((c / pre - 1.0) * 100.0, 4),
            trade_status=ts,
            is_st=st,
        )
        for code, day, o, h, lo, c, pre, vol, amt, turn, ts, st in columns
    ]
