"""``stocksync schedules``: list the beat schedules, change one, or run one now."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from rich.markup import escape
from rich.table import Table

from cli.commands import (
    EXIT_CONFLICT,
    EXIT_OK,
    EXIT_RUN_ERRORS,
    _friendly_errors,
    _settings,
    console,
)
from stocksync.context import build_context
from stocksync.errors import InvalidRequest
from stocksync.schedules import definitions as schedules
from stocksync.schedules import firing as scheduling


def add_parser(sub: Any) -> None:
    """Register ``schedules``, ``schedules set`` and ``schedules run`` on ``sub``."""
    parser = sub.add_parser("schedules", help="beat schedules: list, change, run now")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=list_schedules)
    verbs = parser.add_subparsers(dest="schedules_command")
    change = verbs.add_parser("set", help="change a schedule's cron, switch or run body")
    change.add_argument("name", help="daily, weekly, monthly or gap_check")
    change.add_argument("--cron", help="five fields, e.g. '30 17 * * 1-5'; 'default' resets it")
    switch = change.add_mutually_exclusive_group()
    switch.add_argument("--enable", dest="enabled", action="store_const", const=True)
    switch.add_argument("--disable", dest="enabled", action="store_const", const=False)
    change.add_argument("--body", help="run request as JSON (as POST /api/v1/runs); 'default'")
    change.add_argument("--json", action="store_true")
    change.set_defaults(func=set_schedule)
    run = verbs.add_parser("run", help="fire a schedule now (workers must be running)")
    run.add_argument("name", help="daily, weekly, monthly or gap_check")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=run_schedule)


@_friendly_errors
def list_schedules(args: argparse.Namespace) -> int:
    views = schedules.list_schedules(build_context(_settings(), migrate=True))
    console.print_json(json.dumps(views)) if args.json else _table(views)
    return EXIT_OK


@_friendly_errors
def set_schedule(args: argparse.Namespace) -> int:
    changes: dict[str, Any] = {}
    if args.cron is not None:
        changes["cron"] = None if args.cron == "default" else args.cron
    if args.enabled is not None:
        changes["enabled"] = args.enabled
    if args.body is not None:
        changes["body"] = None if args.body == "default" else _json(args.body)
    if not changes:
        raise InvalidRequest("nothing to change: give --cron, --enable/--disable or --body")
    view = schedules.update_schedule(build_context(_settings(), migrate=True), args.name, changes)
    console.print_json(json.dumps(view)) if args.json else _table([view])
    return EXIT_OK


@_friendly_errors
def run_schedule(args: argparse.Namespace) -> int:
    from workers.app import app
    from workers.dispatch import CeleryDispatcher

    ctx = build_context(_settings(), migrate=True)
    now = dt.datetime.now(dt.UTC)
    outcome = scheduling.fire_schedule(ctx, args.name, now, CeleryDispatcher(app), manual=True)
    if args.json:
        console.print_json(json.dumps(outcome))
    else:
        console.print(escape(outcome["message"]))
        if outcome["outcome"] == "started":
            console.print("follow it with: stocksync status " + str(outcome["run_id"]))
    if outcome["outcome"] == "failed":
        return EXIT_RUN_ERRORS
    return EXIT_CONFLICT if "active_run_id" in outcome else EXIT_OK


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"--body is not valid JSON: {exc}", field="body") from None


def _table(views: list[dict[str, Any]]) -> None:
    table = Table(title="schedules")
    for column in ("name", "cron", "timezone", "enabled", "next run", "last run", "runs"):
        table.add_column(column)
    for v in views:
        last = v["last_run"]
        table.add_row(
            v["name"], v["cron"], v["timezone"], "yes" if v["enabled"] else "[yellow]no[/yellow]",
            v["next_run_at"] or "—",
            f"{last['id']} {last['status']} {last['created_at'][:16]}" if last else "—",
            escape(json.dumps(v["body"])),
        )  # fmt: skip
    console.print(table)
