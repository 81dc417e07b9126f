"""SimSource: the simulated market behind the source contract, with latency, errors and quota."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from stocksync.config import SimSettings
from stocksync.domain import BAR_PERIODS, Period
from stocksync.sim import SimMarket
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    Shape,
    TransientSourceError,
)
from stocksync.sources.sim import SimSource, build_sim_source

DAY = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def market() -> SimMarket:
    return SimMarket(11, n_stocks=300)


class FakeQuota:
    def __init__(self, waits: list[float]) -> None:
        self.waits = waits
        self.calls: list[tuple[str, int]] = []

    def acquire(self, source: str, limit_per_minute: int) -> float:
        self.calls.append((source, limit_per_minute))
        return self.waits.pop(0)


def test_contract_and_data_match_the_market(market: SimMarket) -> None:
    source = SimSource(market)
    assert source.name == "sim" and source.calls_per_minute is None
    for shape in Shape:
        for period in BAR_PERIODS:
            assert source.can_serve(shape, period)
    code = market.securities()[5].code
    start, end = dt.date(2025, 1, 1), DAY
    assert source.securities() == market.securities()
    assert source.trading_days(start, end) == market.trading_days(start, end)
    assert source.market_bars(Period.DAILY, DAY) == market.bars_for_date(DAY)
    assert source.market_bars(Period.MONTHLY, DAY) == market.bars_for_date(DAY, Period.MONTHLY)
    weekly = source.stock_bars(code, Period.WEEKLY, start, end)
    assert weekly and weekly == market.bars_for_code(code, start, end, Period.WEEKLY)
    assert source.adj_factors(code, start, end) == market.adj_factors(code, start, end)


def test_failures_are_classified(market: SimMarket) -> None:
    source = SimSource(market)
    with pytest.raises(FatalSourceError, match="only known up to 2026-12-31"):
        source.trading_days(dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    with pytest.raises(FatalSourceError, match="not the last trading day"):
        source.market_bars(Period.WEEKLY, dt.date(2025, 6, 26))
    with pytest.raises(NoDataError):
        source.stock_bars("604999.SH", Period.DAILY, dt.date(2025, 1, 1), DAY)


def test_error_injection_hits_roughly_the_configured_rate(market: SimMarket) -> None:
    def failures(source: SimSource, calls: int) -> list[int]:
        failed = []
        for i in range(calls):
            try:
                source.trading_days(DAY, DAY)
            except TransientSourceError as exc:
                assert exc.source == "sim"
                failed.append(i)
        return failed

    flaky = failures(SimSource(market, error_rate=0.3, rng_seed=5), 2000)
    assert 0.25 <= len(flaky) / 2000 <= 0.35
    assert failures(SimSource(market, error_rate=0.3, rng_seed=5), 2000) == flaky
    assert failures(SimSource(market), 500) == []
    assert len(failures(SimSource(market, error_rate=1.0), 20)) == 20


def test_in_process_rate_limit(market: SimMarket) -> None:
    source = SimSource(market, calls_per_minute=5)
    assert source.calls_per_minute == 5
    for _ in range(5):
        source.trading_days(DAY, DAY)
    with pytest.raises(RateLimitedError) as caught:
        source.trading_days(DAY, DAY)
    assert 0 < caught.value.wait_s <= 60


def test_shared_quota_is_used_when_given(market: SimMarket) -> None:
    quota = FakeQuota([0.0, 7.5])
    source = SimSource(market, calls_per_minute=10, quota=quota)
    source.trading_days(DAY, DAY)
    with pytest.raises(RateLimitedError) as caught:
        source.securities()
    assert caught.value.wait_s == 7.5
    assert quota.calls == [("sim", 10), ("sim", 10)]
    unlimited = FakeQuota([])
    SimSource(market, quota=unlimited).trading_days(DAY, DAY)
    assert unlimited.calls == []


def test_latency_is_applied(market: SimMarket) -> None:
    source = SimSource(market, latency_ms=40)
    assert source.expected_latency_s >= 0.04
    began = time.monotonic()
    source.trading_days(DAY, DAY)
    assert time.monotonic() - began >= 0.04


def test_build_sim_source_shares_one_market_per_process() -> None:
    settings = SimSettings(seed=11, stocks=300, latency_ms=1.0, calls_per_minute=50)
    first, second = build_sim_source(settings), build_sim_source(settings)
    assert first.market is second.market
    assert first.calls_per_minute == 50 and first.expected_latency_s >= 0.001
    other = build_sim_source(SimSettings(seed=12, stocks=300))
    assert other.market is not first.market


def test_bad_settings_are_rejected(market: SimMarket) -> None:
    with pytest.raises(ValueError):
        SimSource(market, error_rate=1.5)
    with pytest.raises(ValueError):
        SimSource(market, latency_ms=-1)
    with pytest.raises(ValueError):
        SimSource(market, calls_per_minute=-1)
