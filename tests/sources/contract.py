"""The contract test suite every source inherits (in the spirit of Airbyte's standard tests).

A source's test module subclasses :class:`SourceContract` and provides three fixtures:

- ``market``: the :class:`stocksync.sim.SimMarket` its fake server serves as truth;
- ``faults``: the :class:`faults.Faults` its fake server obeys;
- ``source``: the real adapter (``stocksync.sources.<name>``) driving the source's *unmodified*
  client library against the fake server over a socket.

Class attributes tune the sample: ``CODES`` (canonical codes the source can serve), ``START`` /
``END``, ``TIMEOUT_S`` (the adapter's configured call timeout), ``COMPARED`` (the Bar fields the
source provides and that must equal the truth exactly), ``BUG_TARGET`` (a parsing function of
the adapter, patched to raise ``KeyError`` to prove the call gate turns a bug into
:class:`SourceBug`). ``expected_bars`` may be overridden for sources that omit suspended days.

Every dataset a source declares in ``serves`` is checked against the truth in every shape it
declares (``INDEX_CODES`` sample the index datasets); a dataset it does not declare must be
refused, never answered empty.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import time
from decimal import Decimal

import pytest

from stocksync.datasets import FACT_DATASETS, dataset
from stocksync.datasets.bars import validate_bars
from stocksync.datasets.financials import FIGURES
from stocksync.datasets.profiles import FIELDS as PROFILE_FIELDS
from stocksync.domain import (
    Bar,
    CorporateAction,
    DatasetName,
    FinancialReport,
    MinuteBar,
    Period,
)
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    Shape,
    SourceBug,
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
    BUG_TARGET: str = ""  # "module.attribute" of a parser the adapter calls on every bar reply
    INDEX_CODES: tuple[str, ...] = ("000300.SH", "399006.SZ")  # sample of the main indices
    INDEX_COMPARED: tuple[str, ...] = CORE_FIELDS  # IndexBar fields equal to the truth
    MEMBER_INDEX_CODES: tuple[str, ...] = ("000300.SH", "000905.SH", "000016.SH")
    MEMBER_WEIGHTS = True  # whether the source's members carry weights
    # the stock events are sampled over a longer range: ex-dates and reports are sparse
    EVENT_START = dt.date(2022, 1, 1)
    EVENT_END = dt.date(2024, 12, 31)
    ACTION_FIELDS: tuple[str, ...] = (
        "cash_div", "bonus_ratio", "transfer_ratio", "rights_ratio", "record_date", "pay_date",
        "announce_date", "report_period",
    )  # fmt: skip
    # profile fields the source dates as they changed: every change in range must be there
    PROFILE_HISTORY_FIELDS: tuple[str, ...] = ("name", "is_st")
    FINANCIAL_FIELDS: tuple[str, ...] = FIGURES
    # minute bars: a week of them (sources keep recent months only: MINUTE_START is recent)
    MINUTE_START = dt.date(2026, 11, 23)
    MINUTE_END = dt.date(2026, 11, 27)

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
        offer = source.serves.get(DatasetName.ADJ_FACTORS)
        if offer is None:
            pytest.skip(f"{source.name} declares no adjustment factors (refusal tested below)")
        factors = dataset(DatasetName.ADJ_FACTORS)
        if Shape.STOCK_BY_RANGE in offer.shapes:
            for code in self.CODES:
                got = source.fetch(factors, Period.DAILY, code=code, start=self.START, end=self.END)
                self._same_factors(got, market.adj_factors(code, self.START, self.END), offer)
        if Shape.MARKET_BY_DATE in offer.shapes:
            day = market.trading_days(self.START, self.END)[3]
            got = source.fetch(factors, Period.DAILY, day=day)
            self._same_factors(got, market.market_adj_factors(day), offer)

    def _same_factors(self, got, truth, offer):
        got_keys = {(f.code, f.trade_date): round(f.factor, 6) for f in got}
        truth_keys = {(f.code, f.trade_date): round(f.factor, 6) for f in truth}
        assert got_keys, "no factors at all"
        if offer.omits_suspended:  # every factor it gives must be the truth's
            assert set(got_keys) <= set(truth_keys)
            assert {k: truth_keys[k] for k in got_keys} == got_keys
        else:
            assert got_keys == truth_keys

    def _valuation_view(self, items):
        return sorted(
            (v.code, v.trade_date, *(_norm(getattr(v, f)) for f in self.VALUATION_FIELDS))
            for v in items
        )

    def test_valuations_equal_the_truth(self, source, market):
        offer = source.serves.get(DatasetName.VALUATIONS)
        if offer is None:
            pytest.skip(f"{source.name} declares no valuations (refusal tested below)")
        values = dataset(DatasetName.VALUATIONS)
        if Shape.STOCK_BY_RANGE in offer.shapes:
            for code in self.CODES:
                got = source.fetch(values, Period.DAILY, code=code, start=self.START, end=self.END)
                truth = market.valuations_for_code(code, self.START, self.END)
                assert truth and self._valuation_view(got) == self._valuation_view(truth), code
        if Shape.MARKET_BY_DATE in offer.shapes:
            day = market.trading_days(self.START, self.END)[3]
            got = source.fetch(values, Period.DAILY, day=day)
            truth = market.valuations_for_date(day)
            assert self._valuation_view(got) == self._valuation_view(truth)

    def test_index_bars_equal_the_truth(self, source, market):
        offer = source.serves.get(DatasetName.INDEX_BARS)
        if offer is None:
            pytest.skip(f"{source.name} declares no index bars (refusal tested below)")
        index_bars = dataset(DatasetName.INDEX_BARS)
        for period in sorted(offer.periods):
            for code in self.INDEX_CODES:
                got = source.fetch(index_bars, period, code=code, start=self.START, end=self.END)
                truth = market.index_bars(code, period, self.START, self.END)
                assert truth, f"sample index {code} has no {period} bars in range"
                assert self.index_view(got) == self.index_view(truth), (code, period)
                assert index_bars.check(got, period)[1] == []

    def test_index_members_equal_the_truth(self, source, market):
        offer = source.serves.get(DatasetName.INDEX_MEMBERS)
        if offer is None:
            pytest.skip(f"{source.name} declares no index members (refusal tested below)")
        members = dataset(DatasetName.INDEX_MEMBERS)
        for code in self.MEMBER_INDEX_CODES:
            got = source.fetch(members, Period.MONTHLY, code=code, start=self.START, end=self.END)
            truth = market.index_members(code, self.START, self.END)
            assert truth, f"sample index {code} has no members in range"
            assert members.check(got, Period.MONTHLY)[1] == []
            assert self.member_view(got) == self.member_view(truth), code

    def member_view(self, items):
        """(index, date, code, weight) of each member; weights only where the source has them."""
        return sorted(
            (m.index_code, m.trade_date, m.code, _norm(m.weight) if self.MEMBER_WEIGHTS else None)
            for m in items
        )

    def index_view(self, items):
        return sorted(tuple(_norm(getattr(b, f)) for f in self.INDEX_COMPARED) for b in items)

    # -- minute bars ---------------------------------------------------------------------
    def expected_minute_bars(self, truth: list[MinuteBar]) -> list[MinuteBar]:
        """The truth's minute bars as this source reports them (default: all of them)."""
        return truth

    def test_minute_bars_equal_the_truth(self, source, market):
        offer = source.serves.get(DatasetName.MINUTE_BARS)
        if offer is None:
            pytest.skip(f"{source.name} declares no minute bars (refusal tested below)")
        minutes = dataset(DatasetName.MINUTE_BARS)
        start, end = self.MINUTE_START, self.MINUTE_END
        for period in sorted(offer.periods):
            for code in self.CODES[:2]:
                got = source.fetch(minutes, period, code=code, start=start, end=end)
                truth = self.expected_minute_bars(market.minute_bars(code, period, start, end))
                assert truth, f"sample {code} has no {period} bars in range"
                assert minutes.check(got, period)[1] == []
                assert _minute_view(got) == _minute_view(truth), (code, period)

    # -- stock events --------------------------------------------------------------------
    def expected_actions(self, truth: list[CorporateAction]) -> list[CorporateAction]:
        """The truth's actions as this source reports them (default: all of them)."""
        return truth

    def expected_financials(self, truth: list[FinancialReport]) -> list[FinancialReport]:
        """The truth's report versions as this source reports them (default: every version,
        restatements included, each with its own announcement date)."""
        return truth

    def event_codes(self, source, market, has) -> list[str]:
        """Up to three stocks the source covers for which ``has(code)`` holds."""
        found = []
        for sec in market.securities():
            if source.covers(sec.code) and has(sec.code):
                found.append(sec.code)
                if len(found) == 3:
                    break
        assert found, "the sample market has no stock with such events in range"
        return found

    def test_corporate_actions_equal_the_truth(self, source, market):
        if DatasetName.CORPORATE_ACTIONS not in source.serves:
            pytest.skip(f"{source.name} declares no corporate actions (refusal tested below)")
        actions = dataset(DatasetName.CORPORATE_ACTIONS)
        start, end = self.EVENT_START, self.EVENT_END
        codes = self.event_codes(source, market, lambda c: market.corporate_actions(c, start, end))
        for code in codes:
            got = source.fetch(actions, Period.DAILY, code=code, start=start, end=end)
            truth = self.expected_actions(market.corporate_actions(code, start, end))
            assert actions.check(got, Period.DAILY)[1] == []
            assert self._action_view(got) == self._action_view(truth), code

    def _action_view(self, items):
        def value(a, f):
            v = getattr(a, f)
            return round(v, 4) if isinstance(v, float) else v

        return sorted((a.code, a.ex_date, *(value(a, f) for f in self.ACTION_FIELDS))
                      for a in items)  # fmt: skip

    def test_profiles_agree_with_the_truth(self, source, market):
        if DatasetName.PROFILES not in source.serves:
            pytest.skip(f"{source.name} declares no profiles (refusal tested below)")
        profiles = dataset(DatasetName.PROFILES)
        start, end = self.EVENT_START, self.EVENT_END

        def renamed(code):  # an ST change in range: the name history matters
            rows = market.profiles(code, start, end)
            return any(a.name != b.name for a, b in itertools.pairwise(rows))

        codes = self.event_codes(source, market, renamed)
        for code in codes:
            got = source.fetch(profiles, Period.DAILY, code=code, start=start, end=end)
            truth = market.profiles(code, dt.date(1990, 1, 1), dt.date(2026, 12, 31))
            assert got and profiles.check(got, Period.DAILY)[1] == []
            for row in got:  # whatever a row says holds on its date
                for f in PROFILE_FIELDS:
                    said = getattr(row, f)
                    if said is None or f == "industry_scheme":
                        continue
                    true = _as_of(truth, f, row.valid_from)
                    assert _same(said, true), (code, row.valid_from, f, said, true)
                assert row.industry is None or row.industry_scheme, "industry without a scheme"
            days = [start, *(p.valid_from for p in truth if start <= p.valid_from <= end)]
            for f in self.PROFILE_HISTORY_FIELDS:  # and every change in range is there
                for day in days:
                    assert _same(_as_of(got, f, day), _as_of(truth, f, day)), (code, f, day)

    def test_financials_equal_the_truth_version_by_version(self, source, market):
        if DatasetName.FINANCIALS not in source.serves:
            pytest.skip(f"{source.name} declares no financials (refusal tested below)")
        reports = dataset(DatasetName.FINANCIALS)
        start, end = self.EVENT_START, self.EVENT_END

        def restated(code):
            versions = [r.report_period for r in market.financials(code, start, end)]
            return len(versions) > len(set(versions))

        codes = self.event_codes(source, market, restated)
        for code in codes:
            got = source.fetch(reports, Period.DAILY, code=code, start=start, end=end)
            truth = self.expected_financials(market.financials(code, start, end))
            assert got and reports.check(got, Period.DAILY)[1] == []
            assert self._report_view(got) == self._report_view(truth), code

    def _report_view(self, items):
        def value(v):
            return None if v is None else round(v, 2)

        return sorted((r.code, r.report_period, r.announce_date, r.announce_estimated,
                       *(value(getattr(r, f)) for f in self.FINANCIAL_FIELDS))
                      for r in items)  # fmt: skip

    def test_a_dataset_it_does_not_declare_is_refused_not_answered_empty(self, source):
        undeclared = [name for name in FACT_DATASETS if name not in source.serves]
        for name in undeclared:
            with pytest.raises(SourceBug, match="NotImplementedError"):
                source.fetch(dataset(name), Period.DAILY, code=self.CODES[0], start=self.START,
                             end=self.END)  # fmt: skip
            with pytest.raises(SourceBug, match="NotImplementedError"):
                source.fetch(dataset(name), Period.DAILY, day=self.END)

    def test_declared_periods_and_shapes_fit_the_datasets(self, source):
        for name, offer in source.serves.items():
            assert offer.shapes and offer.periods <= dataset(name).periods, name

    def test_a_bug_in_the_adapter_is_a_source_bug_not_a_source_failure(self, source, monkeypatch):
        assert self.BUG_TARGET, "name a parser of the adapter in BUG_TARGET"

        def broken(*args, **kwargs):
            raise KeyError("deliberate")

        monkeypatch.setattr(self.BUG_TARGET, broken)
        bars = dataset(DatasetName.BARS)
        with pytest.raises(SourceBug, match="KeyError"):
            if Shape.STOCK_BY_RANGE in source.shapes:
                source.fetch(bars, Period.DAILY, code=self.CODES[0], start=self.START, end=self.END)
            else:
                source.fetch(bars, Period.DAILY, day=self.END)

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


def _minute_view(items):
    return sorted((b.code, b.period, b.bar_time, round(b.open, 4), round(b.high, 4),
                   round(b.low, 4), round(b.close, 4), b.volume, round(b.amount, 2))
                  for b in items)  # fmt: skip


def _as_of(rows, field, day):
    """The value of ``field`` on ``day``: from the latest row on or before it that has one."""
    found = None
    for row in sorted(rows, key=lambda r: r.valid_from):
        if row.valid_from > day:
            break
        if getattr(row, field) is not None:
            found = getattr(row, field)
    return found


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))
    return a == b


def replace_bar(bar: Bar, **changes: object) -> Bar:
    return dataclasses.replace(bar, **changes)
