import time

import pytest

from stocksync.coordination import progress
from stocksync.coordination.lock import RunLock
from stocksync.domain import ItemStatus


def test_one_holder_at_a_time_and_only_the_holder_releases(ctx):
    lock = RunLock(ctx.redis, ttl_s=60)
    fence = lock.next_fence()
    assert lock.acquire(1, fence)
    assert not lock.acquire(2, lock.next_fence())
    assert lock.holder().run_id == 1
    assert not lock.release(2, fence + 1)
    assert lock.holder().run_id == 1
    assert lock.release(1, fence)
    assert lock.holder() is None


def test_a_dead_holders_lock_expires(ctx):
    lock = RunLock(ctx.redis, ttl_s=1)
    assert lock.acquire(1, lock.next_fence())
    time.sleep(1.3)
    assert lock.holder() is None
    assert lock.acquire(2, lock.next_fence())


def test_keep_alive_extends_retakes_a_lapsed_lock_but_not_after_a_newer_run(ctx):
    lock = RunLock(ctx.redis, ttl_s=1)
    fence = lock.next_fence()
    assert lock.acquire(1, fence)
    time.sleep(0.6)
    assert lock.keep_alive(1, fence)
    assert lock.ttl_ms_left() > 700
    time.sleep(1.3)  # lapsed, nobody else came: the run may take it back
    assert lock.holder() is None
    assert lock.keep_alive(1, fence)
    assert lock.holder().run_id == 1
    time.sleep(1.3)
    newer = lock.next_fence()
    assert lock.acquire(2, newer)
    assert not lock.keep_alive(1, fence)  # a stale holder cannot come back
    assert lock.holder().run_id == 2
    lock.release(2, newer)
    assert not lock.keep_alive(1, fence)  # not even once the newer run is gone


def test_keep_alive_can_hold_longer_and_never_shortens_a_hold(ctx):
    lock = RunLock(ctx.redis, ttl_s=2)
    fence = lock.next_fence()
    assert lock.acquire(1, fence)
    assert lock.keep_alive(1, fence, for_s=30)  # a unit waits 30 s for its retry
    assert lock.ttl_ms_left() > 25_000
    assert lock.keep_alive(1, fence)  # a heartbeat meanwhile keeps the longer hold
    assert lock.ttl_ms_left() > 25_000
    assert not lock.keep_alive(2, fence, for_s=30)  # only the holder
    lock.release(1, fence)


def test_fences_increase_and_never_fall_below_the_databases(ctx):
    lock = RunLock(ctx.redis)
    first = lock.next_fence()
    assert lock.next_fence() == first + 1
    assert lock.next_fence(floor=100) == 101  # Redis lost its counter: the floor wins
    assert lock.next_fence(floor=5) == 102


def test_each_item_is_counted_once(ctx):
    progress.initialise(ctx.redis, 7, total=3, skipped=1)
    for _ in range(3):  # a redelivered message counts nothing more
        counters = progress.count_finished(
            ctx.redis, 7, 11, ItemStatus.SUCCESS, rows=100, label="2026-01-05"
        )
    assert (counters.success, counters.rows, counters.done) == (1, 100, 2)
    assert not counters.complete
    counters = progress.count_finished(ctx.redis, 7, 12, ItemStatus.FAILED, rows=0, label="x")
    assert counters.complete and counters.failed == 1 and counters.percent == 100.0


def test_counters_rebuilt_from_the_ledger_keep_counting_once(ctx):
    counts = {ItemStatus.SUCCESS: 2, ItemStatus.PENDING: 2, ItemStatus.SKIPPED: 1}
    rebuilt = progress.rebuild(
        ctx.redis, 9, counts=counts, finished_ids=[1, 2, 3], rows=50, started_at=None
    )
    assert (rebuilt.total, rebuilt.done, rebuilt.pending) == (5, 3, 2)
    again = progress.count_finished(ctx.redis, 9, 2, ItemStatus.SUCCESS, rows=25, label="d")
    assert again.success == 2  # item 2 was already counted
    after = progress.count_finished(ctx.redis, 9, 4, ItemStatus.SUCCESS, rows=25, label="d")
    assert after.success == 3 and after.rows == 75


@pytest.mark.parametrize("done,elapsed,expected", [(10, 10.0, 9.0), (0, 5.0, None)])
def test_eta_comes_from_the_observed_rate(done, elapsed, expected):
    now = 1000.0
    counters = progress.Counters(
        total=20, success=done, failed=0, skipped=1, rows=0, current_date=None,
        started_at=now - elapsed, updated_at=now,
    )  # fmt: skip
    assert counters.eta_s(now) == expected
