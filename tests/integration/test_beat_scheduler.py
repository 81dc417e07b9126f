"""The beat scheduler in process, on real Redis and PostgreSQL: it builds its entries from the
stored schedules, only the leader sends, a standby takes over when the leader stops, and a
change through the API reaches a running beat."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from celery.beat import BeatLazyFunc

import workers.beat
from stocksync.schedules import definitions as schedules
from workers.beat import StocksyncScheduler

SH = ZoneInfo("Asia/Shanghai")


class RecordingScheduler(StocksyncScheduler):
    """Records what it would send instead of sending it."""

    def __init__(self, *args, **kwargs):
        self.sent: list[tuple[str, list]] = []
        super().__init__(*args, **kwargs)

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        args = [a() if isinstance(a, BeatLazyFunc) else a for a in entry.args]
        self.sent.append((entry.task, args))


@pytest.fixture
def beat_app(ctx, settings, monkeypatch):
    monkeypatch.setattr(workers.beat, "get_context", lambda: ctx)
    app = Celery("beat-tests", broker=settings.redis_url)
    app.conf.timezone = "Asia/Shanghai"
    app.conf.beat_max_loop_interval = 1
    return app


def make_due(scheduler: StocksyncScheduler) -> None:
    """As if the scheduler had been running for a while: the last minute's fire time is due."""
    for entry in scheduler.schedule.values():
        entry.last_run_at -= dt.timedelta(seconds=61)
    scheduler._heap = None


def minute_floor(moment: dt.datetime) -> str:
    return moment.astimezone(SH).replace(second=0, microsecond=0).isoformat()


def test_two_schedulers_one_sends_and_a_standby_takes_over(ctx, beat_app):
    schedules.update_schedule(ctx, "weekly", {"cron": "* * * * *"})
    before = dt.datetime.now(dt.UTC)
    first, second = RecordingScheduler(app=beat_app), RecordingScheduler(app=beat_app)
    assert sorted(first.schedule) == [f"stocksync.{n}" for n in sorted(schedules.BUILT_INS)]
    for scheduler in (first, second):
        make_due(scheduler)
    for _ in range(4):
        first.tick()
        second.tick()
    after = dt.datetime.now(dt.UTC)
    assert second.sent == []
    [(task, (name, slot))] = first.sent
    assert (task, name) == ("stocksync.fire_schedule", "weekly")
    assert slot in {minute_floor(before), minute_floor(after)}

    first.close()  # releases the lease: the standby leads at its next tick
    for _ in range(3):
        second.tick()
    assert [args[0] for _, args in second.sent] == ["weekly"]  # the hand-over window's slot
    assert second.sent[0][1][1] in {minute_floor(before), minute_floor(after)}


def test_a_change_reaches_a_running_scheduler(ctx, beat_app):
    scheduler = RecordingScheduler(app=beat_app)
    assert "stocksync.daily" in scheduler.schedule
    schedules.update_schedule(ctx, "daily", {"enabled": False})
    schedules.update_schedule(ctx, "monthly", {"cron": "*/5 * * * *"})
    scheduler._loaded_at = 0  # as if RELOAD_EVERY_S had passed
    scheduler.tick()
    assert "stocksync.daily" not in scheduler.schedule
    assert scheduler.schedule["stocksync.monthly"].schedule.cron.text == "*/5 * * * *"
    assert scheduler.sent == []  # a changed cron starts from now: no catch-up fire
