"""celery beat for stocksync: ``celery -A workers beat -S workers.beat:StocksyncScheduler``.

The schedule comes from the database (stocksync.schedules.definitions) and is reloaded every few
seconds, so a change made through the API or CLI takes effect without restarting beat. However
many beat processes run, only the one holding the leader lease in Redis sends anything; the
per-slot claim in ``stocksync.fire_schedule`` is the second guard.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any
from zoneinfo import ZoneInfo

from celery.beat import BeatLazyFunc, ScheduleEntry, Scheduler
from celery.schedules import BaseSchedule, schedstate

from stocksync.schedules.cron import Cron
from stocksync.schedules.definitions import Schedule, load_schedules
from stocksync.schedules.leader import LeaderLease
from workers.runtime import get_context

log = logging.getLogger(__name__)

FIRE_TASK = "stocksync.fire_schedule"
LEADER_KEY = "stocksync:beat:leader"
LEASE_TTL_S = 30.0  # a dead leader is replaced within this
RELOAD_EVERY_S = 10.0  # a changed schedule takes effect within this


class CronSchedule(BaseSchedule):
    """A celery schedule that fires on a :class:`stocksync.schedules.cron.Cron` in a given
    timezone, so beat and the API agree on every fire time."""

    def __init__(self, cron: Cron, zone: ZoneInfo, app: Any = None) -> None:
        super().__init__(app=app)
        self.cron = cron
        self.zone = zone

    def remaining_estimate(self, last_run_at: dt.datetime) -> dt.timedelta:
        return self.cron.next_fire(last_run_at, self.zone) - self.now()

    def is_due(self, last_run_at: dt.datetime) -> schedstate:
        now = self.now()
        due_at = self.cron.next_fire(last_run_at, self.zone)
        if due_at <= now:
            return schedstate(True, (self.cron.next_fire(now, self.zone) - now).total_seconds())
        return schedstate(False, (due_at - now).total_seconds())

    def slot(self) -> str:
        """The fire time being served now: the latest one at or before the present."""
        return self.cron.previous_fire(self.now(), self.zone).isoformat()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return NotImplemented
        return (self.cron.text, self.zone.key) == (other.cron.text, other.zone.key)

    def __hash__(self) -> int:
        return hash((self.cron.text, self.zone.key))

    def __repr__(self) -> str:
        return f"<cron {self.cron.text!r} {self.zone.key}>"


class StocksyncScheduler(Scheduler):
    """Builds beat's entries from the stored schedules and sends only while it leads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lease: LeaderLease | None = None
        self._leading: bool | None = None  # unknown until the first tick
        self._loaded_at = 0.0
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        self._reload()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if time.monotonic() - self._loaded_at >= RELOAD_EVERY_S:
            self._reload()
        if not self._lead():
            self._stand_by()
            return min(self.max_interval, LEASE_TTL_S / 3)
        return min(float(super().tick(*args, **kwargs)), LEASE_TTL_S / 3)

    def _stand_by(self) -> None:
        """While another beat leads, its fire times are its business: on taking over, only a
        fire time that fell in the hand-over window (a dead leader's lease running out) is
        sent, never old ones the leader served long ago."""
        floor = self.app.now() - dt.timedelta(seconds=2 * LEASE_TTL_S)
        for entry in self.schedule.values():
            if entry.last_run_at < floor:
                entry.last_run_at = floor

    def close(self) -> None:
        if self._lease is not None and self._leading:
            self._lease.release()  # let a standby beat take over at once
        super().close()

    def _lead(self) -> bool:
        if self._lease is None:
            self._lease = LeaderLease(get_context().redis, LEADER_KEY, LEASE_TTL_S)
        leading = self._lease.hold()
        if leading != self._leading:
            log.warning(
                "beat: %s (%s)",
                "this scheduler now leads and sends scheduled runs"
                if leading
                else "another scheduler leads; standing by",
                self._lease.token,
            )
            self._leading = leading
            self._heap = None  # recompute every entry's next fire time
        return leading

    def _reload(self) -> None:
        """Entries for the enabled schedules. An entry whose cron is unchanged keeps its last
        fire time; a new or changed one starts from now (no catch-up of past fire times)."""
        self._loaded_at = time.monotonic()
        try:
            ctx = get_context()
            with ctx.engine.connect() as conn:
                found = [s for s in load_schedules(conn, ctx.settings) if s.enabled]
        except Exception:  # keep beating with the schedules we have
            log.exception("beat: could not load the schedules; keeping the previous ones")
            return
        wanted = {f"stocksync.{s.name}": s for s in found}
        changed = False
        for key in set(self.schedule) - set(wanted):
            del self.schedule[key]
            changed = True
        for key, schedule in wanted.items():
            entry = self._entry(key, schedule)
            current = self.schedule.get(key)
            if current is None or current.schedule != entry.schedule:
                self.schedule[key] = entry
                changed = True
        if changed:
            self._heap = None  # recompute every entry's next fire time
            log.info(
                "beat: schedules %s",
                ", ".join(f"{s.name} '{s.cron.text}' {s.timezone.key}" for s in found) or "none",
            )

    def _entry(self, key: str, schedule: Schedule) -> ScheduleEntry:
        cron = CronSchedule(schedule.cron, schedule.timezone, app=self.app)
        return self.Entry(
            name=key,
            task=FIRE_TASK,
            schedule=cron,
            args=(schedule.name, BeatLazyFunc(cron.slot)),
            app=self.app,
        )
