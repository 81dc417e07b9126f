"""The simulated market's minute bars: the daily bar recovered exactly from its 5-minute bars,
sane bars, the bar times of each period, aggregation, determinism, suspended days."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pytest

from stocksync.domain import MINUTE_PERIODS, Bar, MinuteBar, Period
from stocksync.sim import SimMarket
from stocksync.sim.intraday import Intraday, aggregate, bar_times, five_minute, minute_bars
from stocksync.sources.base import FatalSourceError, NoDataError
from stocksync.sources.sim import SimSource

SEED = 20240601
DAY = dt.date(2024, 3, 15)
SAMPLE_DAYS = [
    dt.date(2006, 5, 17),
    dt.date(2008, 10, 8),
    dt.date(2013, 6, 24),
    dt.date(2015, 7, 8),
    dt.date(2019, 2, 25),
    dt.date(2021, 11, 30),
    dt.date(2024, 3, 15),
    dt.date(2026, 9, 1),
]


@pytest.fixture(scope="module")
def market() -> SimMarket:
    return SimMarket(SEED)


@pytest.fixture(scope="module")
def daily(market: SimMarket) -> list[Bar]:
    """Every traded daily bar of the sample days."""
    return [b for day in SAMPLE_DAYS for b in market.bars_for_date(day) if b.trade_status == 1]


@pytest.fixture(scope="module")
def five(daily: list[Bar]) -> Intraday:
    return five_minute(SEED, daily)


def cents(values: Sequence[float]) -> np.ndarray:
    return np.rint(np.array(values, dtype=np.float64) * 100).astype(np.int64)


def day_columns(bars: Sequence[Bar]) -> dict[str, np.ndarray]:
    return {
        "open": cents([b.open for b in bars]),
        "high": cents([b.high for b in bars]),
        "low": cents([b.low for b in bars]),
        "close": cents([b.close for b in bars]),
        "volume": np.array([b.volume for b in bars], dtype=np.int64),
        "amount": cents([b.amount for b in bars]),
    }


def assert_recovers(bars: Sequence[Bar], v: Intraday) -> None:
    day = day_columns(bars)
    assert (v.open[:, 0] == day["open"]).all()
    assert (v.close[:, -1] == day["close"]).all()
    assert (v.high.max(axis=1) == day["high"]).all()
    assert (v.low.min(axis=1) == day["low"]).all()
    assert (v.volume.sum(axis=1) == day["volume"]).all()
    assert (v.amount.sum(axis=1) == day["amount"]).all()


def assert_sane(v: Intraday, *, continuous: bool = True) -> None:
    assert (v.low <= np.minimum(v.open, v.close)).all()
    assert (np.maximum(v.open, v.close) <= v.high).all()
    assert (v.low > 0).all()
    assert (v.volume >= 0).all()
    traded = v.volume > 0
    assert (v.amount[~traded] == 0).all()
    # amount / volume within [low, high], in integer cents: exact
    assert (v.amount[traded] >= v.volume[traded] * v.low[traded]).all()
    assert (v.amount[traded] <= v.volume[traded] * v.high[traded]).all()
    if continuous:  # across the lunch break too
        assert (v.open[:, 1:] == v.close[:, :-1]).all()


def rows_of(bars: Sequence[MinuteBar], per_day: int) -> Intraday:
    """Minute bars (grouped by stock-day, in time order) as integer arrays."""

    def grid(values: Sequence[float], money: bool = True) -> np.ndarray:
        a = cents(values) if money else np.array(values, dtype=np.int64)
        return a.reshape(-1, per_day)

    return Intraday(
        open=grid([b.open for b in bars]),
        high=grid([b.high for b in bars]),
        low=grid([b.low for b in bars]),
        close=grid([b.close for b in bars]),
        volume=grid([b.volume for b in bars], money=False),
        amount=grid([b.amount for b in bars]),
    )


# -- the daily bar, exactly ---------------------------------------------------------------------


def test_five_minute_bars_recover_the_daily_bar_exactly(daily: list[Bar], five: Intraday) -> None:
    assert len(daily) > 20_000
    assert five.open.shape == (len(daily), 48)
    assert_recovers(daily, five)
    assert_sane(five)


def test_limit_days_and_st_stocks_are_among_them(daily: list[Bar], five: Intraday) -> None:
    day = day_columns(daily)
    cases = {
        "open at high": day["open"] == day["high"],
        "close at high": day["close"] == day["high"],
        "close at low": day["close"] == day["low"],
        "open at low": day["open"] == day["low"],
        "st": np.array([b.is_st for b in daily]),
    }
    for name, rows in cases.items():
        assert rows.sum() >= 5, name
        sub = Intraday(*(a[rows] for a in dataclasses.astuple(five)))
        assert_recovers([b for b, keep in zip(daily, rows, strict=True) if keep], sub)
        assert_sane(sub)


def test_the_minute_bar_rows_recover_the_daily_bar(market: SimMarket) -> None:
    bars = [b for b in market.bars_for_date(DAY) if b.trade_status == 1]
    rows = market.market_minute_bars(Period.MIN5, DAY)
    assert len(rows) == 48 * len(bars)
    assert [r.code for r in rows[::48]] == [b.code for b in bars]
    v = rows_of(rows, 48)
    assert_recovers(bars, v)
    assert_sane(v)
    for r in rows[:480]:  # prices in whole cents, as the daily bars
        for price in (r.open, r.high, r.low, r.close, r.amount):
            assert price == round(price, 2)


def edge_bar(**change: object) -> Bar:
    base = Bar(
        code="600000.SH",
        period=Period.DAILY,
        trade_date=DAY,
        open=10.0,
        high=11.0,
        low=9.5,
        close=10.5,
        pre_close=10.0,
        volume=1_234_500,
        amount=round(1_234_500 * 10.2, 2),
    )
    return dataclasses.replace(base, **change)  # type: ignore[arg-type]


EDGE_CASES = {
    "one price all day (sealed at the limit)": edge_bar(
        open=11.0, high=11.0, low=11.0, close=11.0, amount=1_234_500 * 11.0
    ),
    "limit up from the open": edge_bar(
        open=11.0, high=11.0, low=10.4, close=11.0, amount=round(1_234_500 * 10.95, 2)
    ),
    "limit down close": edge_bar(
        open=9.9, high=10.1, low=9.0, close=9.0, amount=round(1_234_500 * 9.2, 2)
    ),
    "vwap at the low": edge_bar(amount=1_234_500 * 9.5),
    "vwap at the high": edge_bar(amount=1_234_500 * 11.0),
    "vwap a cent above the low": edge_bar(amount=1_234_500 * 9.51),
    "one lot": edge_bar(volume=100, amount=1017.0),
    "odd shares": edge_bar(volume=12_345, amount=round(12_345 * 10.33, 2)),
    "penny range": edge_bar(
        open=3.0, high=3.01, low=3.0, close=3.01, volume=987_600, amount=round(987_600 * 3.004, 2)
    ),
    "no volume": edge_bar(open=10.0, high=10.0, low=10.0, close=10.0, volume=0, amount=0.0),
    "huge": edge_bar(volume=4_000_000_000, amount=4_000_000_000 * 10.87),
}


@pytest.mark.parametrize("name", list(EDGE_CASES))
def test_edge_days_are_exact_and_within_bounds(name: str) -> None:
    bars = [dataclasses.replace(EDGE_CASES[name], code=code) for code in ("600000.SH", "000001.SZ")]
    v = five_minute(SEED, bars)
    assert_recovers(bars, v)
    assert_sane(v)


def test_a_bar_the_market_never_makes_keeps_its_sums() -> None:
    """amount/volume outside [low, high]: the documented relaxation keeps the totals exact."""
    bars = [edge_bar(amount=1_234_500 * 12.0), edge_bar(volume=0, amount=500.0)]
    v = five_minute(SEED, bars)
    assert_recovers(bars, v)


# -- periods and times --------------------------------------------------------------------------


def test_bar_times_of_each_period() -> None:
    def hm(period: Period) -> list[str]:
        return [t.strftime("%H:%M") for t in bar_times(period)]

    five_min = hm(Period.MIN5)
    assert len(five_min) == 48
    assert five_min[:3] == ["09:35", "09:40", "09:45"]
    assert five_min[22:26] == ["11:25", "11:30", "13:05", "13:10"]
    assert five_min[-1] == "15:00"
    fifteen = hm(Period.MIN15)
    assert len(fifteen) == 16
    assert fifteen[:2] == ["09:45", "10:00"] and fifteen[7:9] == ["11:30", "13:15"]
    assert fifteen[-1] == "15:00"
    assert hm(Period.MIN30) == [
        "10:00", "10:30", "11:00", "11:30", "13:30", "14:00", "14:30", "15:00",
    ]  # fmt: skip
    assert hm(Period.MIN60) == ["10:30", "11:30", "14:00", "15:00"]
    with pytest.raises(ValueError):
        bar_times(Period.DAILY)


@pytest.mark.parametrize("period", sorted(MINUTE_PERIODS, key=lambda p: p.minutes or 0))
def test_each_period_carries_its_times_and_the_daily_bar(market: SimMarket, period: Period) -> None:
    code = market.bars_for_date(DAY)[7].code
    start, end = DAY - dt.timedelta(days=30), DAY
    days = [b for b in market.bars_for_code(code, start, end) if b.trade_status == 1]
    rows = market.minute_bars(code, period, start, end)
    per_day = 240 // (period.minutes or 1)
    assert len(rows) == per_day * len(days)
    assert all(r.period is period and r.code == code for r in rows)
    times = list(bar_times(period))
    for i, day in enumerate(days):
        chunk = rows[i * per_day : (i + 1) * per_day]
        assert [r.bar_time for r in chunk] == [
            dt.datetime.combine(day.trade_date, t) for t in times
        ]
        assert all(r.trade_date == day.trade_date for r in chunk)
    v = rows_of(rows, per_day)
    assert_recovers(days, v)
    assert_sane(v)


def test_longer_bars_aggregate_the_five_minute_bars(market: SimMarket) -> None:
    five_rows = market.market_minute_bars(Period.MIN5, DAY)
    for period in (Period.MIN15, Period.MIN30, Period.MIN60):
        step = (period.minutes or 0) // 5
        rows = market.market_minute_bars(period, DAY)
        assert len(rows) * step == len(five_rows)
        for i, r in enumerate(rows):
            part = five_rows[i * step : (i + 1) * step]
            assert r.code == part[0].code and r.bar_time == part[-1].bar_time
            assert r.open == part[0].open and r.close == part[-1].close
            assert r.high == max(p.high for p in part) and r.low == min(p.low for p in part)
            assert r.volume == sum(p.volume for p in part)
            assert round(r.amount * 100) == sum(round(p.amount * 100) for p in part)


def test_aggregation_of_arrays(five: Intraday) -> None:
    for period, per_day in ((Period.MIN15, 16), (Period.MIN30, 8), (Period.MIN60, 4)):
        v = aggregate(five, period)
        assert v.open.shape == (five.open.shape[0], per_day)
        step = 48 // per_day
        assert (v.open == five.open[:, ::step]).all()
        assert (v.close == five.close[:, step - 1 :: step]).all()
        assert (v.volume.sum(axis=1) == five.volume.sum(axis=1)).all()
        assert (v.amount.sum(axis=1) == five.amount.sum(axis=1)).all()
        assert_sane(v)


def test_volume_is_u_shaped(five: Intraday) -> None:
    share = five.volume.sum(axis=0) / five.volume.sum()
    assert share[0] > 2 * share[12:22].mean() and share[-1] > 1.5 * share[12:22].mean()
    assert np.median((five.volume / five.volume.sum(axis=1, keepdims=True)).max(axis=1)) < 0.15


# -- determinism and consistency ----------------------------------------------------------------


def test_deterministic_and_per_stock_equals_whole_market(market: SimMarket) -> None:
    rows = market.market_minute_bars(Period.MIN30, DAY)
    assert rows == market.market_minute_bars(Period.MIN30, DAY)
    assert rows == SimMarket(SEED).market_minute_bars(Period.MIN30, DAY)
    assert rows != SimMarket(SEED + 1).market_minute_bars(Period.MIN30, DAY)
    by_code: dict[str, list[MinuteBar]] = defaultdict(list)
    for r in rows:
        by_code[r.code].append(r)
    codes = sorted(by_code)
    for code in codes[:: max(1, len(codes) // 60)]:
        ranged = market.minute_bars(code, Period.MIN30, DAY - dt.timedelta(days=10), DAY)
        assert [r for r in ranged if r.trade_date == DAY] == by_code[code]


def test_a_stock_alone_equals_it_among_others(daily: list[Bar], five: Intraday) -> None:
    picks = list(range(0, len(daily), 997))
    alone = five_minute(SEED, [daily[i] for i in picks])
    for got, whole in zip(dataclasses.astuple(alone), dataclasses.astuple(five), strict=True):
        assert (got == whole[picks]).all()


def test_suspended_days_have_no_minute_bars(market: SimMarket) -> None:
    halted = [(day, b.code) for day in SAMPLE_DAYS for b in market.bars_for_date(day)
              if b.trade_status == 0]  # fmt: skip
    assert len(halted) >= 5
    traded_codes: dict[dt.date, set[str]] = {}
    for day, code in halted[:20]:
        assert market.minute_bars(code, Period.MIN5, day, day) == []
        if day not in traded_codes:
            traded_codes[day] = {r.code for r in market.market_minute_bars(Period.MIN60, day)}
        assert code not in traded_codes[day]
    suspended = dataclasses.replace(market.bars_for_date(DAY)[0], trade_status=0)
    assert minute_bars(SEED, [suspended], Period.MIN5) == []


def test_non_trading_days_and_bad_requests(market: SimMarket) -> None:
    assert market.market_minute_bars(Period.MIN5, dt.date(2024, 3, 16)) == []  # a Saturday
    code = market.bars_for_date(DAY)[0].code
    with pytest.raises(ValueError):
        market.minute_bars(code, Period.DAILY, DAY, DAY)
    with pytest.raises(KeyError):
        market.minute_bars("999999.SH", Period.MIN5, DAY, DAY)


def test_the_source_serves_the_market_s_minute_bars(market: SimMarket) -> None:
    source = SimSource(market)
    code = market.bars_for_date(DAY)[3].code
    start = DAY - dt.timedelta(days=7)
    assert source.minute_bars(code, Period.MIN15, start, DAY) == market.minute_bars(
        code, Period.MIN15, start, DAY
    )
    assert source.market_minute_bars(Period.MIN60, DAY) == market.market_minute_bars(
        Period.MIN60, DAY
    )
    with pytest.raises(NoDataError):
        source.minute_bars("999999.SH", Period.MIN5, DAY, DAY)
    with pytest.raises(FatalSourceError):
        source.market_minute_bars(Period.WEEKLY, DAY)
