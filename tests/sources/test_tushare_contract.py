"""The tushare adapter: the unmodified tushare client over a real socket to a fake tushare server
serving the simulated market (tests/sources/fake_tushare.py)."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import sys

import fake_tushare  # type: ignore[import-not-found]
import pytest
import requests
from contract import SourceContract
from fake_tushare import (  # type: ignore[import-not-found]
    MSG_DAILY_LIMIT,
    MSG_INTERNAL,
    MSG_PERMISSION,
    MSG_TOKEN,
    TEST_TOKEN,
    FakeTushare,
    per_minute_message,
    running,
    ymd,
)
from faults import RecordingQuota  # type: ignore[import-not-found]

from stocksync.config import Settings
from stocksync.datasets import dataset
from stocksync.domain import Bar, DatasetName, Period
from stocksync.sim import SimMarket
from stocksync.sim.members import MEMBER_INDICES
from stocksync.sources.base import (
    Availability,
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    SourceError,
    TransientSourceError,
)
from stocksync.sources.sim import sim_market
from stocksync.sources.tushare import TushareSource, build_tushare_source

TIMEOUT_S = 2.0
START, END = dt.date(2024, 12, 2), dt.date(2025, 1, 31)
RANGE = (START, END)
EX_DATE_CODES = ("605685.SH", "000945.SZ")  # their factors change within START..END
SUSPENDED_CODE = "002766.SZ"  # suspended on 15 days of START..END


def make_source(fake: FakeTushare, quota=None, **changes) -> TushareSource:
    settings = Settings(
        tushare_token=TEST_TOKEN, tushare_url=fake.url, source_timeout_s=TIMEOUT_S
    ).with_overrides(**changes)
    return build_tushare_source(settings, quota)


@pytest.fixture(scope="session")
def market() -> SimMarket:
    return sim_market(20240601, 300)


@pytest.fixture(scope="module")
def fake(market):
    yield from running(market)


@pytest.fixture
def faults(fake):
    fake.reset()
    yield fake.faults
    fake.reset()


@pytest.fixture
def source(fake, faults) -> TushareSource:
    return make_source(fake)


class TestTushareContract(SourceContract):
    BUG_TARGET = "stocksync.sources.tushare.rows.bars"
    CODES = (*EX_DATE_CODES, SUSPENDED_CODE, "688017.SH", "300002.SZ", "920047.BJ")
    START = START
    END = END
    TIMEOUT_S = TIMEOUT_S
    # names and ST from namechange, share capital from daily_basic: dated as they changed
    PROFILE_HISTORY_FIELDS = ("name", "is_st", "total_shares", "float_shares")

    def expected_bars(self, bars: list[Bar]) -> list[Bar]:
        return [b for b in bars if b.trade_status == 1]  # tushare omits suspended days

    def test_valuations_equal_the_truth(self, source, fake, market):
        super().test_valuations_equal_the_truth(source, market)
        # the inherited test passes on NotImplementedError: make sure it really compared
        assert fake.count("daily_basic") == len(self.CODES) + 1

    def test_index_bars_equal_the_truth(self, source, fake, market):
        super().test_index_bars_equal_the_truth(source, market)
        for api in ("index_daily", "index_weekly", "index_monthly"):
            assert fake.count(api) == len(self.INDEX_CODES), api  # it really compared

    def test_index_members_equal_the_truth(self, source, fake, market):
        super().test_index_members_equal_the_truth(source, market)
        assert fake.count("index_weight") == len(self.MEMBER_INDEX_CODES)  # it really compared
        assert fake.count("trade_cal") == len(self.MEMBER_INDEX_CODES)

    def test_minute_bars_equal_the_truth(self, source, fake, market):
        super().test_minute_bars_equal_the_truth(source, market)
        # four periods, two codes, a week each: one stk_mins call per (period, code)
        assert fake.count("stk_mins") == 4 * 2 == fake.count()

    def test_the_sample_covers_the_boards_ex_dates_and_suspensions(self, market):
        secs = {s.code: s for s in market.securities()}
        assert {secs[c].board.value for c in self.CODES} == {"main", "star", "chinext", "bse"}
        for code in self.CODES:
            assert secs[code].list_date < START and secs[code].delist_date is None, code
        for code in EX_DATE_CODES:
            assert len({f.factor for f in market.adj_factors(code, START, END)}) > 1, code
        daily = market.bars_for_code(SUSPENDED_CODE, START, END)
        assert any(b.trade_status == 0 for b in daily)
        pes = {v.pe_ttm is None for c in self.CODES for v in market.valuations_for_code(c, *RANGE)}
        assert pes == {True, False}  # loss-making stocks and profitable ones


# -- units and fields ---------------------------------------------------------------------
def _wire(fake: FakeTushare, api: str, **params) -> list[dict]:
    body = {"api_name": api, "token": TEST_TOKEN, "params": params, "fields": ""}
    reply = requests.post(f"{fake.url}/{api}", json=body, timeout=5).json()
    assert reply["code"] == 0, reply
    return [
        dict(zip(reply["data"]["fields"], item, strict=True)) for item in reply["data"]["items"]
    ]


def test_volume_and_amount_are_converted_from_lots_and_thousands(source, fake, market):
    code = EX_DATE_CODES[0]
    wire = {
        r["trade_date"]: r
        for r in _wire(fake, "daily", ts_code=code, start_date=ymd(START), end_date=ymd(END))
    }
    truth = {b.trade_date: b for b in market.bars_for_code(code, START, END)}
    assert list(wire) == sorted(wire, reverse=True)  # the wire is newest first ...
    bars = source.stock_bars(code, Period.DAILY, START, END)
    assert [ymd(b.trade_date) for b in bars] == sorted(wire)  # ... the bars oldest first
    assert len(bars) > 20
    for bar in bars:
        row, true = wire[ymd(bar.trade_date)], truth[bar.trade_date]
        assert row["vol"] > 0 and row["vol"] == true.volume / 100  # lots on the wire
        assert row["amount"] == true.amount / 1000  # thousands of yuan on the wire
        assert isinstance(bar.volume, int)
        assert bar.volume == round(row["vol"] * 100) == true.volume
        assert bar.amount == round(row["amount"] * 1000, 2) == true.amount


def test_market_values_are_converted_from_ten_thousands_of_yuan(source, fake, market):
    code = EX_DATE_CODES[1]
    wire = {
        r["trade_date"]: r
        for r in _wire(fake, "daily_basic", ts_code=code, start_date=ymd(START), end_date=ymd(END))
    }
    truth = {v.trade_date: v for v in market.valuations_for_code(code, START, END)}
    assert list(wire) == sorted(wire, reverse=True)  # the wire is newest first ...
    got = source.stock_valuations(code, START, END)
    assert [ymd(v.trade_date) for v in got] == sorted(wire)  # ... the valuations oldest first
    assert len(got) > 20
    for value in got:
        row, true = wire[ymd(value.trade_date)], truth[value.trade_date]
        assert row["total_mv"] == true.total_mv / 10000  # 万元 on the wire
        assert row["circ_mv"] == true.circ_mv / 10000
        assert row["total_mv"] < 1e7 < value.total_mv  # yuan once stored
        assert value.total_mv == round(row["total_mv"] * 10000, 2) == true.total_mv
        assert value.circ_mv == round(row["circ_mv"] * 10000, 2) == true.circ_mv
        assert (value.pe_ttm, value.pb) == (row["pe_ttm"], row["pb"]) == (true.pe_ttm, true.pb)


def test_a_loss_making_stock_has_no_pe(source, fake, market):
    day = market.trading_days(START, END)[6]
    truth = {v.code: v for v in market.valuations_for_date(day)}
    losers = sorted(c for c, v in truth.items() if v.pe_ttm is None)
    assert 0 < len(losers) < len(truth) / 2
    wire = {r["ts_code"]: r for r in _wire(fake, "daily_basic", trade_date=ymd(day))}
    assert {c for c, r in wire.items() if r["pe_ttm"] is None} == set(losers)  # null on the wire
    got = {v.code: v for v in source.market_valuations(day)}  # a column mixing NaN and numbers
    assert got.keys() == truth.keys()
    assert {c for c, v in got.items() if v.pe_ttm is None} == set(losers)
    assert all(isinstance(v.pe_ttm, float) for c, v in got.items() if c not in losers)
    for code in (losers[0], SUSPENDED_CODE):  # a column of nulls only
        got_one = source.stock_valuations(code, START, END)
        assert got_one == market.valuations_for_code(code, START, END) and got_one
        assert all(v.pe_ttm is None and v.pb and v.total_mv and v.circ_mv for v in got_one)


def test_valuations_skip_suspended_and_closed_days_and_unknown_codes(source, market):
    got = source.stock_valuations(SUSPENDED_CODE, START, END)
    traded = [b.trade_date for b in market.bars_for_code(SUSPENDED_CODE, START, END)]
    trading = [b.trade_date for b in market.bars_for_code(SUSPENDED_CODE, START, END)
               if b.trade_status == 1]  # fmt: skip
    assert [v.trade_date for v in got] == trading and len(trading) < len(traded)
    assert source.market_valuations(dt.date(2025, 1, 1)) == []  # New Year: closed
    with pytest.raises(NoDataError):
        source.stock_valuations("600999.SH", START, END)
    sec = next(s for s in market.securities() if s.list_date > dt.date(2025, 6, 1))
    before = sec.list_date - dt.timedelta(days=60), sec.list_date - dt.timedelta(days=1)
    assert source.stock_valuations(sec.code, *before) == []


def test_valuations_are_paged_and_spanned(fake, faults, market):
    fake.page_rows = 100
    source = TushareSource(TEST_TOKEN, url=fake.url, timeout_s=TIMEOUT_S, page_rows=100)
    day = market.trading_days(START, END)[2]
    truth = market.valuations_for_date(day)
    assert source.market_valuations(day) == truth
    assert len(truth) > 200 and fake.count("daily_basic") == len(truth) // 100 + 1
    fake.reset()
    start = dt.date(2000, 1, 1)
    code = EX_DATE_CODES[1]
    got = make_source(fake).stock_valuations(code, start, END)
    assert got == market.valuations_for_code(code, start, END) and len(got) > 4000
    assert fake.count("daily_basic") == 2  # 2000-2019 and 2020-2025, each under a page


def test_garbage_valuations_are_refused(source, faults, market):
    faults.set(garbage=True)
    with pytest.raises(TransientSourceError, match="malformed row"):
        source.market_valuations(market.trading_days(START, END)[3])
    with pytest.raises(TransientSourceError, match="malformed row"):
        source.stock_valuations(EX_DATE_CODES[0], START, END)


@pytest.mark.parametrize(
    ("field", "value"),
    [("circ_mv", -1.0), ("total_mv", 0.0), ("total_mv", "12x"), ("pb", float("inf"))],
)
def test_an_impossible_valuation_is_refused(source, market, monkeypatch, field, value):
    original = fake_tushare.wire_valuation
    monkeypatch.setattr(
        fake_tushare, "wire_valuation", lambda v, close: {**original(v, close), field: value}
    )
    with pytest.raises(TransientSourceError, match="malformed row"):
        source.stock_valuations(EX_DATE_CODES[0], START, END)


def test_pct_chg_is_recomputed_not_trusted(source, market, monkeypatch):
    original = fake_tushare.wire_bar
    monkeypatch.setattr(fake_tushare, "wire_bar", lambda bar: {**original(bar), "pct_chg": 99.0})
    day = market.trading_days(START, END)[5]
    bars = source.market_bars(Period.DAILY, day)
    truth = {b.code: b.pct_chg for b in market.bars_for_date(day)}
    assert bars and all(b.pct_chg == truth[b.code] for b in bars)
    assert all(b.turnover_pct is None and b.trade_status == 1 and not b.is_st for b in bars)


def test_securities_and_their_dates_equal_the_truth(source, fake, market):
    assert source.securities() == market.securities()
    assert any(s.delist_date for s in market.securities())  # delisted ones come from status D
    assert fake.count("stock_basic") == 3  # list_status L, D and P


def test_a_calendar_that_stops_early_is_fatal(source):
    with pytest.raises(FatalSourceError, match="only known up to 2026-12-31"):
        source.trading_days(dt.date(2026, 12, 1), dt.date(2027, 1, 31))


def test_whole_market_factors_equal_the_truth(source, fake, market):
    day = market.trading_days(START, END)[10]
    got = source.market_adj_factors(day)
    listed = [s.code for s in market.securities() if s.is_listed_on(day)]
    truth = [f for code in listed for f in market.adj_factors(code, day, day)]
    assert got == truth and len(got) > 250
    assert fake.count("adj_factor") == 1
    assert source.market_adj_factors(dt.date(2025, 1, 1)) == []  # New Year: closed


def test_full_pages_are_followed_with_offset(fake, faults, market):
    fake.page_rows = 100
    source = TushareSource(TEST_TOKEN, url=fake.url, timeout_s=TIMEOUT_S, page_rows=100)
    day = market.trading_days(START, END)[2]
    truth = [b for b in market.bars_for_date(day) if b.trade_status == 1]
    got = source.market_bars(Period.DAILY, day)
    assert [(b.code, b.close) for b in got] == [(b.code, b.close) for b in truth]
    assert len(truth) > 200 and fake.count("daily") == len(truth) // 100 + 1


def test_a_long_range_is_fetched_in_spans(source, fake, market):
    code = EX_DATE_CODES[1]
    start = dt.date(2000, 1, 1)
    got = source.stock_bars(code, Period.MONTHLY, start, END)
    truth = market.bars_for_code(code, start, END, Period.MONTHLY)
    assert len(truth) > 200  # monthly bars since 2005
    assert [(b.trade_date, b.close, b.volume) for b in got] == [
        (b.trade_date, b.close, b.volume) for b in truth
    ]
    assert fake.count("monthly") == 2  # 2000-2019 and 2020-2025


def test_a_known_code_without_bars_in_range_is_empty_not_no_data(source, market):
    sec = next(s for s in market.securities() if s.list_date > dt.date(2025, 6, 1))
    before = sec.list_date - dt.timedelta(days=60), sec.list_date - dt.timedelta(days=1)
    assert source.stock_bars(sec.code, Period.DAILY, *before) == []
    assert source.adj_factors(sec.code, *before) == []
    with pytest.raises(NoDataError):
        source.adj_factors("600999.SH", START, END)


# -- index bars --------------------------------------------------------------------------
INDEX = "000300.SH"
INDEX_ASKED = "ts_code,trade_date,open,high,low,close,pre_close,vol,amount"


def _asked(fake: FakeTushare) -> list[tuple[str, dict, str]]:
    """What each request asked for, without the client's own ``ts_type_name``."""
    return [
        (api, {k: v for k, v in params.items() if k != "ts_type_name"}, fields)
        for api, params, fields in fake.calls
    ]


@pytest.mark.parametrize(
    ("period", "api", "cap"),
    [
        (Period.DAILY, "index_daily", 8000),
        (Period.WEEKLY, "index_weekly", 1000),
        (Period.MONTHLY, "index_monthly", 1000),
    ],
)
def test_index_bars_are_asked_for_in_tushares_own_terms(source, fake, market, period, api, cap):
    got = source.index_bars(INDEX, period, START, END)
    assert got and got == market.index_bars(INDEX, period, START, END)
    params = {"ts_code": INDEX, "start_date": "20241202", "end_date": "20250131"}
    assert _asked(fake) == [(api, {**params, "limit": cap, "offset": 0}, INDEX_ASKED)]


def test_index_volume_and_amount_come_in_lots_and_thousands(source, fake, market):
    wire = _wire(fake, "index_daily", ts_code=INDEX, start_date=ymd(START), end_date=ymd(END))
    truth = {ymd(b.trade_date): b for b in market.index_bars(INDEX, Period.DAILY, START, END)}
    assert list(wire[0]) == [
        "ts_code", "trade_date", "close", "open", "high", "low", "pre_close", "change",
        "pct_chg", "vol", "amount",
    ]  # fmt: skip
    dates = [r["trade_date"] for r in wire]
    assert dates == sorted(truth, reverse=True) and len(dates) > 30  # newest first
    bars = {ymd(b.trade_date): b for b in source.index_bars(INDEX, Period.DAILY, START, END)}
    assert list(bars) == sorted(truth)  # oldest first once read
    for row in wire:
        bar, true = bars[row["trade_date"]], truth[row["trade_date"]]
        assert row["vol"] == true.volume / 100 and row["amount"] == true.amount / 1000
        assert row["close"] == true.close and row["pct_chg"] == true.pct_chg
        assert isinstance(bar.volume, int) and bar.volume == round(row["vol"] * 100)
        assert bar.amount == round(row["amount"] * 1000, 2) == true.amount


def test_a_reply_in_lots_and_thousands_is_read_as_shares_and_yuan(source, monkeypatch):
    original = fake_tushare.wire_index_bar
    monkeypatch.setattr(
        fake_tushare,
        "wire_index_bar",
        lambda bar: {**original(bar), "vol": 2_345_678.0, "amount": 31_234_567.891},
    )
    bars = source.index_bars(INDEX, Period.WEEKLY, START, END)
    assert len(bars) == 9
    assert {(b.volume, b.amount) for b in bars} == {(234_567_800, 31_234_567_891.0)}


def test_index_periods_end_on_their_last_trading_day(source, fake, faults):
    monthly = source.index_bars(INDEX, Period.MONTHLY, START, END)
    assert [b.trade_date for b in monthly] == [dt.date(2024, 12, 31), dt.date(2025, 1, 27)]
    weekly = source.index_bars(INDEX, Period.WEEKLY, START, END)
    assert weekly[-1].trade_date == dt.date(2025, 1, 27)  # Spring Festival closes the week
    assert all(b.trade_date.weekday() == 4 for b in weekly[:-1])
    shown = _wire(fake, "index_monthly", ts_code=INDEX, start_date=ymd(START), end_date=ymd(END))
    assert shown and "vol" not in shown[0] and "amount" not in shown[0]  # unless named


def test_a_long_index_range_is_paged_with_limit_and_offset(source, fake, market):
    start = dt.date(2000, 1, 1)
    got = source.index_bars(INDEX, Period.WEEKLY, start, END)
    truth = market.index_bars(INDEX, Period.WEEKLY, start, END)
    assert got == truth and len(truth) > 1000  # more than one index_weekly reply holds
    assert [(p["limit"], p["offset"]) for _, p, _ in _asked(fake)] == [(1000, 0), (1000, 1000)]


def test_index_daily_pages_follow_its_cap(fake, faults, market):
    fake.caps["index_daily"] = 250
    caps = {"index_daily": 250, "index_weekly": 1000, "index_monthly": 1000}
    source = TushareSource(TEST_TOKEN, url=fake.url, timeout_s=TIMEOUT_S, index_page_rows=caps)
    start = dt.date(2023, 1, 1)
    got = source.index_bars("399006.SZ", Period.DAILY, start, END)
    truth = market.index_bars("399006.SZ", Period.DAILY, start, END)
    assert got == truth and len(truth) > 500
    offsets = [p["offset"] for _, p, _ in _asked(fake)]
    assert offsets == list(range(0, len(truth) + 1, 250))


def test_an_empty_index_table_is_not_filled_in(source, fake, market):
    day = market.trading_days(START, END)[4]
    fake.unpublished.add(day)
    got = source.index_bars(INDEX, Period.DAILY, START, END)
    truth = market.index_bars(INDEX, Period.DAILY, START, END)
    assert got == [b for b in truth if b.trade_date != day]  # a missing day stays missing
    fake.withheld.add(INDEX)  # a lagging source: an empty table for a main index
    assert source.index_bars(INDEX, Period.DAILY, START, END) == []
    before_its_base_date = dt.date(2022, 1, 1), dt.date(2022, 6, 30)
    assert source.index_bars("899050.BJ", Period.DAILY, *before_its_base_date) == []
    with pytest.raises(NoDataError, match=r"000999\.SH"):
        source.index_bars("000999.SH", Period.DAILY, START, END)
    assert _wire(fake, "index_daily", ts_code="000999.SH", start_date=ymd(START)) == []


def test_index_calls_have_their_own_buckets_and_errors(fake, faults):
    quota = RecordingQuota()
    source = make_source(fake, quota)
    for period in (Period.DAILY, Period.WEEKLY, Period.MONTHLY):
        assert source.index_bars(INDEX, period, START, END)
    assert quota.calls == [
        ("tushare.index_daily", 200), ("tushare.index_weekly", 200),
        ("tushare.index_monthly", 200),
    ]  # fmt: skip
    fake.force(40203, per_minute_message(150))
    with pytest.raises(RateLimitedError) as info:
        source.index_bars(INDEX, Period.DAILY, START, END)
    assert info.value.bucket == "tushare.index_daily" and info.value.limit_per_minute == 150
    fake.force(40203, MSG_PERMISSION)  # too few points for the index APIs
    with pytest.raises(FatalSourceError):
        source.index_bars(INDEX, Period.WEEKLY, START, END)
    faults.set(server_error=True)
    with pytest.raises(TransientSourceError, match="HTTP error"):
        source.index_bars(INDEX, Period.MONTHLY, START, END)


def test_garbage_index_rows_never_pass_the_checks(source, faults):
    faults.set(garbage=True)
    got = source.index_bars(INDEX, Period.DAILY, START, END)
    rejected = dataset(DatasetName.INDEX_BARS).check(got, Period.DAILY)[1]
    assert len(rejected) == 2
    assert {r.reason.split()[0] for r in rejected} == {"open", "amount/volume"}


# -- index members -----------------------------------------------------------------------
MEMBER_ASKED = "index_code,con_code,trade_date,weight"


def test_index_members_are_asked_for_in_tushares_own_terms(source, fake, market):
    got = source.index_members(INDEX, START, END)
    assert got and got == market.index_members(INDEX, START, END)
    params = {"index_code": "399300.SZ", "start_date": "20241201", "end_date": "20250131"}
    calendar = {"exchange": "SSE", "start_date": "20241201", "end_date": "20250131"}
    assert _asked(fake) == [
        ("index_weight", {**params, "limit": 6000, "offset": 0}, MEMBER_ASKED),
        ("trade_cal", calendar, "cal_date,is_open"),
    ]


def test_csi_300_answers_only_under_its_shenzhen_code(source, fake, market):
    asked = {"start_date": ymd(START), "end_date": ymd(END)}
    assert _wire(fake, "index_weight", index_code=INDEX, **asked) == []  # issues/801
    wire = _wire(fake, "index_weight", index_code="399300.SZ", **asked)
    assert list(wire[0]) == ["index_code", "con_code", "trade_date", "weight"]
    assert {r["index_code"] for r in wire} == {"399300.SZ"}
    dates = [r["trade_date"] for r in wire]
    assert dates == sorted(dates, reverse=True)  # newest first
    month_end = dt.date(2024, 12, 31)
    truth = {m.code: m.weight for m in market.index_members(INDEX, month_end, month_end)}
    on_the_wire = {r["con_code"]: r["weight"] for r in wire if r["trade_date"] == "20241231"}
    assert on_the_wire == truth  # percent, four decimals, codes like 600000.SH
    assert sum(truth.values()) == pytest.approx(100, abs=0.01)
    assert all(round(w, 4) == w for w in truth.values())
    members = source.index_members(INDEX, START, END)
    assert {m.index_code for m in members} == {INDEX}
    assert {m.code: m.weight for m in members if m.trade_date == month_end} == truth


def test_the_latest_snapshot_of_a_month_is_kept_on_its_last_trading_day(source, fake, market):
    code, january = "000016.SH", (dt.date(2025, 1, 1), dt.date(2025, 1, 31))
    wire = _wire(fake, "index_weight", index_code=code, start_date="20250101", end_date="20250131")
    snapshots = {r["trade_date"] for r in wire}
    assert snapshots == {"20250102", "20250127"}  # an early snapshot still before the review
    older = {(r["con_code"], r["weight"]) for r in wire if r["trade_date"] == "20250102"}
    newer = {(r["con_code"], r["weight"]) for r in wire if r["trade_date"] == "20250127"}
    assert older != newer
    got = source.index_members(code, *january)
    assert got == market.index_members(code, *january)
    assert {(m.code, m.weight) for m in got} == newer
    assert {m.trade_date for m in got} == {dt.date(2025, 1, 27)}  # Spring Festival ends it


def test_daily_snapshots_make_one_per_month(source, fake, market):
    code, august = "000905.SH", (dt.date(2011, 8, 1), dt.date(2011, 8, 31))
    wire = _wire(fake, "index_weight", index_code=code, start_date="20110801", end_date="20110831")
    assert len({r["trade_date"] for r in wire}) == len(market.trading_days(*august)) > 20
    got = source.index_members(code, *august)
    assert got and got == market.index_members(code, *august)
    assert {m.trade_date for m in got} == {dt.date(2011, 8, 31)}


def test_a_snapshot_dated_on_a_closed_day_takes_its_months_last_trading_day(source, monkeypatch):
    original = fake_tushare.wire_member
    monkeypatch.setattr(
        fake_tushare, "wire_member", lambda index, m, day: original(index, m, dt.date(2024, 12, 1))
    )  # a Sunday: the whole range comes as one snapshot dated 20241201
    got = source.index_members("000016.SH", START, END)
    assert got and {m.trade_date for m in got} == {dt.date(2024, 12, 31)}


def test_a_month_still_under_way_within_the_range_is_left_out(source, market):
    mid_january = dt.date(2025, 1, 15)
    got = source.index_members("000905.SH", START, mid_january)
    assert got == market.index_members("000905.SH", START, mid_january)
    assert {m.trade_date for m in got} == {dt.date(2024, 12, 31)}


def test_long_member_ranges_are_paged_with_limit_and_offset(fake, faults, market):
    fake.caps["index_weight"] = 40
    source = TushareSource(TEST_TOKEN, url=fake.url, timeout_s=TIMEOUT_S, member_page_rows=40)
    start = dt.date(2023, 1, 1)
    got = source.index_members(INDEX, start, END)
    truth = market.index_members(INDEX, start, END)
    assert got == truth and len(truth) > 200
    pages = [p for api, p, _ in _asked(fake) if api == "index_weight"]
    assert [p["limit"] for p in pages] == [40] * len(pages) and len(pages) > 5
    assert [p["offset"] for p in pages] == list(range(0, 40 * len(pages), 40))


def test_members_are_covered_for_the_member_indices_only(source, fake):
    assert {c for c in MEMBER_INDICES if source.covers_dataset(DatasetName.INDEX_MEMBERS, c)} == (
        set(MEMBER_INDICES)
    )
    assert not source.covers_dataset(DatasetName.INDEX_MEMBERS, "000001.SH")
    assert source.covers_dataset(DatasetName.INDEX_BARS, "000001.SH")
    assert source.covers_dataset(DatasetName.BARS, "920047.BJ")
    with pytest.raises(NoDataError, match=r"000001\.SH"):
        source.index_members("000001.SH", START, END)
    assert fake.count() == 0  # refused without spending a call


def test_an_empty_member_table_is_not_filled_in(source, fake, market):
    fake.withheld.add("000016.SH")
    assert source.index_members("000016.SH", START, END) == []
    assert fake.count("index_weight") == 1 and fake.count("trade_cal") == 0
    before_its_base_date = dt.date(2022, 1, 1), dt.date(2022, 6, 30)
    assert source.index_members("899050.BJ", *before_its_base_date) == []


def test_member_calls_have_their_own_bucket_and_errors(fake, faults):
    quota = RecordingQuota()
    source = make_source(fake, quota)
    assert source.index_members(INDEX, START, END)
    assert quota.calls == [("tushare.index_weight", 200), ("tushare.trade_cal", 200)]
    fake.force(40203, per_minute_message(80))
    with pytest.raises(RateLimitedError) as info:
        source.index_members(INDEX, START, END)
    assert info.value.bucket == "tushare.index_weight" and info.value.limit_per_minute == 80
    fake.force(40203, MSG_PERMISSION)  # index_weight needs 2,000 points
    with pytest.raises(FatalSourceError):
        source.index_members(INDEX, START, END)
    faults.set(server_error=True)
    with pytest.raises(TransientSourceError, match="HTTP error"):
        source.index_members(INDEX, START, END)


def test_garbage_members_never_pass_the_checks(source, faults):
    faults.set(garbage=True)
    got = source.index_members("000905.SH", START, END)
    rejected = dataset(DatasetName.INDEX_MEMBERS).check(got, Period.MONTHLY)[1]
    assert len(rejected) == 2
    assert {r.reason.split()[0] for r in rejected} == {"weight", "member"}


# -- empty replies: "no data" only when the source positively says so --------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.stock_bars("605685.SH", Period.DAILY, START, END),
        lambda s: s.market_bars(Period.WEEKLY, dt.date(2025, 1, 24)),
        lambda s: s.adj_factors("605685.SH", START, END),
        lambda s: s.market_adj_factors(dt.date(2025, 1, 24)),
        lambda s: s.stock_valuations("605685.SH", START, END),
        lambda s: s.market_valuations(dt.date(2025, 1, 24)),
        lambda s: s.securities(),
        lambda s: s.trading_days(START, END),
    ],
)
def test_an_http_500_is_transient_never_no_data(source, faults, call):
    faults.set(server_error=True)
    with pytest.raises(TransientSourceError, match="HTTP error"):
        call(source)


def test_an_http_404_is_transient(fake, faults):
    source = TushareSource(TEST_TOKEN, url=fake.url + "/wrong", timeout_s=TIMEOUT_S)
    with pytest.raises(TransientSourceError, match="HTTP error"):
        source.market_bars(Period.DAILY, START)


def test_an_empty_whole_market_reply_is_explained(fake, faults, market):
    day = market.trading_days(START, END)[4]
    fake.unpublished.add(day)
    old = TushareSource(TEST_TOKEN, url=fake.url, timeout_s=TIMEOUT_S)
    with pytest.raises(NoDataError, match="no daily bars for trading day"):
        old.market_bars(Period.DAILY, day)
    fresh = TushareSource(TEST_TOKEN, url=fake.url, timeout_s=TIMEOUT_S, today=lambda: day)
    with pytest.raises(TransientSourceError, match="not published yet"):
        fresh.market_bars(Period.DAILY, day)
    with pytest.raises(TransientSourceError, match="not published yet"):
        fresh.market_adj_factors(day)
    with pytest.raises(TransientSourceError, match="not published yet"):
        fresh.market_valuations(day)
    with pytest.raises(NoDataError, match="no valuations for trading day"):
        old.market_valuations(day)
    assert old.market_bars(Period.DAILY, dt.date(2025, 1, 4)) == []  # a Saturday
    with pytest.raises(NoDataError, match="not a trading day"):
        old.market_bars(Period.WEEKLY, dt.date(2025, 1, 4))
    with pytest.raises(NoDataError, match="last trading day of its weekly"):
        old.market_bars(Period.WEEKLY, dt.date(2025, 1, 22))  # a Wednesday


# -- rate limits and the shared quota -----------------------------------------------------
def test_the_per_minute_limit_is_learned_from_the_message(fake, faults):
    quota = RecordingQuota()
    source = make_source(fake, quota)
    assert source.calls_per_minute == 200 and source.learned_calls_per_minute is None
    fake.force(40203, per_minute_message(37))
    with pytest.raises(RateLimitedError) as info:
        source.trading_days(START, END)
    assert info.value.wait_s == 60 and info.value.limit_per_minute == 37  # for the shared bucket
    assert info.value.bucket == "tushare.trade_cal"  # tushare limits each endpoint on its own
    assert source.learned_calls_per_minute == 37 and source.calls_per_minute == 37
    source.trading_days(START, END)
    source.securities()  # another endpoint keeps its own (configured) limit
    assert quota.calls[:2] == [("tushare.trade_cal", 200), ("tushare.trade_cal", 37)]
    assert set(quota.calls[2:]) == {("tushare.stock_basic", 200)}
    fake.force(40203, per_minute_message(80))  # a looser limit never loosens ours
    with pytest.raises(RateLimitedError):
        source.trading_days(START, END)
    assert source.calls_per_minute == 37


def test_the_servers_own_limit_is_reported_as_rate_limited(fake, faults):
    fake.per_minute_limit = 2
    source = make_source(fake)
    source.trading_days(START, END)
    source.trading_days(START, END)
    with pytest.raises(RateLimitedError):
        source.trading_days(START, END)
    assert source.learned_calls_per_minute == 2
    assert fake.count("trade_cal") == 3


def test_the_quota_is_asked_before_every_call_and_its_wait_honoured(fake, faults):
    quota = RecordingQuota(waits=[0.0, 7.5])
    source = make_source(fake, quota, calls_per_minute={"tushare": 120})
    assert source.calls_per_minute == 120
    source.trading_days(START, END)
    with pytest.raises(RateLimitedError) as info:
        source.trading_days(START, END)
    assert info.value.wait_s == 7.5
    assert quota.calls == [("tushare.trade_cal", 120)] * 2
    assert fake.count() == 1  # the refused call never reached the server


def test_valuation_calls_pass_the_shared_quota(fake, faults):
    quota = RecordingQuota(waits=[0.0, 0.0, 4.0, 4.0])
    source = make_source(fake, quota)
    assert source.stock_valuations(EX_DATE_CODES[0], START, END)
    assert source.market_valuations(START)
    with pytest.raises(RateLimitedError) as info:
        source.stock_valuations(EX_DATE_CODES[0], START, END)
    assert info.value.wait_s == 4.0
    with pytest.raises(RateLimitedError):
        source.market_valuations(START)
    assert quota.calls == [("tushare.daily_basic", 200)] * 4
    assert fake.count("daily_basic") == 2  # the refused calls never reached the server


def test_valuations_without_the_points_are_fatal(source, fake):
    fake.force(40203, MSG_PERMISSION)  # daily_basic needs 2,000 points
    with pytest.raises(FatalSourceError):
        source.market_valuations(START)
    fake.force(40203, per_minute_message(50))
    with pytest.raises(RateLimitedError):
        source.stock_valuations(EX_DATE_CODES[0], START, END)


def test_the_in_process_quota_applies_without_a_shared_one(fake, faults):
    source = make_source(fake, None, calls_per_minute={"tushare": 2})
    source.trading_days(START, END)
    source.trading_days(START, END)
    with pytest.raises(RateLimitedError) as info:
        source.trading_days(START, END)
    assert 0 < info.value.wait_s <= 60 and fake.count() == 2


def test_a_daily_limit_waits_until_the_next_beijing_day(source, fake):
    fake.force(40203, MSG_DAILY_LIMIT)
    with pytest.raises(RateLimitedError) as info:
        source.market_bars(Period.DAILY, START)
    assert 60 < info.value.wait_s <= 86_400 + 60


@pytest.mark.parametrize(
    ("code", "msg", "kind"),
    [
        (40101, MSG_TOKEN, FatalSourceError),
        (40203, MSG_PERMISSION, FatalSourceError),
        (-1000, MSG_INTERNAL, TransientSourceError),
        (-2002, "服务器维护中", TransientSourceError),
    ],
)
def test_error_replies_are_classified(source, fake, code, msg, kind):
    fake.force(code, msg)
    with pytest.raises(SourceError) as info:
        source.stock_bars(EX_DATE_CODES[0], Period.DAILY, START, END)
    assert type(info.value) is kind


# -- the token is a secret ----------------------------------------------------------------
def test_the_token_never_leaks(fake, faults, caplog):
    caplog.set_level(logging.DEBUG)
    sources = []
    errors: list[BaseException] = []

    def attempt() -> None:
        source = make_source(fake)  # fresh: a per-minute limit reply pauses the endpoint
        sources.append(source)
        with pytest.raises(SourceError) as info:
            source.stock_bars(EX_DATE_CODES[0], Period.DAILY, START, END)
        errors.append(info.value)

    for fault in ("server_error", "bad_json", "drop", "auth", "rate_limit", "stall"):
        faults.clear()
        faults.set(**{fault: True})
        attempt()
    faults.clear()
    for code, msg in [
        (-1000, MSG_INTERNAL),
        (40203, MSG_PERMISSION),
        (40203, MSG_DAILY_LIMIT),
        (-1, f"bad token {TEST_TOKEN} rejected"),
    ]:  # a server echoing the token
        fake.force(code, msg)
        attempt()
    bad = TushareSource("not-the-token", url=fake.url, timeout_s=TIMEOUT_S)
    with pytest.raises(FatalSourceError) as info:
        bad.trading_days(START, END)
    errors.append(info.value)
    texts = [caplog.text]
    for source in sources:
        texts += [repr(source), str(source), str(vars(source))]
    for exc in errors:
        texts += [str(exc), repr(exc), str(exc.__cause__), str(exc.__context__), str(exc.args)]
    leaks = [t for t in texts if TEST_TOKEN in t]
    assert not leaks, leaks
    assert len(errors) == 11
    assert "***" in str(errors[-2])


# -- availability and configuration -------------------------------------------------------
def test_availability_without_a_token(fake, faults):
    source = make_source(fake, tushare_token=None)
    assert source.availability() == Availability(False, "TUSHARE_TOKEN is not set")
    with pytest.raises(FatalSourceError):
        source.trading_days(START, END)
    assert fake.count() == 0


def test_availability_when_the_endpoint_does_not_answer(fake, faults):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    source = TushareSource(TEST_TOKEN, url=f"http://127.0.0.1:{port}/dataapi", timeout_s=TIMEOUT_S)
    status = source.availability()
    assert not status.ok and "connection failed" in status.reason
    bad = TushareSource("not-the-token", url=fake.url, timeout_s=TIMEOUT_S)
    status = bad.availability()
    assert not status.ok and "token" in status.reason
    faults.set(rate_limit=True)
    assert make_source(fake).availability().ok  # busy is not unavailable


def test_availability_probe_uses_a_short_timeout(fake, faults):
    faults.set(stall=True)
    source = TushareSource(TEST_TOKEN, url=fake.url, timeout_s=30.0)
    status = source.availability()
    assert not status.ok and "timed out after 3.0 s" in status.reason


def test_the_endpoint_is_redirected_through_the_client_class(fake, faults):
    from tushare.pro.client import DataApi

    source = make_source(fake)
    source.trading_days(START, END)
    assert DataApi._DataApi__http_url == fake.url
    assert fake.count("trade_cal") == 1
    assert source.name == "tushare" and source.expected_latency_s == pytest.approx(0.3)


def test_availability_when_the_library_cannot_be_imported(fake, faults, monkeypatch):
    from stocksync.sources.tushare.client import Library

    monkeypatch.setattr(Library, "_loaded", None)
    monkeypatch.setitem(sys.modules, "tushare", None)  # makes `import tushare` fail
    source = make_source(fake)
    status = source.availability()
    assert not status.ok and "cannot be imported" in status.reason
    with pytest.raises(FatalSourceError, match="cannot be imported"):
        source.trading_days(START, END)
    assert fake.count() == 0
