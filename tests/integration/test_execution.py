"""The run and unit services on real PostgreSQL and Redis, driven directly (no Celery): what a
worker does with a unit, including failures, retries, redelivery and fencing."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select

from stocksync.context import build_context
from stocksync.domain import RunStatus
from stocksync.errors import InvalidRequest, RunConflict, ServiceUnavailable
from stocksync.runs import service as runs
from stocksync.runs.execution import RetryLater, run_unit
from stocksync.storage.schema import bars, sync_items

BODY = {"start_date": "2025-03-03", "end_date": "2025-03-05"}


class Recorder:
    """Collects dispatched item ids so the test can play the worker."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int]] = []

    def dispatch(self, run_id, item_ids):
        self.sent.extend((run_id, i) for i in item_ids)


@pytest.fixture
def make_ctx(ctx, settings):
    """A Context on the same clean services with other sim settings."""
    made = []

    def build(**sim_changes):
        sim = dataclasses.replace(settings.sim, **sim_changes)
        other = build_context(settings.with_overrides(sim=sim))
        made.append(other)
        return other

    yield build
    for other in made:
        other.close()


def start(ctx, body=BODY):
    recorder = Recorder()
    created = runs.create_run(ctx, runs.parse_spec(ctx, body), recorder)
    return created, [item for _, item in recorder.sent]


def item_rows(ctx):
    with ctx.engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(sync_items))}


def bar_count(ctx):
    with ctx.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(bars)).scalar_one()


def test_units_store_the_oracle_and_a_redelivered_message_changes_nothing(ctx, oracle):
    created, items = start(ctx)
    assert (created.total, created.pending, len(items)) == (3, 3, 3)
    for item in items:
        assert run_unit(ctx, item).outcome == "success"
    days = oracle.trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 5))
    assert set(oracle.stored(ctx.engine)) == oracle.expected(days)
    assert oracle.stored_factors(ctx.engine) == oracle.expected_factors(days)
    assert oracle.stored_valuations(ctx.engine) == oracle.expected_valuations(days)
    view = runs.run_view(ctx, created.run_id)
    assert (view["status"], view["success"], view["percent"]) == ("success", 3, 100.0)
    assert ctx.lock.holder() is None  # released when the run finished

    again = run_unit(ctx, items[0])  # a redelivered message
    assert again.outcome == "already_done"
    assert runs.run_view(ctx, created.run_id)["success"] == 3
    assert {r.attempts for r in item_rows(ctx).values()} == {1}


def test_garbage_rows_are_rejected_with_reasons_and_never_stored(make_ctx, oracle):
    ctx = make_ctx(garbage_rate=1.0)
    created, items = start(ctx)
    for item in items:  # a corrupted reply is retried once: it may have been transient
        with pytest.raises(RetryLater):
            run_unit(ctx, item)
    outcomes = [run_unit(ctx, item) for item in items]
    assert {o.outcome for o in outcomes} == {"failed"}
    errors = [r.error for r in item_rows(ctx).values()]
    assert all("invalid row(s) quarantined, not stored" in e and "< low" in e for e in errors)
    assert any("wrong unit" in e for e in errors)
    days = oracle.trading_days(dt.date(2025, 3, 3), dt.date(2025, 3, 5))
    expected = oracle.expected(days)
    stored = set(oracle.stored(ctx.engine))
    assert stored < expected  # only sound rows, all of them true
    assert len(expected) - len(stored) >= len(items)
    view = runs.run_view(ctx, created.run_id)
    assert view["status"] == RunStatus.FAILED.value
    assert "3 unit(s) failed" in view["error"]


def test_transient_errors_retry_with_backoff_then_fail_after_max_attempts(ctx, make_ctx, settings):
    created, items = start(ctx, BODY | {"end_date": "2025-03-03"})
    ctx = make_ctx(error_rate=1.0)  # the source breaks once the run is planned
    delays = []
    for attempt in range(1, settings.max_attempts):
        with pytest.raises(RetryLater) as later:
            run_unit(ctx, items[0])
        delays.append(later.value.countdown)
        row = item_rows(ctx)[items[0]]
        assert (row.status, row.attempts) == ("pending", attempt)
        assert "simulated failure" in row.error
    assert all(0 < d <= settings.retry_backoff_max_s for d in delays)
    final = run_unit(ctx, items[0])
    assert final.outcome == "failed"
    assert f"failed after {settings.max_attempts} attempts" in final.message
    assert runs.run_view(ctx, created.run_id)["status"] == "failed"
    assert bar_count(ctx) == 0


def test_a_rate_limited_call_waits_without_spending_an_attempt(ctx, make_ctx):
    _, items = start(ctx)
    ctx = make_ctx(calls_per_minute=1)  # one call a minute, shared through Redis
    outcomes = []
    for item in items:
        try:
            outcomes.append(run_unit(ctx, item).outcome)
        except RetryLater as later:
            outcomes.append("retry")
            assert 0 < later.countdown <= 61
    assert "retry" in outcomes
    rows = item_rows(ctx)
    waiting = [r for r in rows.values() if r.status == "pending"]
    assert waiting and all(r.attempts == 0 and "calls per minute" in r.error for r in waiting)
    # the run's lock is held through the wait (beyond its TTL), so recovery leaves it alone
    assert ctx.lock.ttl_ms_left() > ctx.settings.lock_ttl_s * 1000


def test_a_run_that_lost_its_lock_to_a_newer_run_does_not_work_on(ctx):
    _, items = start(ctx)
    holder = ctx.lock.holder()
    ctx.lock.release(holder.run_id, holder.fence)
    newer = ctx.lock.next_fence()
    assert ctx.lock.acquire(999, newer)
    outcome = run_unit(ctx, items[0])
    assert outcome.outcome == "lock_lost"
    row = item_rows(ctx)[items[0]]
    assert (row.status, row.attempts) == ("pending", 0)
    assert bar_count(ctx) == 0


def test_a_second_run_is_refused_while_one_is_active(ctx):
    created, _ = start(ctx)
    with pytest.raises(RunConflict) as info:
        start(ctx)
    assert info.value.active_run_id == created.run_id


def test_a_source_down_while_planning_is_a_clear_error_and_takes_no_lock(make_ctx):
    flaky = make_ctx(error_rate=1.0)
    with pytest.raises(
        ServiceUnavailable, match=r"securities list from any source \(sim: simulated"
    ):
        start(flaky)
    assert flaky.lock.holder() is None


def test_unknown_codes_and_calendar_limits_are_clear_errors(ctx):
    with pytest.raises(InvalidRequest, match="unknown stock code"):
        start(ctx, BODY | {"symbols": ["600000", "699999"]})
    spec = runs.parse_spec(ctx, BODY)
    beyond = dataclasses.replace(spec, end_date=dt.date(2027, 1, 8))
    with pytest.raises(InvalidRequest, match="only known up to 2026-12-31"):
        runs.create_run(ctx, beyond, Recorder())
    assert ctx.lock.holder() is None  # a refused run takes no lock


def test_preview_counts_units_already_done(ctx):
    _, items = start(ctx)
    run_unit(ctx, items[0])
    preview = runs.preview_run(ctx, runs.parse_spec(ctx, BODY))
    assert preview["units"] == 3 and preview["already_done"] == 1
    assert preview["expected_calls"] == 2 * 3  # bars, factors and valuations: a call each
    assert preview["shapes"] == {"daily": "market_by_date"}


def test_the_calendar_falls_back_to_offline_xshg_and_says_when_it_cannot(make_ctx, oracle):
    from stocksync.datasets.refresh import ensure_calendar
    from stocksync.datasets.trade_calendar import load_trading_days

    down = make_ctx(error_rate=1.0)
    source = down.sources.get("sim")
    start, end = dt.date(2025, 9, 29), dt.date(2025, 10, 10)  # golden week holidays inside
    ensure_calendar(down.engine, [source], start, end)
    with down.engine.connect() as conn:
        assert load_trading_days(conn, start, end) == oracle.trading_days(start, end)
    with pytest.raises(InvalidRequest) as info:
        ensure_calendar(down.engine, [source], dt.date(2026, 12, 28), dt.date(2027, 1, 8))
    assert "only knows holidays up to 2026-12-31" in info.value.message
    assert "sim: simulated failure" in info.value.message
