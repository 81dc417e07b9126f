"""tushare's minute bars (``stk_mins``): its units, order, per-call cap, permission and rate-limit
bucket, through the unmodified client against the fake server (fake_tushare_minutes.py)."""

from __future__ import annotations

import datetime as dt

import fake_tushare_minutes  # type: ignore[import-not-found]
import pytest
import requests
from fake_tushare import (  # type: ignore[import-not-found]
    MSG_PERMISSION,
    TEST_TOKEN,
    FakeTushare,
    per_minute_message,
    running,
)
from faults import RecordingQuota  # type: ignore[import-not-found]

from stocksync.datasets import dataset
from stocksync.datasets.minute_bars import bar_times
from stocksync.domain import MINUTE_PERIODS, DatasetName, Period
from stocksync.sim import SimMarket
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    TransientSourceError,
)
from stocksync.sources.sim import sim_market
from stocksync.sources.tushare import TushareSource

CODE = "605685.SH"
SUSPENDED_CODE = "002766.SZ"  # suspended on 15 days of 2024-12-02 .. 2025-01-31
WEEK = dt.date(2026, 11, 23), dt.date(2026, 11, 27)
FIELDS = "ts_code,trade_time,open,close,high,low,vol,amount"
MINUTES = dataset(DatasetName.MINUTE_BARS)


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
    return TushareSource(TEST_TOKEN, url=fake.url, timeout_s=5.0, **kwargs)


@pytest.fixture
def source(fake, faults) -> TushareSource:
    return make_source(fake)


def _wire(fake: FakeTushare, **params) -> list[dict]:
    body = {"api_name": "stk_mins", "token": TEST_TOKEN, "params": params, "fields": ""}
    reply = requests.post(f"{fake.url}/stk_mins", json=body, timeout=10).json()
    assert reply["code"] == 0, reply
    return [
        dict(zip(reply["data"]["fields"], item, strict=True)) for item in reply["data"]["items"]
    ]


def _asked(fake: FakeTushare) -> list[tuple[str, dict, str]]:
    """What each request asked for, without the client's own ``ts_type_name``."""
    return [
        (api, {k: v for k, v in params.items() if k != "ts_type_name"}, fields)
        for api, params, fields in fake.calls
    ]


# -- the request and the reply's units -----------------------------------------------------
@pytest.mark.parametrize("period", sorted(MINUTE_PERIODS))
def test_stk_mins_is_asked_in_tushares_own_terms(source, fake, market, period):
    got = source.minute_bars(CODE, period, *WEEK)
    assert got == market.minute_bars(CODE, period, *WEEK)
    assert len(got) == 5 * len(bar_times(period))
    params = {
        "ts_code": CODE,
        "freq": period.value,
        "start_date": "2026-11-23 09:00:00",  # dates always sent: none means the last 10 days
        "end_date": "2026-11-27 15:00:00",
        "limit": 8000,
        "offset": 0,
    }
    assert _asked(fake) == [("stk_mins", params, FIELDS)]  # one call per stock-week


def test_volume_and_amount_come_in_shares_and_yuan(source, fake, market):
    wire = _wire(fake, ts_code=CODE, freq="5min", start_date="2026-11-23 09:00:00",
                 end_date="2026-11-27 15:00:00")  # fmt: skip
    assert list(wire[0]) == FIELDS.split(",")
    assert wire[0]["trade_time"] == "2026-11-27 15:00:00"  # the last bar's end, newest first
    times = [r["trade_time"] for r in wire]
    assert times == sorted(times, reverse=True) and len(times) == 5 * 48
    truth = {b.bar_time: b for b in market.minute_bars(CODE, Period.MIN5, *WEEK)}
    bars = source.minute_bars(CODE, Period.MIN5, *WEEK)
    assert [b.bar_time for b in bars] == sorted(truth)  # oldest first once read
    by_time = {b.bar_time.strftime("%Y-%m-%d %H:%M:%S"): b for b in bars}
    for row in wire:
        bar = by_time[row["trade_time"]]
        true = truth[bar.bar_time]
        assert row["vol"] == true.volume and row["amount"] == true.amount  # 股 and 元
        assert isinstance(bar.volume, int) and bar.volume == true.volume
        assert bar.amount == true.amount
    assert MINUTES.check(bars, Period.MIN5) == (bars, [])
    daily = {b.trade_date: b for b in market.bars_for_code(CODE, *WEEK)}
    for day, true_day in daily.items():  # a day's bars add up to its daily bar
        assert sum(b.volume for b in bars if b.trade_date == day) == true_day.volume


def test_a_reply_in_lots_and_thousands_is_rejected_by_the_check(source, monkeypatch):
    original = fake_tushare_minutes.wire_minute_bar

    def in_lots(bar):
        row = original(bar)
        return {**row, "vol": row["vol"] / 100, "amount": row["amount"] / 1000}

    monkeypatch.setattr(fake_tushare_minutes, "wire_minute_bar", in_lots)
    bars = source.minute_bars(CODE, Period.MIN15, *WEEK)
    assert len(bars) == 5 * 16  # read as shares and yuan, unscaled ...
    good, rejected = MINUTES.check(bars, Period.MIN15)
    assert good == [] and len(rejected) == len(bars)  # ... so every day fails the VWAP check
    assert "volume in lots or amount in thousands?" in rejected[0].reason


def test_rows_in_any_order_are_read_oldest_first(source, monkeypatch, market):
    shuffled = dict(enumerate([4, 0, 3, 1, 2]))  # the days of WEEK in a scrambled order
    original = fake_tushare_minutes.MinuteWire._minutes

    def scrambled(self, params):
        rows = original(self, params)
        day = {r: i for i, r in enumerate(sorted({r["trade_time"][:10] for r in rows}))}
        return sorted(rows, key=lambda r: (shuffled[day[r["trade_time"][:10]]], r["trade_time"]))

    monkeypatch.setattr(fake_tushare_minutes.MinuteWire, "_minutes", scrambled)
    assert source.minute_bars(CODE, Period.MIN30, *WEEK) == market.minute_bars(
        CODE, Period.MIN30, *WEEK
    )


def test_a_malformed_trade_time_is_transient(source, monkeypatch):
    original = fake_tushare_minutes.wire_minute_bar
    monkeypatch.setattr(
        fake_tushare_minutes,
        "wire_minute_bar",
        lambda bar: {**original(bar), "trade_time": bar.bar_time.strftime("%Y%m%d%H%M")},
    )
    with pytest.raises(TransientSourceError, match="stk_mins: malformed row"):
        source.minute_bars(CODE, Period.MIN60, *WEEK)


# -- the 8,000-row cap ------------------------------------------------------------------------
def test_a_year_of_five_minute_bars_is_paged_past_the_cap(source, fake, market):
    start, end = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
    truth = market.minute_bars(CODE, Period.MIN5, start, end)
    assert 8000 < len(truth) < 16000  # ~12k rows: more than one reply holds
    one_reply = _wire(fake, ts_code=CODE, freq="5min", start_date="2025-01-01 09:00:00",
                      end_date="2025-12-31 15:00:00")  # fmt: skip
    assert len(one_reply) == 8000  # silently truncated: the newest 8,000
    assert one_reply[0]["trade_time"] == "2025-12-31 15:00:00"
    fake.calls.clear()
    got = source.minute_bars(CODE, Period.MIN5, start, end)
    assert got == truth
    assert [(p["limit"], p["offset"]) for _, p, _ in _asked(fake)] == [(8000, 0), (8000, 8000)]


def test_a_ninety_day_range_fits_one_call(source, fake, market):
    start, end = dt.date(2025, 3, 1), dt.date(2025, 5, 29)  # 90 calendar days
    got = source.minute_bars(CODE, Period.MIN5, start, end)
    assert got == market.minute_bars(CODE, Period.MIN5, start, end)
    assert len(got) < 8000 and fake.count("stk_mins") == 1


def test_pages_follow_a_smaller_cap_and_a_full_last_page(fake, faults, market):
    fake.caps["stk_mins"] = 240  # five days of 5-minute bars a reply
    source = make_source(fake, minute_page_rows=240)
    got = source.minute_bars(CODE, Period.MIN5, dt.date(2026, 11, 2), dt.date(2026, 11, 27))
    truth = market.minute_bars(CODE, Period.MIN5, dt.date(2026, 11, 2), dt.date(2026, 11, 27))
    assert got == truth and len(truth) % 240 == 0  # the last page is full: one more call
    offsets = [p["offset"] for _, p, _ in _asked(fake)]
    assert offsets == list(range(0, len(truth) + 1, 240))


def test_a_server_ignoring_offset_is_transient_not_an_endless_loop(fake, faults, monkeypatch):
    original = fake_tushare_minutes.MinuteWire._minutes

    def ignoring_offset(self, params):  # every page starts with the newest rows again
        rows = original(self, params)
        return [rows[0]] * int(params.get("offset") or 0) + rows

    monkeypatch.setattr(fake_tushare_minutes.MinuteWire, "_minutes", ignoring_offset)
    fake.caps["stk_mins"] = 240
    source = make_source(fake, minute_page_rows=240)
    with pytest.raises(TransientSourceError, match="offset ignored"):
        source.minute_bars(CODE, Period.MIN5, dt.date(2026, 11, 2), dt.date(2026, 11, 27))
    assert fake.count("stk_mins") == 2


# -- what is absent ---------------------------------------------------------------------------
def test_suspended_days_are_absent(source, market):
    start, end = dt.date(2024, 12, 2), dt.date(2025, 1, 31)
    daily = market.bars_for_code(SUSPENDED_CODE, start, end)
    suspended = {b.trade_date for b in daily if b.trade_status == 0}
    assert suspended
    got = source.minute_bars(SUSPENDED_CODE, Period.MIN60, start, end)
    assert got == market.minute_bars(SUSPENDED_CODE, Period.MIN60, start, end)
    assert {b.trade_date for b in got} == {b.trade_date for b in daily} - suspended
    assert MINUTES.check(got, Period.MIN60)[1] == []  # whole days only
    assert TushareSource.serves[DatasetName.MINUTE_BARS].omits_suspended


def test_unknown_codes_and_empty_ranges(source, fake, market):
    listed = next(s for s in market.securities() if s.list_date > dt.date(2020, 1, 1))
    before = listed.list_date - dt.timedelta(days=30), listed.list_date - dt.timedelta(days=1)
    assert source.minute_bars(listed.code, Period.MIN5, *before) == []  # known: empty
    with pytest.raises(NoDataError, match=r"689999\.SH"):
        source.minute_bars("689999.SH", Period.MIN5, *WEEK)


def test_no_dates_means_the_last_ten_calendar_days(fake, faults):
    fake.minutes.today = lambda: dt.date(2026, 11, 27)
    rows = _wire(fake, ts_code=CODE, freq="60min")
    days = sorted({r["trade_time"][:10] for r in rows})
    assert days[0] >= "2026-11-18" and days[-1] == "2026-11-27" and len(days) >= 6


def test_a_period_that_is_not_intraday_is_refused_without_a_call(source, fake):
    with pytest.raises(FatalSourceError, match="not an intraday period"):
        source.minute_bars(CODE, Period.DAILY, *WEEK)
    assert fake.count() == 0


# -- permission and rate limits ---------------------------------------------------------------
def test_a_token_without_the_minute_permission_is_fatal(source, fake, market):
    fake.minutes.permission = False  # points buy daily data, not minutes
    with pytest.raises(FatalSourceError, match="没有访问该接口的权限"):
        source.minute_bars(CODE, Period.MIN5, *WEEK)
    assert source.stock_bars(CODE, Period.DAILY, *WEEK)  # the rest of the token still works
    body = {"api_name": "stk_mins", "token": TEST_TOKEN, "params": {"ts_code": CODE}}
    reply = requests.post(f"{fake.url}/stk_mins", json=body, timeout=5).json()
    assert reply == {"code": 40203, "msg": MSG_PERMISSION, "data": None}


def test_stk_mins_has_its_own_rate_limit_bucket(fake, faults):
    quota = RecordingQuota()
    source = make_source(fake, quota=quota)
    assert source.minute_bars(CODE, Period.MIN5, *WEEK)
    assert source.stock_bars(CODE, Period.DAILY, *WEEK)
    assert quota.calls == [("tushare.stk_mins", 200), ("tushare.daily", 200)]
    fake.force(40203, per_minute_message(30))
    with pytest.raises(RateLimitedError) as info:
        source.minute_bars(CODE, Period.MIN5, *WEEK)
    assert info.value.bucket == "tushare.stk_mins" and info.value.limit_per_minute == 30
    assert quota.pauses == [("tushare.stk_mins", 60.0)]  # only the minute endpoint rests
    quota.calls.clear()
    source.minute_bars(CODE, Period.MIN15, *WEEK)
    source.stock_bars(CODE, Period.DAILY, *WEEK)
    assert quota.calls == [("tushare.stk_mins", 30), ("tushare.daily", 200)]


def test_a_full_minute_quota_refuses_before_calling(fake, faults):
    source = make_source(fake, quota=RecordingQuota(waits=[12.0]))
    with pytest.raises(RateLimitedError) as info:
        source.minute_bars(CODE, Period.MIN5, *WEEK)
    assert info.value.wait_s == 12.0 and fake.count() == 0
