"""The shared rate limiter and circuit breaker on a real Redis, and how units react to them."""

from __future__ import annotations

import pytest

from stocksync.coordination.breaker import CircuitBreaker
from stocksync.coordination.ratelimit import TokenBucketQuota, bucket_shape
from stocksync.runs import service as runs
from stocksync.runs.execution import RetryLater, run_unit


@pytest.mark.parametrize("limit", [1, 7, 60, 500])
def test_no_60_second_window_ever_holds_more_than_the_limit(ctx, limit):
    quota = TokenBucketQuota(ctx.redis)
    granted = []
    t = 1_000_000.0
    while t < 1_000_000.0 + 200:  # callers hammering every 50 ms for 200 s
        if quota.acquire("src", limit, now=t) == 0.0:
            granted.append(t)
        t += 0.05
    worst = max(sum(1 for g in granted if start <= g < start + 60) for start in granted)
    assert worst <= limit
    burst, rate = bucket_shape(limit)
    assert len(granted) >= (burst + rate * 200) * 0.9  # the budget is used, not starved


def test_a_refused_call_is_told_how_long_to_wait(ctx):
    quota = TokenBucketQuota(ctx.redis)
    burst, rate = bucket_shape(60)
    assert [quota.acquire("s", 60, now=100.0) for _ in range(burst)] == [0.0] * burst
    wait = quota.acquire("s", 60, now=100.0)
    assert wait == pytest.approx(1 / rate, rel=0.01)
    assert quota.acquire("s", 60, now=100.0 + wait + 0.01) == 0.0


def test_a_limit_the_source_reports_tightens_the_bucket_and_never_loosens_it(ctx):
    quota = TokenBucketQuota(ctx.redis)
    assert quota.effective_limit("tushare", 500) == 500
    quota.tighten("tushare", 50)
    quota.tighten("tushare", 200)  # a looser report does not undo a stricter one
    assert quota.effective_limit("tushare", 500) == 50
    assert quota.effective_limit("other", 500) == 500


def test_breaker_opens_after_repeated_failures_and_says_why(ctx):
    breaker = CircuitBreaker(ctx.redis, threshold=3, cooldown_s=30)
    assert not breaker.record_failure("akshare", "timeout")
    assert not breaker.record_failure("akshare", "timeout")
    assert breaker.record_failure("akshare", "HTTP 500")
    state = breaker.state("akshare")
    assert state.open and "3 failures" in state.reason and "HTTP 500" in state.reason
    assert state.describe().startswith("open for 30 s more") or "open for 29 s" in state.describe()
    assert breaker.last_error("akshare")[1].endswith("last: HTTP 500")
    assert not breaker.is_open("baostock")
    breaker.reset("akshare")
    assert not breaker.is_open("akshare")


def test_success_resets_the_failure_count(ctx):
    breaker = CircuitBreaker(ctx.redis, threshold=2)
    breaker.record_failure("s", "x")
    breaker.record_success("s")
    assert not breaker.record_failure("s", "y")


class Recorder:
    def dispatch(self, run_id, item_ids):
        self.ids = list(item_ids)


def one_day_run(ctx) -> Recorder:
    recorder = Recorder()
    spec = runs.parse_spec(ctx, {"start_date": "2025-03-03", "end_date": "2025-03-03"})
    runs.create_run(ctx, spec, recorder)
    return recorder


def test_a_unit_whose_sources_are_all_cooling_down_waits_then_gives_up(ctx, settings):
    recorder = one_day_run(ctx)
    ctx.breaker.trip("sim", "banned for testing", 40)
    with pytest.raises(RetryLater) as later:
        run_unit(ctx, recorder.ids[0])
    assert 39 <= later.value.countdown <= 42
    assert "sim skipped: circuit open" in later.value.reason
    assert "banned for testing" in later.value.reason
    ctx.breaker.reset("sim")
    assert run_unit(ctx, recorder.ids[0]).outcome == "success"


def test_a_source_that_stays_down_fails_the_unit_after_max_attempts(ctx, settings):
    recorder = one_day_run(ctx)
    ctx.breaker.trip("sim", "down for good", 600)
    for _ in range(settings.max_attempts - 1):
        with pytest.raises(RetryLater):
            run_unit(ctx, recorder.ids[0])
    outcome = run_unit(ctx, recorder.ids[0])
    assert outcome.outcome == "failed" and "down for good" in outcome.message


def test_sources_endpoint_shows_availability_limits_and_circuits(ctx):
    from api import create_app

    app = create_app({"CONTEXT_FACTORY": lambda: ctx, "DISPATCHER_FACTORY": lambda: None})
    client = app.test_client()
    body = client.get("/api/v1/sources").json
    sim = body["sources"][0]
    assert (sim["name"], sim["priority"], sim["available"], sim["circuit"]) == (
        "sim", 1, True, "closed",
    )  # fmt: skip
    ctx.breaker.trip("sim", "HTTP 403 from upstream", 60)
    sim = client.get("/api/v1/sources").json["sources"][0]
    assert sim["circuit"] == "open" and "HTTP 403" in sim["circuit_detail"]
    assert sim["last_error"]["message"] == "HTTP 403 from upstream"
