"""The CLI's commands. Each parses its flags, calls stocksync services, and renders."""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from rich.console import Console
from rich.markup import escape

from cli import processes, render, safety
from stocksync.config import Settings, get_settings
from stocksync.context import Context, build_context
from stocksync.embedded import embedded_status, resolve_service_urls, stop_embedded
from stocksync.errors import InvalidRequest, NotFound, RunConflict, ServiceUnavailable
from stocksync.market.stats import coverage, storage_stats
from stocksync.market.universe import listed_on, trading_days
from stocksync.runs import control
from stocksync.runs import service as runs
from stocksync.runs.finalize import finalize_run
from stocksync.sources.status import source_statuses
from stocksync.storage.migrate import upgrade

EXIT_OK, EXIT_RUN_ERRORS, EXIT_INVALID, EXIT_CONFLICT, EXIT_UNAVAILABLE = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130

console = Console()
err = Console(stderr=True)


def _friendly_errors(func: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    @wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except InvalidRequest as exc:
            err.print(f"[red]error:[/red] {exc.message}")
            return EXIT_INVALID
        except NotFound as exc:
            err.print(f"[red]error:[/red] {exc}")
            return EXIT_INVALID
        except RunConflict as exc:
            err.print(f"[yellow]conflict:[/yellow] {exc}")
            return EXIT_CONFLICT
        except (ServiceUnavailable, ValueError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            return EXIT_UNAVAILABLE

    return wrapper


def _settings() -> Settings:
    return get_settings()


def _workers_online(ctx: Context) -> int:
    from workers.app import app

    try:
        return len(app.control.ping(timeout=1.0) or [])
    except Exception:
        return 0


@_friendly_errors
def sync(args: argparse.Namespace) -> int:
    settings = _settings()
    ctx = build_context(settings, migrate=True)
    err.print(f"[dim]{ctx.urls.describe_store()}[/dim]")
    body: dict[str, Any] = {"kind": args.kind}
    if args.start:
        body["start_date"] = args.start
    if args.end:
        body["end_date"] = args.end
    if args.days_back is not None:
        body["days_back"] = args.days_back
    if args.datasets:
        body["datasets"] = args.datasets
    if args.symbols:
        body["symbols"] = args.symbols
    body["periods"] = args.periods
    if args.source:
        body["sources"] = [name.strip() for name in args.source.split(",") if name.strip()]
    body["force"] = bool(args.force)
    spec = runs.parse_spec(ctx, body)
    if args.dry_run:
        preview = {**runs.preview_run(ctx, spec), "store": ctx.store}
        console.print_json(json.dumps(preview)) if args.json else render.preview(console, preview)
        return EXIT_OK

    from workers.app import app
    from workers.dispatch import CeleryDispatcher

    spawned = []
    if _workers_online(ctx) == 0:
        count = args.workers or 1
        spawned = processes.start_workers(
            settings, ctx.urls, count=count, role="sync", loglevel="WARNING"
        )
        err.print(
            f"[dim]started {count} local worker process(es) × {settings.worker_concurrency}; "
            f"log: {processes.worker_log(settings)}[/dim]"
        )
    interrupted = False
    previous = signal.getsignal(signal.SIGINT)
    try:
        runs.prepare_run(ctx, spec)
        run_id = runs.start_run(ctx, spec, trigger="cli")
        try:
            created = runs.plan_started_run(ctx, run_id, CeleryDispatcher(app))
        except KeyboardInterrupt:  # the library cancelled it: nothing was fetched for it yet
            created, interrupted = None, True
        if created is None:  # cancelled while it was being planned
            view = runs.run_view(ctx, run_id)
        else:
            err.print(
                f"run [bold]{created.run_id}[/bold]: {created.total} units "
                f"({created.pending} to do, {created.skipped} already synced)"
            )
            try:
                shown_on = err if args.json else console  # --json: stdout carries JSON alone
                view = render.follow(shown_on, lambda: _poll(ctx, run_id), spawned)
            except KeyboardInterrupt:
                interrupted = True
                view = runs.run_view(ctx, run_id)
            except render.WorkersGone as exc:
                err.print(f"[red]error:[/red] {exc}")
                return EXIT_UNAVAILABLE
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for proc in spawned:
            processes.stop(proc)
        signal.signal(signal.SIGINT, previous)
    if args.json:
        console.print_json(json.dumps(view))
    else:
        render.summary(console, view)
    if interrupted:
        err.print(f"[yellow]interrupted; run {view['id']} keeps its finished units[/yellow]")
        return EXIT_INTERRUPTED
    return EXIT_OK if view["status"] == "success" else EXIT_RUN_ERRORS


def _poll(ctx: Context, run_id: int) -> dict[str, Any]:
    view = runs.run_view(ctx, run_id)
    if view["status"] in ("pending", "running") and view["pending"] == 0:
        finalize_run(ctx, run_id)  # the last worker may have died between commit and finish
        view = runs.run_view(ctx, run_id)
    return view


@_friendly_errors
def status(args: argparse.Namespace) -> int:
    ctx = build_context(_settings(), migrate=True)
    if args.run is not None and args.dates:
        summary = runs.date_summary(ctx, args.run)
        console.print_json(json.dumps(summary)) if args.json else render.dates(console, summary)
        return EXIT_OK
    if args.run is not None and args.items:
        listing = runs.list_items(ctx, args.run, status=args.items, page=1, per_page=500)
        if args.json:
            console.print_json(json.dumps(listing))
        else:
            render.items(console, listing)
        return EXIT_OK
    if args.run is not None:
        view = runs.run_view(ctx, args.run)
        console.print_json(json.dumps(view)) if args.json else render.summary(console, view)
        return EXIT_OK
    listing = runs.list_runs(ctx, page=1, per_page=20)
    console.print_json(json.dumps(listing)) if args.json else render.run_list(console, listing)
    return EXIT_OK


@_friendly_errors
def steer(args: argparse.Namespace) -> int:
    from workers.app import app
    from workers.dispatch import CeleryDispatcher

    ctx = build_context(_settings(), migrate=True)
    if args.action == "resume":
        result = control.resume(ctx, args.run, CeleryDispatcher(app))
    elif args.action == "retry":
        result = control.retry_failed(ctx, args.run, CeleryDispatcher(app))
    elif args.action == "pause":
        result = {"run": control.pause(ctx, args.run)}
    elif args.action == "reset":
        reset = control.reset_failed(ctx, args.run)
        result = {"run_id": args.run, "reset": reset, "run": runs.run_view(ctx, args.run)}
    else:
        result = {"run": control.cancel(ctx, args.run)}
    if args.json:
        console.print_json(json.dumps(result))
    else:
        if "reset" in result:
            console.print(f"{result['reset']} failed unit(s) back to pending (not queued)")
        if "requeued" in result:
            console.print(f"{result['requeued']} unit(s) queued; workers must be running "
                          "(stocksync up, or celery -A workers worker)")  # fmt: skip
        render.summary(console, result["run"])
    return EXIT_OK


@_friendly_errors
def clear(args: argparse.Namespace) -> int:
    result = control.clear(build_context(_settings(), migrate=True), args.run)
    if args.json:
        console.print_json(json.dumps(result))
    else:
        console.print(f"run {result['run_id']} cleared: {result['deleted_items']} unit(s) deleted")
    return EXIT_OK


@_friendly_errors
def sources(args: argparse.Namespace) -> int:
    ctx = build_context(_settings(), migrate=True)
    statuses = source_statuses(ctx)
    console.print_json(json.dumps(statuses)) if args.json else render.sources(console, statuses)
    return EXIT_OK


@_friendly_errors
def list_runs(args: argparse.Namespace) -> int:
    ctx = build_context(_settings(), migrate=True)
    listing = runs.list_runs(ctx, page=args.page, per_page=args.per_page)
    console.print_json(json.dumps(listing)) if args.json else render.run_list(console, listing)
    return EXIT_OK


@_friendly_errors
def stats(args: argparse.Namespace) -> int:
    ctx = build_context(_settings(), migrate=True)
    if args.coverage:
        covered = coverage(ctx, args.start, args.end)
        console.print_json(json.dumps(covered)) if args.json else render.coverage(console, covered)
        return EXIT_OK
    data = {**storage_stats(ctx), "store": ctx.store}
    console.print_json(json.dumps(data)) if args.json else render.stats(console, data)
    return EXIT_OK


@_friendly_errors
def universe(args: argparse.Namespace) -> int:
    ctx = build_context(_settings(), migrate=True)
    listed = listed_on(ctx, args.date, args.index)
    console.print_json(json.dumps(listed)) if args.json else render.universe(console, listed)
    return EXIT_OK


@_friendly_errors
def calendar(args: argparse.Namespace) -> int:
    ctx = build_context(_settings(), migrate=True)
    days = trading_days(ctx, args.start, args.end)
    console.print_json(json.dumps(days)) if args.json else render.calendar(console, days)
    return EXIT_OK


@_friendly_errors
def db_upgrade(args: argparse.Namespace) -> int:
    urls = resolve_service_urls(_settings())
    upgrade(urls.database_url)
    console.print("database is at the latest revision")
    return EXIT_OK


@_friendly_errors
def services_start(args: argparse.Namespace) -> int:
    urls = resolve_service_urls(_settings())
    console.print(f"PostgreSQL: {urls.database_url}\nRedis:      {urls.redis_url}")
    return EXIT_OK


@_friendly_errors
def services_stop(args: argparse.Namespace) -> int:
    for line in stop_embedded(_settings()):
        console.print(line)
    return EXIT_OK


@_friendly_errors
def services_status(args: argparse.Namespace) -> int:
    console.print_json(json.dumps(embedded_status(_settings()), default=str))
    return EXIT_OK


@_friendly_errors
def up(args: argparse.Namespace) -> int:
    settings = _settings()
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    if problem := safety.exposure_problem(host, settings.api_token):
        err.print(f"[red]error:[/red] {escape(problem)}")
        return EXIT_INVALID
    urls = resolve_service_urls(settings)
    upgrade(urls.database_url)
    children = [processes.start_api(processes.child_env(settings, urls), host=host, port=port)]
    children += processes.start_workers(settings, urls, count=args.workers or 1, role="up")
    children.append(processes.start_beat(settings, urls))
    console.print(
        f"stocksync is up: progress page http://{host}:{port}/ · API http://{host}:{port}/api/v1"
        f" · {urls.describe_store()} · PostgreSQL {urls.database_url}"
        f" · Redis {urls.redis_url}\nworker log: {processes.worker_log(settings)}"
        f" · beat (schedules) log: {processes.beat_log(settings)} · Ctrl-C stops everything"
    )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        err.print("[red]a child process exited; shutting down[/red]")
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        console.print("stopping…")
        return EXIT_OK
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in children:
            processes.stop(child)
