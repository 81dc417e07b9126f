"""The contract test suite every source inherits (in the spirit of Airbyte's standard tests).

A source's test module subclasses :class:`SourceContract` and provides three fixtures:

- ``market``: the :class:`stocksync.sim.SimMarket` its fake server serves as truth;
- ``faults``: the :class:`faults.Faults` its fake server obeys;
- ``source``: the real adapter (``stocksync.sources.<name>``) driving the source's *unmodified*
  client library against the fake server over a socket.

Class attributes tune the sample: ``CODES`` (canonical codes the source can serve), ``START`` /
``END``, ``TIMEOUT_S`` (the adapter's configured call timeout), ``COMPARED`` (the Bar fields the
source provides and that must equal the truth exactly). ``expected_bars`` may be overridden for
sources that omit suspended days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from decimal import Decimal

import pytest

from stocksync.datasets.validation import validate_bars
from stocksync.domain import Bar, Period
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    Shape,
    SourceError,
    TransientSourceError,
)

CORE_FIELDS = (
    "code", "period", "trade_date", "open", "high", "low", "close", "pre_close", "volume",
    "amount", "pct_chg",
)  # fmt: skip


def _norm(value: object) -> object:
    if isinstance(value, float):
        return Decimal(repr(value)).normalize()
    return value


class SourceContract:
    CODES: tuple[str, ...] = ()
    START = dt.date(2024, 12, 2)
    END = dt.date(2025, 1, 31)
    TIMEOUT_S = 5.0
    UNKNOWN_CODE = "600999.SH"  # a well-formed code the fake server does not know
    COMPARED: tuple[str, ...] = CORE_FIELDS
    VALUATION_FIELDS: tuple[str, ...] = ("pe_ttm", "pb", "total_mv", "circ_mv")

    # -- hooks ---------------------------------------------------------------------------
    def expected_bars(self, bars: list[Bar]) -> list[Bar]:
        """The truth as this source reports it (default: every bar the sim has)."""
        return bars

    def view(self, bars: list[Bar]) -> list[tuple[object, ...]]:
        return sorted(tuple(_norm(getattr(b, f)) for f in self.COMPARED) for b in bars)

    # -- data ----------------------------------------------------------------------------
    def test_stock_bars_equal_the_truth(self, source, market):
        if Shape.STOCK_BY_RANGE not in source.shapes:
            pytest.skip(f"{source.name} has no per-stock shape")
        for period in sorted(source.periods):
            for code in self.CODES:
                got = source.stock_bars(code, period, self.START, self.END)
                truth = self.expected_bars(market.bars_for_code(code, self.START, self.END, period))
                assert truth, f"sample {code} has no {period} bars in range"
                assert self.view(got) == self.view(truth), (code, period)
                assert validate_bars(got)[1] == []

    def test_market_bars_equal_the_truth(self, source, market):
        if Shape.MARKET_BY_DATE not in source.shapes:
            pytest.skip(f"{source.name} has no whole-market shape")
        day = market.trading_days(self.START, self.END)[3]
        got = source.market_bars(Period.DAILY, day)
        truth = self.expected_bars(market.bars_for_date(day, Period.DAILY))
        assert self.view(got) == self.view(truth)

    def test_adjustment_factors_equal_the_truth(self, source, market):
        for code in self.CODES:
            try:
                got = source.adj_factors(code, self.START, self.END)
            except NotImplementedError:
                pytest.skip(f"{source.name} has no adjustment factors")
            truth = market.adj_factors(code, self.START, self.END)
            got_days = {f.trade_date: round(f.factor, 6) for f in got}
            truth_days = {f.trade_date: round(f.factor, 6) for f in truth}
            # a source may omit suspended days; every factor it gives must be the truth's
            assert got_days and set(got_days) <= set(truth_days)
            assert {d: truth_days[d] for d in got_days} == got_days, code

    def _valuation_view(self, items):
        return sorted(
            (v.code, v.trade_date, *(_norm(getattr(v, f)) for f in self.VALUATION_FIELDS))
            for v in items
        )

    def test_valuations_equal_the_truth(self, source, market):
        try:
            for code in self.CODES:
                got = source.stock_valuations(code, self.START, self.END)
                truth = market.valuations_for_code(code, self.START, self.END)
                assert truth and self._valuation_view(got) == self._valuation_view(truth), code
        except NotImplementedError:
            pass
        if Shape.MARKET_BY_DATE in source.shapes:
            day = market.trading_days(self.START, self.END)[3]
            try:
                got = source.market_valuations(day)
            except NotImplementedError:
                return
            truth = market.valuations_for_date(day)
            assert self._valuation_view(got) == self._valuation_view(truth)

    def test_securities_and_calendar_come_from_the_source(self, source, market):
        codes = {s.code for s in source.securities()}
        assert set(self.CODES) <= codes
        assert source.trading_days(self.START, self.END) == market.trading_days(
            self.START, self.END
        )

    # -- errors --------------------------------------------------------------------------
    def _call(self, source):
        code = self.CODES[0]
        if Shape.STOCK_BY_RANGE in source.shapes:
            return source.stock_bars(code, Period.DAILY, self.START, self.END)
        return source.market_bars(Period.DAILY, self.END)

    def test_a_server_error_is_transient(self, source, faults):
        faults.set(server_error=True)
        with pytest.raises(TransientSourceError):
            self._call(source)

    def test_a_rate_limit_reply_says_how_long_to_wait(self, source, faults):
        faults.set(rate_limit=True)
        with pytest.raises(RateLimitedError) as info:
            self._call(source)
        assert info.value.wait_s > 0

    def test_a_malformed_reply_is_transient(self, source, faults):
        faults.set(bad_json=True)
        with pytest.raises(TransientSourceError):
            self._call(source)

    def test_a_dropped_connection_is_transient_and_the_next_call_works(self, source, faults):
        faults.set(drop=True, times=1)
        with pytest.raises(TransientSourceError):
            self._call(source)
        assert self._call(source)  # recovered (re-connected / re-logged-in)

    def test_a_stalled_server_times_out_and_never_hangs(self, source, faults):
        faults.set(stall=True)
        began = time.monotonic()
        with pytest.raises(TransientSourceError):
            self._call(source)
        assert time.monotonic() - began < self.TIMEOUT_S * 3 + 5
        faults.clear()
        assert self._call(source)  # the stream is back in step

    def test_garbage_rows_never_pass_validation(self, source, faults):
        faults.set(garbage=True)
        try:
            bars = self._call(source)
        except SourceError:
            return  # refusing the reply outright is fine too
        assert validate_bars(bars)[1], "corrupted rows came through as sound"

    def test_an_unknown_code_is_no_data_or_fatal(self, source):
        if Shape.STOCK_BY_RANGE not in source.shapes:
            pytest.skip("per-stock only")
        with pytest.raises((NoDataError, FatalSourceError)):
            source.stock_bars(self.UNKNOWN_CODE, Period.DAILY, self.START, self.END)

    def test_every_error_is_a_source_error(self, source, faults):
        for fault in ("server_error", "bad_json", "drop", "auth", "rate_limit"):
            faults.clear()
            faults.set(**{fault: True})
            with pytest.raises(SourceError):
                self._call(source)
        faults.clear()

    def test_availability_is_reported(self, source):
        status = source.availability()
        assert status.ok, status.reason


def replace_bar(bar: Bar, **changes: object) -> Bar:
    return dataclasses.replace(bar, **changes)
