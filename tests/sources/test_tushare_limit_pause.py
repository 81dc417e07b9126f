"""tushare's per-minute limit reply pauses that endpoint for every worker until the server's window
has passed: calling on while the window is full only prolongs the refusal (tushare #1868).

The fake tushare server enforces its own limit over a test-only short window; each "worker" is a
TushareSource with its own Redis client on the one shared token bucket."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import redis
from fake_tushare import TEST_TOKEN, FakeTushare  # type: ignore[import-not-found]

from stocksync.coordination.ratelimit import TokenBucketQuota
from stocksync.sources.base import RateLimitedError
from stocksync.sources.sim import sim_market
from stocksync.sources.tushare import TushareSource

WINDOW_S = 2.0  # the server's window (tushare's is 60 s)
START, END = dt.date(2024, 12, 2), dt.date(2025, 1, 31)


@pytest.fixture(scope="module")
def market():
    return sim_market(20240601, 300)


def worker_quota(settings) -> TokenBucketQuota:
    """The shared bucket as one more worker process sees it (its own connection); it never
    sleeps, so every refusal shows."""
    return TokenBucketQuota(redis.Redis.from_url(settings.redis_url), max_block_s=0)


def test_a_limit_reply_pauses_the_endpoint_for_every_worker_until_the_window_passed(
    ctx, settings, market
):
    with FakeTushare(market) as fake:
        fake.per_minute_limit, fake.window_s = 2, WINDOW_S
        workers = [
            TushareSource(
                TEST_TOKEN,
                url=fake.url,
                timeout_s=2.0,
                quota=worker_quota(settings),
                limit_window_s=WINDOW_S,
            )
            for _ in range(2)
        ]
        answered = refused_here = 0
        waits = []
        deadline = time.monotonic() + 2.6 * WINDOW_S
        turn = 0
        while time.monotonic() < deadline:
            turn += 1
            try:
                workers[turn % 2].trading_days(START, END)
                answered += 1
            except RateLimitedError as exc:
                refused_here += 1
                waits.append(exc.wait_s)
            time.sleep(0.02)
        sent = [at for at, api in fake.requests if api == "trade_cal"]

    # the server saw: 2 answered, 1 refused (the limit reply), then nothing for the rest of the
    # window, for either worker; then the same again in the next window
    window_start, limit_reply = sent[0], sent[2]
    quiet = [at for at in sent[3:] if at < window_start + WINDOW_S]
    assert quiet == [], f"{len(quiet)} request(s) reached the server within its full window"
    after = [at for at in sent[3:] if at < limit_reply + WINDOW_S]
    assert after == []  # nor within a window of the refusal
    assert len(sent) <= 3 * 3  # at most 3 per window: 2 answered + the 1 refusal that pauses
    assert answered >= 4  # the endpoint came back after each pause
    assert refused_here > len(sent) - answered  # most refusals never left the process
    assert all(w > 0 for w in waits)  # each one says how long to wait


def test_a_pause_holds_one_bucket_for_every_client_and_ends_on_time(ctx, settings):
    one, other = worker_quota(settings), worker_quota(settings)
    assert one.acquire("tushare.daily", 200) == 0.0
    one.pause("tushare.daily", 1.0)
    one.pause("tushare.daily", 0.2)  # a shorter pause never cuts a longer one short
    assert 0.5 < other.acquire("tushare.daily", 200) <= 1.0  # another worker is held too
    assert other.acquire("tushare.trade_cal", 200) == 0.0  # other endpoints are not
    time.sleep(1.05)
    assert other.acquire("tushare.daily", 200) == 0.0
