"""tushare's stock events (corporate actions, profiles, financial reports): the quirks of its
wire forms, through the unmodified client against the fake server (fake_tushare_events.py)."""

from __future__ import annotations

import datetime as dt
import itertools

import fake_tushare_events  # type: ignore[import-not-found]
import pytest
import requests
from fake_tushare import (  # type: ignore[import-not-found]
    MSG_PERMISSION,
    TEST_TOKEN,
    FakeTushare,
    per_minute_message,
    running,
    ymd,
)
from faults import RecordingQuota  # type: ignore[import-not-found]

from stocksync.datasets import dataset
from stocksync.domain import DatasetName, Period
from stocksync.sim import SimMarket
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    TransientSourceError,
)
from stocksync.sources.sim import sim_market
from stocksync.sources.tushare import TushareSource, financials

START, END = dt.date(2022, 1, 1), dt.date(2024, 12, 31)
EVER = dt.date(1990, 1, 1), dt.date(2026, 12, 31)


@pytest.fixture(scope="module")
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


def make_source(fake: FakeTushare, **kwargs) -> TushareSource:
    return TushareSource(TEST_TOKEN, url=fake.url, timeout_s=2.0, **kwargs)


@pytest.fixture
def source(fake, faults) -> TushareSource:
    return make_source(fake)


def _wire(fake: FakeTushare, api: str, fields: str = "", **params) -> list[dict]:
    body = {"api_name": api, "token": TEST_TOKEN, "params": params, "fields": fields}
    reply = requests.post(f"{fake.url}/{api}", json=body, timeout=5).json()
    assert reply["code"] == 0, reply
    return [
        dict(zip(reply["data"]["fields"], item, strict=True)) for item in reply["data"]["items"]
    ]


def _first(market: SimMarket, has) -> str:
    return next(s.code for s in market.securities() if has(s.code))


def _renamed(market: SimMarket, code: str) -> bool:
    rows = market.profiles(code, START, END)
    return any(a.name != b.name for a, b in itertools.pairwise(rows))


def _restated(market: SimMarket, code: str) -> bool:
    periods = [r.report_period for r in market.financials(code, START, END)]
    return len(periods) > len(set(periods))


# -- corporate actions --------------------------------------------------------------------
def test_plans_and_duplicate_implementations_never_become_actions(source, fake, market):
    code = _first(market, lambda c: len(market.corporate_actions(c, START, END)) >= 2)
    wire = _wire(fake, "dividend", "ts_code,div_proc,ex_date,update_flag", ts_code=code)
    truth = market.corporate_actions(code, *EVER)
    stages = [r["div_proc"] for r in wire]
    assert stages.count("预案") == stages.count("股东大会通过") == len(truth)
    done = [r for r in wire if r["div_proc"] == "实施"]
    assert len(done) > len(truth)  # duplicate 实施 rows ...
    assert {r["update_flag"] for r in done} == {"0", "1"}
    assert all(r["ex_date"] is None for r in wire if r["div_proc"] != "实施")
    got = source.corporate_actions(code, *EVER)
    assert got == truth  # ... one action per ex-date, each as the truth has it
    assert [a for a in got if START <= a.ex_date <= END] == source.corporate_actions(
        code, START, END
    )


def test_the_cash_dividend_is_the_pre_tax_one_and_the_announcement_the_implementations(
    source, fake, market
):
    code = _first(market, lambda c: any(a.cash_div for a in market.corporate_actions(c, *EVER)))
    wire = [r for r in _wire(fake, "dividend", ts_code=code) if r["div_proc"] == "实施"]
    got = {ymd(a.ex_date): a for a in source.corporate_actions(code, *EVER)}
    for row in wire:
        action = got[row["ex_date"]]
        assert action.cash_div == row["cash_div_tax"] and (
            row["cash_div_tax"] == 0 or action.cash_div != row["cash_div"]
        )
        assert action.rights_ratio == 0 and action.rights_price is None  # tushare has no 配股
        if row["imp_ann_date"]:
            assert ymd(action.announce_date) == row["imp_ann_date"] != row["ann_date"]
    assert "update_flag" not in _wire(fake, "dividend", ts_code=code)[0]  # not 默认显示


def test_duplicates_count_once_when_tushare_sends_no_update_flag(source, fake, market, monkeypatch):
    fields = [f for f in fake_tushare_events.DIVIDEND_FIELDS if f != "update_flag"]
    monkeypatch.setattr(fake_tushare_events, "DIVIDEND_FIELDS", fields)
    code = _first(market, lambda c: len(market.corporate_actions(c, START, END)) >= 2)
    assert source.corporate_actions(code, START, END) == market.corporate_actions(code, START, END)


def test_dividend_faults_are_classified(fake, faults, market):
    quota = RecordingQuota()
    source = make_source(fake, quota=quota)
    code = _first(market, lambda c: bool(market.corporate_actions(c, START, END)))
    assert source.corporate_actions(code, START, END)
    assert quota.calls == [("tushare.dividend", 200)]  # its own bucket
    fake.force(40203, per_minute_message(80))
    with pytest.raises(RateLimitedError) as info:
        source.corporate_actions(code, START, END)
    assert info.value.bucket == "tushare.dividend" and info.value.limit_per_minute == 80
    assert info.value.wait_s >= 60
    fake.force(40203, MSG_PERMISSION)  # fewer than 2,000 points
    with pytest.raises(FatalSourceError):
        source.corporate_actions(code, START, END)
    faults.set(server_error=True, times=1)
    with pytest.raises(TransientSourceError, match="dividend: HTTP error"):
        source.corporate_actions(code, START, END)


# -- profiles -----------------------------------------------------------------------------
def test_a_doubled_st_change_is_one_change(source, fake, market):
    code = _first(market, lambda c: _renamed(market, c))
    wire = _wire(fake, "namechange", ts_code=code)
    starts = [r["start_date"] for r in wire]
    doubled = [d for d in set(starts) if starts.count(d) == 2]
    assert doubled  # the quirk is on the wire: one copy of each ST change without end_date
    for day in doubled:
        assert sorted(r["end_date"] is None for r in wire if r["start_date"] == day) in (
            [False, True], [True, True],
        )  # fmt: skip
    got = [p for p in source.profiles(code, START, END) if p.name is not None]
    assert len({p.valid_from for p in got}) == len(got)
    truth = market.profiles(code, *EVER)
    runs = [p for i, p in enumerate(truth) if i == 0 or p.name != truth[i - 1].name]
    expected = [p for p in runs if START <= p.valid_from <= END]
    expected = [p for p in runs if p.valid_from < START][-1:] + expected
    assert [(p.valid_from, p.name, p.is_st) for p in got] == [
        (p.valid_from, p.name, p.is_st) for p in expected
    ]
    assert any(p.is_st for p in got) and not all(p.is_st for p in got)


def test_share_capital_comes_in_ten_thousands_and_changes_are_dated(source, fake, market):
    code = _first(market, lambda c: len(market.corporate_actions(c, START, END)) >= 2)
    lo, hi = ymd(START), ymd(END)
    wire = _wire(fake, "daily_basic", ts_code=code, start_date=lo, end_date=hi)
    truth = market.profiles(code, *EVER)
    for row in wire:
        day = dt.date(int(row["trade_date"][:4]), int(row["trade_date"][4:6]),
                      int(row["trade_date"][6:]))  # fmt: skip
        true = [p for p in truth if p.valid_from <= day][-1]
        assert row["total_share"] == true.total_shares / 10000  # 万股 on the wire
        assert row["float_share"] == true.float_shares / 10000
    got = [p for p in source.profiles(code, START, END) if p.total_shares is not None]
    changes = [p for p in truth if START <= p.valid_from <= END]
    assert len(got) == len(changes) + 1  # what stood on START, then each change
    assert got[0].valid_from < START
    for row in got:
        true = [p for p in truth if p.valid_from <= row.valid_from][-1]
        assert (row.total_shares, row.float_shares) == (true.total_shares, true.float_shares)
        assert row.total_shares > 1e7  # shares, not 万股


def test_industry_and_area_are_todays_and_dated_today(fake, faults, market):
    today = dt.date(2026, 6, 30)
    fake.events.today = lambda: today
    source = make_source(fake, today=lambda: today)
    code = market.securities()[0].code
    truth = [p for p in market.profiles(code, *EVER) if p.valid_from <= today][-1]
    got = source.profiles(code, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    current = [p for p in got if p.industry is not None]
    assert [(p.valid_from, p.industry, p.industry_scheme, p.area) for p in current] == [
        (today, truth.industry, "tushare", truth.area)
    ]
    assert dataset(DatasetName.PROFILES).check(got, Period.DAILY)[1] == []
    asked = fake.count("stock_basic")
    assert all(p.industry is None for p in source.profiles(code, START, END))  # not today
    assert fake.count("stock_basic") == asked  # and not asked for
    other = market.securities()[1].code  # the whole market's row came in that one call
    got = source.profiles(other, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert any(p.industry for p in got) and fake.count("stock_basic") == asked


# -- financials ---------------------------------------------------------------------------
def test_a_restated_report_gives_two_versions_with_their_own_dates(source, fake, market):
    code = _first(market, lambda c: _restated(market, c))
    truth = market.financials(code, START, END)
    periods = [r.report_period for r in truth]
    period = next(p for p in periods if periods.count(p) > 1)
    wire = _wire(fake, "fina_indicator", "ts_code,ann_date,end_date,update_flag",
                 ts_code=code, period=ymd(period))  # fmt: skip
    assert sorted(r["update_flag"] for r in wire) == ["0", "1"]
    got = [r for r in source.financials(code, START, END) if r.report_period == period]
    assert got == [r for r in truth if r.report_period == period]
    assert len(got) == 2 and got[0].announce_date < got[1].announce_date
    assert got[0].revenue != got[1].revenue


def test_a_restatement_of_a_period_ended_before_the_range_is_found(source, fake, market):
    def late(code):
        return any(r.report_period < r.announce_date - dt.timedelta(days=200)
                   for r in market.financials(code, START, END))  # fmt: skip

    code = _first(market, late)
    restated = next(r for r in market.financials(code, START, END)
                    if r.report_period < r.announce_date - dt.timedelta(days=200))  # fmt: skip
    start = restated.announce_date - dt.timedelta(days=1)
    end = start + dt.timedelta(days=10)
    got = source.financials(code, start, end)
    assert restated in got and got == market.financials(code, start, end)
    asked = next(p for api, p, _ in reversed(fake.calls) if api == "fina_indicator")
    assert asked["start_date"] <= ymd(restated.report_period)  # periods asked from well before


def test_reports_are_paged_with_limit_and_offset_and_merged_with_income(
    source, fake, faults, market, monkeypatch
):
    code = _first(market, lambda c: len(market.financials(c, *EVER)) > 60)
    source.financials(code, START, END)
    assert [p["limit"] for api, p, _ in fake.calls if api == "fina_indicator"] == [100]
    monkeypatch.setattr(financials, "INDICATOR_PAGE_ROWS", 30)  # 100 on tushare: a long wait
    fake.caps["fina_indicator"] = 30
    fake.calls.clear()
    got = source.financials(code, *EVER)
    assert got == market.financials(code, *EVER)
    pages = [p for api, p, _ in fake.calls if api == "fina_indicator"]
    assert len(pages) >= 3 and all(p["limit"] == 30 for p in pages)
    assert [p["offset"] for p in pages] == [30 * i for i in range(len(pages))]
    assert all(r.revenue and r.eps is not None for r in got)  # both endpoints' figures


def test_report_calls_have_their_own_buckets(fake, faults, market):
    quota = RecordingQuota()
    source = make_source(fake, quota=quota)
    code = market.securities()[0].code
    source.financials(code, START, END)
    source.profiles(code, START, END)
    assert [b for b, _ in quota.calls] == [
        "tushare.fina_indicator", "tushare.income", "tushare.namechange", "tushare.daily_basic",
    ]  # fmt: skip
    fake.force(40203, per_minute_message(60))
    with pytest.raises(RateLimitedError) as info:
        source.financials(code, START, END)
    assert info.value.bucket == "tushare.fina_indicator"


def test_an_unknown_code_has_no_events(source):
    for fetch in (source.corporate_actions, source.profiles, source.financials):
        with pytest.raises(NoDataError):
            fetch("600999.SH", START, END)


def test_a_known_code_without_events_in_range_is_empty(source, market):
    sec = next(s for s in market.securities() if s.list_date > dt.date(2025, 6, 1))
    before = sec.list_date - dt.timedelta(days=400), sec.list_date - dt.timedelta(days=1)
    assert source.financials(sec.code, *before) == []
    assert source.profiles(sec.code, *before) == []


def test_a_share_count_that_is_not_positive_is_refused(source, fake, market, monkeypatch):
    code = _first(market, lambda c: len(market.corporate_actions(c, START, END)) >= 2)
    original = fake.events.fill

    def in_shares(api_name, rows, columns):  # 万股 taken for shares: a zero count
        original(api_name, rows, columns)
        for row in rows:
            row["total_share"] = 0

    monkeypatch.setattr(fake.events, "fill", in_shares)
    with pytest.raises(TransientSourceError, match="malformed row"):
        source.profiles(code, START, END)
