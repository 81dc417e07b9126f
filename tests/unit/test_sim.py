"""The simulated market: determinism, the bars_for_code/bars_for_date oracle, realism rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import random
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
import pytest

from stocksync.codes import board_of, exchange_of
from stocksync.domain import Bar, Board, Period, Security
from stocksync.sim import SimMarket
from stocksync.sim.params import MARGIN, MIN_PRICE, NOISE_SPAN, ST_LIMIT, TABLE_BITS
from stocksync.sim.prices import _irwin_hall, evaluate
from stocksync.sim.universe import build_universe

SEED = 20240601
LIMIT = {Board.MAIN: 0.10, Board.STAR: 0.20, Board.CHINEXT: 0.20, Board.BSE: 0.30}
EPS = 1e-9
LAST = dt.date(2026, 12, 31)
WEEKS_5 = dt.timedelta(weeks=5)


@pytest.fixture(scope="module")
def market() -> SimMarket:
    return SimMarket(SEED)


@pytest.fixture(scope="module")
def securities(market: SimMarket) -> dict[str, Security]:
    return {sec.code: sec for sec in market.securities()}


@pytest.fixture(scope="module")
def histories(market: SimMarket) -> dict[str, list[Bar]]:
    """The full daily history of 120 random stocks."""
    codes = random.Random(1).sample([s.code for s in market.securities()], 120)
    return {
        code: market.bars_for_code(code, dt.date(2005, 1, 1), dt.date(2026, 12, 31))
        for code in codes
    }


def _digest(market: SimMarket) -> str:
    h = hashlib.blake2b(digest_size=16)
    for day in (dt.date(2010, 3, 1), dt.date(2025, 6, 30)):
        h.update(repr(market.bars_for_date(day)).encode())
    h.update(repr(market.bars_for_date(dt.date(2025, 6, 30), Period.MONTHLY)).encode())
    code = market.securities()[123].code
    h.update(repr(market.bars_for_code(code, dt.date(2015, 1, 1), dt.date(2016, 1, 1))).encode())
    h.update(repr(market.securities()).encode())
    return h.hexdigest()


def _cents(x: float) -> bool:
    return x == round(x, 2)


def _limit_prices(pre: float, limit: float) -> tuple[float, float]:
    return round(pre * (1 - limit) + EPS, 2), round(pre * (1 + limit) + EPS, 2)


def check_daily_rules(sec: Security, bars: Sequence[Bar], factors: dict[dt.date, float]) -> None:
    """Every realism rule on one stock's consecutive daily bars."""
    days = [b.trade_date for b in bars]
    assert days == sorted(set(days))
    prev: Bar | None = None
    for bar in bars:
        assert bar.code == sec.code and bar.period is Period.DAILY
        assert sec.is_listed_on(bar.trade_date)
        prices = (bar.open, bar.high, bar.low, bar.close, bar.pre_close)
        assert all(p is not None and p > 0 and _cents(p) for p in prices), bar
        assert bar.pre_close is not None
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high, bar
        assert bar.pct_chg == round((bar.close / bar.pre_close - 1) * 100, 4), bar
        if bar.trade_status == 1:
            assert bar.volume > 0 and bar.volume % 100 == 0, bar
            assert _cents(bar.amount)
            assert bar.low - EPS <= bar.amount / bar.volume <= bar.high + EPS, bar
            assert bar.turnover_pct is not None and 0.1 <= bar.turnover_pct <= 20, bar
            assert bar.turnover_pct == round(bar.turnover_pct, 4)
            limit = 0.05 if bar.is_st else LIMIT[sec.board]
            down, up = _limit_prices(bar.pre_close, limit)
            for price in (bar.open, bar.high, bar.low, bar.close):
                assert down - EPS <= price <= up + EPS, (bar, limit)
        else:
            assert bar.trade_status == 0
            assert bar.volume == 0 and bar.amount == 0
            assert bar.open == bar.high == bar.low == bar.close == bar.pre_close, bar
        if prev is not None:
            ratio = factors[bar.trade_date] / factors[prev.trade_date]
            if ratio == 1.0:
                assert bar.pre_close == prev.close, (prev, bar)
            else:  # ex-date: the ex-rights reference price, never on a suspended day
                assert bar.trade_status == 1
                assert abs(bar.pre_close - prev.close / ratio) <= 0.005 + EPS, (prev, bar)
        prev = bar


# --- universe -------------------------------------------------------------------------------


def test_universe_covers_every_board(market: SimMarket) -> None:
    secs = market.securities()
    codes = [s.code for s in secs]
    assert len(secs) >= 5000 and len(set(codes)) == len(codes) and codes == sorted(codes)
    prefixes = Counter(c[:3] for c in codes)
    for family in ("600", "601", "603", "605", "688", "000", "001", "002", "003", "300", "301"):
        assert prefixes[family] > 0, family
    assert prefixes["920"] > 0
    assert {s.board for s in secs} == set(Board)
    for sec in secs:
        digits = sec.code[:6]
        assert sec.code == f"{digits}.{exchange_of(digits).value}"
        assert sec.exchange is exchange_of(digits) and sec.board is board_of(digits)
        assert sec.name == "模拟" + digits
        assert sec.delist_date is None or sec.delist_date > sec.list_date


def test_listing_and_delisting_dates_are_spread(market: SimMarket) -> None:
    secs = market.securities()
    years = Counter(s.list_date.year for s in secs)
    assert min(years) < 1995
    assert sum(n for y, n in years.items() if y < 2015) > len(secs) / 2
    for year in range(2020, 2027):
        assert years[year] >= 50, year
    sessions = set(market.trading_days(dt.date(2005, 1, 1), dt.date(2026, 12, 31)))
    for sec in secs:
        if sec.list_date >= dt.date(2005, 1, 1):
            assert sec.list_date in sessions
        assert sec.list_date.weekday() < 5
    delisted = [s for s in secs if s.delist_date is not None]
    assert 0.02 <= len(delisted) / len(secs) <= 0.04
    assert all(s.delist_date in sessions for s in delisted)
    assert sum(s.delist_date.year >= 2024 for s in delisted) >= 10


def test_a_small_market_still_has_every_board() -> None:
    small = SimMarket(3, n_stocks=40)
    assert len(small.securities()) == 40
    assert {s.board for s in small.securities()} == set(Board)


# --- determinism and the oracle ---------------------------------------------------------------


def test_same_seed_same_market_other_seed_other_market(market: SimMarket) -> None:
    again = SimMarket(SEED)
    assert _digest(again) == _digest(market)
    other = SimMarket(SEED + 1)
    assert other.bars_for_date(dt.date(2025, 6, 30)) != market.bars_for_date(dt.date(2025, 6, 30))


def test_another_process_builds_the_same_market(market: SimMarket) -> None:
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from stocksync.sim import SimMarket\n"
        "from test_sim import _digest\n"
        f"print(_digest(SimMarket({SEED})))\n"
    )
    here = __file__.rsplit("/", 1)[0]
    out = subprocess.run(
        [sys.executable, "-c", script, here], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == _digest(market)


@pytest.mark.parametrize("period", list(Period))
def test_bars_for_code_equals_bars_for_date(market: SimMarket, period: Period) -> None:
    rng = random.Random(str(period))
    codes = [s.code for s in market.securities()]
    ends = market.period_end_dates(period, dt.date(2005, 1, 1), dt.date(2026, 12, 31))
    compared = 0
    for day in [*rng.sample(ends, 5), ends[-1]]:
        whole = {bar.code: bar for bar in market.bars_for_date(day, period)}
        assert list(whole) == sorted(whole)
        for code in rng.sample(codes, 40) + rng.sample(sorted(whole), 10):
            span = market.bars_for_code(
                code, day - dt.timedelta(days=70), min(day + dt.timedelta(days=70), LAST), period
            )
            mine = [bar for bar in span if bar.trade_date == day]
            assert mine == ([whole[code]] if code in whole else []), (code, day)
            compared += code in whole
    assert compared > 100


def test_bars_for_date_is_the_listed_market(
    market: SimMarket, securities: dict[str, Security]
) -> None:
    for day in (dt.date(2005, 1, 4), dt.date(2013, 7, 1), dt.date(2026, 12, 31)):
        codes = {bar.code for bar in market.bars_for_date(day)}
        assert codes == {c for c, s in securities.items() if s.is_listed_on(day)}
    assert market.bars_for_date(dt.date(2024, 10, 1)) == []  # National Day holiday


# --- realism ----------------------------------------------------------------------------------


def test_realism_rules_on_a_wide_sample(market: SimMarket, securities: dict[str, Security]) -> None:
    rng = random.Random(7)
    windows = [
        (dt.date(2008, 9, 1), dt.date(2008, 11, 30)),
        (dt.date(2025, 3, 1), dt.date(2025, 5, 31)),
    ]
    checked = 0
    for start, end in windows:
        listed = [c for c, s in securities.items() if s.is_listed_on(start)]
        for code in rng.sample(listed, 150):
            bars = market.bars_for_code(code, start, end)
            factors = {f.trade_date: f.factor for f in market.adj_factors(code, start, end)}
            assert [b.trade_date for b in bars] == list(factors)
            check_daily_rules(securities[code], bars, factors)
            checked += len(bars)
    assert checked >= 300 * 55


def test_realism_rules_over_whole_histories(
    market: SimMarket, securities: dict[str, Security], histories: dict[str, list[Bar]]
) -> None:
    for code, bars in histories.items():
        sec = securities[code]
        factors = {
            f.trade_date: f.factor
            for f in market.adj_factors(code, dt.date(2005, 1, 1), dt.date(2026, 12, 31))
        }
        assert [b.trade_date for b in bars] == list(factors)
        check_daily_rules(sec, bars, factors)


def test_bars_exist_exactly_while_listed(
    market: SimMarket, securities: dict[str, Security]
) -> None:
    delisted = [s for s in securities.values() if s.delist_date is not None]
    fresh = [s for s in securities.values() if s.list_date >= dt.date(2005, 1, 1)]
    sample = random.Random(3).sample(delisted, 15) + random.Random(4).sample(fresh, 15)
    for sec in sample:
        bars = market.bars_for_code(sec.code, dt.date(2005, 1, 1), dt.date(2026, 12, 31))
        sessions = [
            d
            for d in market.trading_days(dt.date(2005, 1, 1), dt.date(2026, 12, 31))
            if sec.is_listed_on(d)
        ]
        assert [b.trade_date for b in bars] == sessions
        if sec.list_date >= dt.date(2005, 1, 1):
            assert bars[0].trade_date == sec.list_date and bars[0].trade_status == 1
            assert market.adj_factors(sec.code, sec.list_date, sec.list_date)[0].factor == 1.0
        if sec.delist_date is not None:
            assert market.bars_for_code(sec.code, sec.delist_date, dt.date(2026, 12, 31)) == []
            assert bars[-1].is_st  # delisting follows a spell of ST


def test_suspensions_and_st_windows_exist(histories: dict[str, list[Bar]]) -> None:
    halted = [code for code, bars in histories.items() if any(b.trade_status == 0 for b in bars)]
    st = [code for code, bars in histories.items() if any(b.is_st for b in bars)]
    assert len(halted) >= 5 and len(st) >= 5
    longest = 0
    for code in halted:
        bars = histories[code]
        run = 0
        for i, bar in enumerate(bars):
            run = run + 1 if bar.trade_status == 0 else 0
            longest = max(longest, run)
            if bar.trade_status == 0 and i + 1 < len(bars):
                assert bars[i + 1].pre_close == bar.close  # resumption refers to the halt price
    assert longest >= 5  # windows run from a few days to weeks
    assert all(not all(b.is_st for b in histories[code]) for code in st)


def test_factors_keep_hfq_prices_continuous(
    market: SimMarket, securities: dict[str, Security], histories: dict[str, list[Bar]]
) -> None:
    ratios = []
    for code, bars in histories.items():
        found = market.adj_factors(code, dt.date(2005, 1, 1), dt.date(2026, 12, 31))
        values = [f.factor for f in found]
        assert values == sorted(values) and values[0] >= 1.0
        assert all(abs(v * 1e6 - round(v * 1e6)) < 1e-6 for v in values)
        for prev, bar, f0, f1 in zip(bars, bars[1:], values, values[1:], strict=False):
            if f1 == f0:
                continue
            ratios.append(f1 / f0)
            assert bar.pre_close < prev.close  # raw prices drop by the ratio
            limit = 0.05 if bar.is_st else LIMIT[securities[code].board]
            hfq_move = (bar.close * f1) / (prev.close * f0) - 1
            assert abs(hfq_move) <= limit + 0.005, (prev, bar)
    assert len(ratios) >= 100
    assert any(r >= 1.15 for r in ratios)  # bonus issues, not only cash dividends
    assert all(r > 1.0 for r in ratios)


def test_no_daily_move_can_reach_the_limit() -> None:
    """The construction invariant behind 'never clamp': drift + sinusoid slopes + the widest
    possible noise swing, plus the rounding margin, stay inside the (board or ST) limit."""
    u = build_universe(SEED, 5200)
    slope = (u.amp * 2 * np.pi * u.freq / 2**TABLE_BITS).sum(axis=1)
    used = slope + np.abs(u.drift) + MARGIN
    assert np.all(used + NOISE_SPAN * u.sigma <= np.log1p(u.limit) + 1e-12)
    assert np.all(used + NOISE_SPAN * u.sigma_st <= np.log1p(ST_LIMIT) + 1e-12)
    assert np.all(u.sigma > 0) and np.all(u.sigma_st > 0)
    bits = np.array([0, 2**64 - 1, *range(1, 2**64, 2**50 - 3)], dtype=np.uint64)
    assert np.abs(_irwin_hall(bits)).max() < NOISE_SPAN / 2


def test_whole_market_rules_vectorised() -> None:
    """Limits, OHLC order and the pre_close chain for every stock on 100 days across 2005-2026."""
    u = build_universe(SEED, 5200)
    n = len(u.securities)
    sessions = np.linspace(1, 5342, 100).astype(np.int64)
    s, g = np.tile(np.arange(n), sessions.size), np.repeat(sessions, n)
    today, before = evaluate(u, s, g), evaluate(u, s, g - 1)
    listed = today.listed & before.listed
    limit = np.where(today.is_st, ST_LIMIT, u.limit[s])
    pre = today.pre_close
    up, down = np.rint(pre * (1 + limit)), np.rint(pre * (1 - limit))
    for price in (today.open, today.high, today.low, today.close):
        assert np.all(((price <= up) & (price >= down))[today.listed])
    assert np.all((today.low <= np.minimum(today.open, today.close))[today.listed])
    assert np.all((today.high >= np.maximum(today.open, today.close))[today.listed])
    assert np.all(today.low[today.listed] >= MIN_PRICE * 100)
    same = listed & (today.factor == before.factor)
    assert np.all((pre == before.close)[same])
    ex = listed & (today.factor != before.factor)
    assert ex.sum() > 20
    assert np.all((pre == np.rint(before.close * before.factor / today.factor))[ex])


def _period_key(day: dt.date, period: Period) -> tuple[int, int]:
    return (
        (day.isocalendar()[0], day.isocalendar()[1])
        if period is Period.WEEKLY
        else (
            day.year,
            day.month,
        )
    )


@pytest.mark.parametrize("period", [Period.WEEKLY, Period.MONTHLY])
def test_weekly_and_monthly_bars_aggregate_the_daily_ones(
    market: SimMarket,
    securities: dict[str, Security],
    histories: dict[str, list[Bar]],
    period: Period,
) -> None:
    empty_periods = 0
    halted = [c for c, bars in histories.items() if any(b.trade_status == 0 for b in bars)]
    others = [c for c in histories if c not in halted][:30]
    ends = market.period_end_dates(period, dt.date(2005, 1, 1), LAST)
    for code in halted + others:
        daily, sec = histories[code], securities[code]
        by_period: dict[tuple[int, int], list[Bar]] = defaultdict(list)
        for bar in daily:
            by_period[_period_key(bar.trade_date, period)].append(bar)
        got = {
            b.trade_date: b
            for b in market.bars_for_code(code, dt.date(2005, 1, 1), dt.date(2026, 12, 31), period)
        }
        for end in ends:
            if not daily or not daily[0].trade_date <= end <= daily[-1].trade_date + WEEKS_5:
                assert end not in got
                continue
            days = by_period.get(_period_key(end, period), [])
            traded = [b for b in days if b.trade_status == 1]
            if not traded or not sec.is_listed_on(end):
                empty_periods += bool(days) and not traded
                assert end not in got, (code, end)
                continue
            bar = got.pop(end)
            assert (bar.period, bar.trade_status, bar.is_st) == (period, 1, days[-1].is_st)
            assert bar.open == traded[0].open and bar.close == traded[-1].close
            assert bar.high == max(b.high for b in traded)
            assert bar.low == min(b.low for b in traded)
            assert bar.pre_close == days[0].pre_close
            assert bar.volume == sum(b.volume for b in traded)
            assert bar.amount == pytest.approx(sum(b.amount for b in traded), rel=1e-12)
            assert bar.turnover_pct == pytest.approx(sum(b.turnover_pct or 0 for b in traded))
            assert bar.pct_chg == round((bar.close / bar.pre_close - 1) * 100, 4)
        assert got == {}
    assert empty_periods >= 1  # a whole period suspended gives no bar


def test_period_dates_must_be_period_ends(market: SimMarket) -> None:
    with pytest.raises(ValueError, match="not the last trading day"):
        market.bars_for_date(dt.date(2024, 5, 30), Period.WEEKLY)
    with pytest.raises(ValueError, match="not the last trading day"):
        market.bars_for_date(dt.date(2024, 5, 24), Period.MONTHLY)
    assert market.bars_for_date(dt.date(2024, 5, 31), Period.MONTHLY)


# --- calendar ---------------------------------------------------------------------------------


def test_trading_days_are_xshg_sessions(market: SimMarket) -> None:
    days = market.trading_days(dt.date(2024, 9, 28), dt.date(2024, 10, 10))
    assert days == [
        dt.date(2024, 9, 30),
        dt.date(2024, 10, 8),
        dt.date(2024, 10, 9),
        dt.date(2024, 10, 10),
    ]
    assert market.trading_days(dt.date(2026, 12, 31), dt.date(2026, 12, 31)) == [
        dt.date(2026, 12, 31)
    ]


def test_the_calendar_ends_in_2026(market: SimMarket) -> None:
    with pytest.raises(ValueError, match="only known up to 2026-12-31"):
        market.trading_days(dt.date(2026, 12, 1), dt.date(2027, 1, 10))
    with pytest.raises(ValueError, match="only known up to 2026-12-31"):
        market.bars_for_date(dt.date(2027, 1, 4))
    code = market.securities()[0].code
    with pytest.raises(ValueError, match="only known up to 2026-12-31"):
        market.bars_for_code(code, dt.date(2026, 1, 1), dt.date(2027, 1, 1))


def test_period_end_dates(market: SimMarket) -> None:
    start, end = dt.date(2024, 1, 3), dt.date(2024, 12, 31)
    sessions = market.trading_days(dt.date(2024, 1, 1), dt.date(2025, 1, 10))
    assert market.period_end_dates(Period.DAILY, start, end) == market.trading_days(start, end)
    for period in (Period.WEEKLY, Period.MONTHLY):
        ends = market.period_end_dates(period, start, end)
        expected = [
            d
            for d, nxt in itertools.pairwise(sessions)
            if _period_key(d, period) != _period_key(nxt, period) and start <= d <= end
        ]
        assert ends == expected
    monthly = market.period_end_dates(Period.MONTHLY, start, end)
    assert monthly[:3] == [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 29)]
    assert dt.date(2024, 2, 8) in market.period_end_dates(
        Period.WEEKLY, start, end
    )  # Spring Festival
