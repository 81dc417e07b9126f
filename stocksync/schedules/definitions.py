"""The beat schedules: five built-in runs whose cron, switch and request body a user may change.

Defaults come from the settings (``STOCKSYNC_SCHEDULE_*``); a change made through the API or CLI
is stored in the ``schedules`` table and wins over the default until it is reset (null).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from stocksync.config import Settings
from stocksync.context import Context
from stocksync.errors import InvalidRequest, NotFound
from stocksync.runs import service as runs
from stocksync.runs.ledger import RunRecord
from stocksync.runs.schemas import SCHEDULE_UPDATE, validate
from stocksync.schedules import store
from stocksync.schedules.cron import Cron, parse_cron

UPDATABLE_FIELDS = tuple(SCHEDULE_UPDATE["properties"])


@dataclass(frozen=True)
class BuiltIn:
    """A schedule stocksync ships: what it runs, and which setting holds its default cron."""

    name: str
    description: str
    cron_setting: str
    body: Mapping[str, Any]
    trading_days_only: bool = False


EVERY_FACT = ["bars", "adj_factors", "valuations", "index_bars", "index_members"]
STOCK_EVENTS = ["corporate_actions", "profiles", "financials"]

BUILT_INS: dict[str, BuiltIn] = {
    b.name: b
    for b in (
        BuiltIn(
            "daily",
            "daily bars, factors, valuations and index bars after the close, from each stock's "
            "(and index's) last stored bar, and a month's index members once it has ended",
            "schedule_daily",
            {"kind": "incremental", "periods": ["daily"], "datasets": EVERY_FACT},
            trading_days_only=True,
        ),
        BuiltIn(
            "weekly",
            "weekly bars (stocks and indices) of the last two weeks",
            "schedule_weekly",
            {
                "kind": "incremental",
                "periods": ["weekly"],
                "days_back": 14,
                "datasets": ["bars", "index_bars"],
            },
        ),
        BuiltIn(
            "monthly",
            "monthly bars (stocks and indices) and index members of the last two months",
            "schedule_monthly",
            {
                "kind": "incremental",
                "periods": ["monthly"],
                "days_back": 62,
                "datasets": ["bars", "index_bars", "index_members"],
            },
        ),
        BuiltIn(
            "events",
            "corporate actions, profile changes and financial reports of the last two weeks, "
            "one unit per stock",
            "schedule_events",
            {
                "kind": "incremental",
                "periods": ["daily"],
                "days_back": 14,
                "datasets": STOCK_EVENTS,
            },
        ),
        BuiltIn(
            "gap_check",
            "daily bars, factors, valuations, index bars and members, corporate actions, "
            "profiles and financials over the whole history: fetches only what no earlier unit "
            "stored, dataset by dataset",
            "schedule_gap_check",
            {"kind": "all_history", "periods": ["daily"], "datasets": EVERY_FACT + STOCK_EVENTS},
        ),
    )
}


@dataclass(frozen=True)
class Schedule:
    """One schedule as it is in force: defaults with the stored override applied."""

    name: str
    description: str
    cron: Cron
    timezone: ZoneInfo
    enabled: bool
    trading_days_only: bool
    body: dict[str, Any]
    overridden: tuple[str, ...]  # which of cron, enabled, body differ from the default

    @property
    def trigger(self) -> str:
        """What runs started by this schedule record as their trigger."""
        return f"schedule:{self.name}"


def schedule_timezone(settings: Settings) -> ZoneInfo:
    """The timezone the cron expressions are read in (``STOCKSYNC_SCHEDULE_TIMEZONE``)."""
    try:
        return ZoneInfo(settings.schedule_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"STOCKSYNC_SCHEDULE_TIMEZONE {settings.schedule_timezone!r} is not a known "
            "timezone (e.g. Asia/Shanghai)"
        ) from None


def _default_cron(settings: Settings, builtin: BuiltIn) -> Cron:
    text = getattr(settings, builtin.cron_setting)
    try:
        return parse_cron(text)
    except InvalidRequest as exc:
        variable = f"STOCKSYNC_{builtin.cron_setting.upper()}"
        raise ValueError(f"{variable}: {exc.message}") from None


def _resolve(
    settings: Settings, builtin: BuiltIn, saved: store.ScheduleOverride | None
) -> Schedule:
    overridden: list[str] = []
    cron = _default_cron(settings, builtin)
    body = dict(builtin.body)
    enabled = True
    if saved is not None:
        if saved.cron is not None:
            cron, overridden = parse_cron(saved.cron), [*overridden, "cron"]
        if not saved.enabled:
            enabled, overridden = False, [*overridden, "enabled"]
        if saved.body is not None:
            body, overridden = dict(saved.body), [*overridden, "body"]
    return Schedule(
        name=builtin.name,
        description=builtin.description,
        cron=cron,
        timezone=schedule_timezone(settings),
        enabled=enabled,
        trading_days_only=builtin.trading_days_only,
        body=body,
        overridden=tuple(overridden),
    )


def load_schedules(conn: Connection, settings: Settings) -> list[Schedule]:
    """Every schedule as it is in force, in a fixed order (daily, weekly, monthly, gap_check)."""
    saved = store.load_overrides(conn)
    return [_resolve(settings, b, saved.get(b.name)) for b in BUILT_INS.values()]


def get_schedule(conn: Connection, settings: Settings, name: str) -> Schedule:
    """One schedule in force; NotFound for a name stocksync does not know."""
    builtin = BUILT_INS.get(name)
    if builtin is None:
        raise NotFound(f"schedule {name!r} does not exist; schedules: {', '.join(BUILT_INS)}")
    return _resolve(settings, builtin, store.load_overrides(conn).get(name))


def update_schedule(ctx: Context, name: str, changes: object) -> dict[str, Any]:
    """Apply ``{"cron"?, "enabled"?, "body"?}`` to schedule ``name`` (null resets cron or body to
    the default) and return its view. InvalidRequest for a bad cron, body or field."""
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidRequest("send a JSON object with any of: " + ", ".join(UPDATABLE_FIELDS))
    # The body is checked by the run request parser itself, for its own clear messages.
    validate({**changes, "body": None} if "body" in changes else changes, SCHEDULE_UPDATE)
    if changes.get("cron") is not None:
        parse_cron(changes["cron"])
    if changes.get("body") is not None:
        try:
            runs.parse_spec(ctx, changes["body"])
        except InvalidRequest as exc:
            raise InvalidRequest(f"body: {exc.message}", field="body") from None
    with ctx.engine.begin() as conn:
        current = get_schedule(conn, ctx.settings, name)
        saved = store.load_overrides(conn).get(name)
        cron = saved.cron if saved else None
        body = saved.body if saved else None
        if "cron" in changes:
            cron = " ".join(changes["cron"].split()) if changes["cron"] is not None else None
        if "body" in changes:
            body = dict(changes["body"]) if changes["body"] is not None else None
        enabled = changes.get("enabled", current.enabled)
        store.save_override(conn, name, cron=cron, enabled=enabled, body=body)
    return schedule_view(ctx, name)


def describe(schedule: Schedule, last: RunRecord | None, now: dt.datetime) -> dict[str, Any]:
    """A schedule as the API and CLI show it."""
    next_run = schedule.cron.next_fire(now, schedule.timezone) if schedule.enabled else None
    return {
        "name": schedule.name,
        "description": schedule.description,
        "cron": schedule.cron.text,
        "timezone": schedule.timezone.key,
        "enabled": schedule.enabled,
        "trading_days_only": schedule.trading_days_only,
        "body": schedule.body,
        "overridden": list(schedule.overridden),
        "next_run_at": next_run.isoformat() if next_run else None,
        "last_run": None
        if last is None
        else {
            "id": last.id,
            "status": last.status.value,
            "created_at": last.created_at.isoformat(),
            "message": last.message,
            "link": f"/api/v1/runs/{last.id}",
        },
    }


def list_schedules(ctx: Context) -> list[dict[str, Any]]:
    """Every schedule's view: cron, timezone, switch, body, next run and last run."""
    now = dt.datetime.now(dt.UTC)
    with ctx.engine.connect() as conn:
        return [
            describe(s, store.last_run(conn, s.trigger), now)
            for s in load_schedules(conn, ctx.settings)
        ]


def schedule_view(ctx: Context, name: str) -> dict[str, Any]:
    """One schedule's view; NotFound for an unknown name."""
    with ctx.engine.connect() as conn:
        schedule = get_schedule(conn, ctx.settings, name)
        return describe(schedule, store.last_run(conn, schedule.trigger), dt.datetime.now(dt.UTC))
