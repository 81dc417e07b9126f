"""Fire a schedule: start its run, or record why it did not start — never lose a slot silently.

Beat sends ``(name, slot)`` once per fire time; the per-slot claim in Redis makes a second
delivery (a redelivered message, a second beat) do nothing, so one slot starts at most one run.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from stocksync.context import Context
from stocksync.datasets import trade_calendar as reference
from stocksync.datasets.refresh import ensure_calendar
from stocksync.domain import Period, RunStatus
from stocksync.errors import InvalidRequest, RunConflict, StocksyncError
from stocksync.runs import ledger
from stocksync.runs import service as runs
from stocksync.runs.dispatch import Dispatcher
from stocksync.runs.spec import RunSpec
from stocksync.schedules.definitions import Schedule, get_schedule

log = logging.getLogger(__name__)

# A claim outlives any duplicate delivery (seconds apart) but lapses well before the broker's
# visibility timeout, so a message redelivered after its worker died mid-fire fires the slot.
CLAIM_TTL_S = 15 * 60
FIRED_TTL_S = 2 * 24 * 3600


def fired_key(name: str, slot: dt.datetime) -> str:
    """The Redis key that records that ``slot`` of schedule ``name`` was fired."""
    return f"stocksync:schedule:fired:{name}:{slot.astimezone(dt.UTC).isoformat()}"


def fire_schedule(
    ctx: Context, name: str, slot: dt.datetime, dispatcher: Dispatcher, *, manual: bool = False
) -> dict[str, Any]:
    """Start schedule ``name``'s run for fire time ``slot`` (an aware datetime).

    Returns ``{"schedule", "slot", "outcome", "run_id", "message"}``. The outcome is
    ``started``; ``skipped`` (another run active — then ``active_run_id`` is set too —, not a
    trading day, nothing to do) or ``failed``, both recorded as a run; ``duplicate`` (this slot
    was already fired) or ``disabled``. ``manual`` (run now) skips the slot claim, the switch and
    the trading-day check."""
    with ctx.engine.connect() as conn:
        schedule = get_schedule(conn, ctx.settings, name)
    slot = slot.astimezone(schedule.timezone)
    outcome = {"schedule": name, "slot": slot.isoformat(), "run_id": None}
    if not manual and not schedule.enabled:
        return outcome | {"outcome": "disabled", "message": f"schedule {name} is disabled"}
    key = fired_key(name, slot)
    if not manual and not ctx.redis.set(key, "claimed", nx=True, ex=CLAIM_TTL_S):
        return outcome | {"outcome": "duplicate", "message": f"slot {slot} was already fired"}
    try:
        result = outcome | _fire(ctx, schedule, slot, dispatcher, manual=manual)
    except BaseException:
        if not manual:
            ctx.redis.delete(key)  # not fired: a later delivery may try again
        raise
    if not manual:
        ctx.redis.set(key, f"run:{result['run_id']}", ex=FIRED_TTL_S)
    log.info("schedule %s, slot %s: %s (%s)", name, slot, result["outcome"], result["message"])
    return result


def _fire(
    ctx: Context, schedule: Schedule, slot: dt.datetime, dispatcher: Dispatcher, *, manual: bool
) -> dict[str, Any]:
    origin = "run now" if manual else f"slot {slot.isoformat()}"
    try:
        spec = runs.parse_spec(ctx, schedule.body)
    except InvalidRequest as exc:
        message = f"schedule {schedule.name} ({origin}): its body is invalid: {exc.message}"
        return _record(ctx, schedule, _placeholder(schedule, slot), RunStatus.FAILED, message)
    day = slot.date()
    try:
        trading = manual or not schedule.trading_days_only or _is_trading_day(ctx, spec, day)
    except StocksyncError as exc:
        message = f"schedule {schedule.name} ({origin}): no trading calendar for {day}: {exc}"
        return _record(ctx, schedule, spec, RunStatus.FAILED, message)
    if not trading:
        message = f"schedule {schedule.name} ({origin}): {day} is not a trading day"
        return _record(ctx, schedule, spec, RunStatus.SKIPPED, message)
    try:
        created = runs.create_run(ctx, spec, dispatcher, trigger=schedule.trigger)
    except RunConflict as exc:
        active = f"run {exc.active_run_id}" if exc.active_run_id is not None else "another run"
        message = f"schedule {schedule.name} ({origin}): skipped, {active} was active"
        recorded = _record(ctx, schedule, spec, RunStatus.SKIPPED, message)
        return recorded | {"active_run_id": exc.active_run_id}
    except InvalidRequest as exc:
        message = f"schedule {schedule.name} ({origin}): skipped, {exc.message}"
        return _record(ctx, schedule, spec, RunStatus.SKIPPED, message)
    except StocksyncError as exc:
        message = f"schedule {schedule.name} ({origin}): could not start: {exc}"
        return _record(ctx, schedule, spec, RunStatus.FAILED, message)
    return {
        "outcome": "started",
        "run_id": created.run_id,
        "message": f"schedule {schedule.name} ({origin}): run {created.run_id} started, "
        f"{created.pending} units queued, {created.skipped} already synced",
    }


def _is_trading_day(ctx: Context, spec: RunSpec, day: dt.date) -> bool:
    sources = [ctx.sources.get(name) for name in spec.sources]
    ensure_calendar(ctx.engine, sources, day, day)
    with ctx.engine.connect() as conn:
        return bool(reference.load_trading_days(conn, day, day))


def _placeholder(schedule: Schedule, slot: dt.datetime) -> RunSpec:
    """The spec recorded for a fire whose body no longer validates."""
    kind = schedule.body.get("kind")
    day = slot.date()
    return RunSpec(
        day, day, None, (Period.DAILY,), (), kind=kind if isinstance(kind, str) else "range"
    )


def _record(
    ctx: Context, schedule: Schedule, spec: RunSpec, status: RunStatus, message: str
) -> dict[str, Any]:
    """A run row that says why this fire started nothing (it holds no lock and no units)."""
    now = dt.datetime.now(dt.UTC)
    with ctx.engine.begin() as conn:
        run_id = ledger.insert_run(
            conn, spec, status=status, fence=None, message=message, trigger=schedule.trigger
        )
        error = message if status is RunStatus.FAILED else None
        ledger.update_run(
            conn, run_id, started_at=now, finished_at=now, duration_s=0.0, error=error
        )
    outcome = "skipped" if status is RunStatus.SKIPPED else "failed"
    return {"outcome": outcome, "run_id": run_id, "message": message}
