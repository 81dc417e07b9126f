"""Terminal rendering: the live progress bar, the summary table, run lists."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

ACTIVE = ("planning", "pending", "running", "paused")


class WorkersGone(RuntimeError):
    """Every worker process the CLI started has exited while the run was still active."""


def follow(
    console: Console,
    poll: Callable[[], dict[str, Any]],
    workers: Sequence[subprocess.Popen[bytes]],
    interval_s: float = 0.5,
) -> dict[str, Any]:
    """Show a live progress bar until the run leaves the active statuses; returns its view."""
    view = poll()
    columns = (
        TextColumn("[bold]run {task.fields[run]}[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("ok {task.fields[ok]} · failed {task.fields[failed]} · "
                   "skipped {task.fields[skipped]} · {task.fields[date]} · ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("sync", total=view["total"], completed=view["done"], **_fields(view))
        while view["status"] in ACTIVE:
            if workers and all(w.poll() is not None for w in workers):
                raise WorkersGone("the local worker processes exited; see the worker log")
            time.sleep(interval_s)
            view = poll()
            bar.update(task, total=view["total"], completed=view["done"], **_fields(view))
    return view


def _fields(view: dict[str, Any]) -> dict[str, Any]:
    eta = view.get("eta_s")
    return {
        "run": view["id"],
        "ok": view["success"],
        "failed": view["failed"],
        "skipped": view["skipped"],
        "date": view.get("current_date") or "—",
        "eta": "—" if eta is None else f"{eta:.0f}s",
    }


def summary(console: Console, view: dict[str, Any]) -> None:
    """The final (or current) state of one run as a table."""
    colour = {"success": "green", "success_with_errors": "yellow", "failed": "red"}.get(
        view["status"], "cyan"
    )
    table = Table(title=f"run {view['id']}", show_header=False)
    table.add_row("status", f"[{colour}]{view['status']}[/{colour}]")
    if view.get("store"):
        table.add_row("store", view["store"])
    spec = view["spec"]
    table.add_row(
        "range", f"{spec['start_date']} → {spec['end_date']} ({', '.join(spec['periods'])})"
    )
    table.add_row("units", f"{view['total']} total · {view['success']} ok · {view['failed']} failed"
                  f" · {view['skipped']} skipped · {view['pending']} pending")  # fmt: skip
    table.add_row("rows written", str(view["rows_written"]))
    if view.get("duration_s") is not None:
        table.add_row("duration", f"{view['duration_s']:.1f} s")
    if view.get("message"):
        table.add_row("message", str(view["message"]))
    if view.get("error"):
        table.add_row("error", f"[red]{view['error']}[/red]")
    console.print(table)


def preview(console: Console, data: dict[str, Any]) -> None:
    table = Table(title="plan preview", show_header=False)
    for key, value in data.items():
        if key == "unserved":
            continue
        if key == "datasets":
            value = ", ".join(f"{name} ({n} units)" for name, n in value.items()) or "none"
        table.add_row(key, str(value))
    console.print(table)
    for name, why in data.get("unserved", {}).items():
        console.print(f"[yellow]not synced: {name}: {why}[/yellow]")


def run_list(console: Console, listing: dict[str, Any]) -> None:
    where = f" in the {listing['store']} store" if listing.get("store") else ""
    table = Table(title=f"runs{where} ({listing['total']} in all)")
    for column in ("id", "status", "range", "ok", "failed", "skipped", "rows", "finished"):
        table.add_column(column)
    for run in listing["items"]:
        table.add_row(
            str(run["id"]), run["status"], f"{run['start_date']} → {run['end_date']}",
            str(run["success"]), str(run["failed"]), str(run["skipped"]),
            str(run["rows_written"]), run["finished_at"] or "—",
        )  # fmt: skip
    console.print(table)


def sources(console: Console, statuses: list[dict[str, Any]]) -> None:
    table = Table(title="sources (highest priority first)")
    for column in ("#", "name", "available", "calls/min", "circuit", "last error"):
        table.add_column(column)
    for s in statuses:
        ok = s.get("available")
        available = "[green]yes[/green]" if ok else f"[red]no[/red] {s.get('reason', '')}"
        last = s.get("last_error")
        table.add_row(
            str(s["priority"]), s["name"], available, str(s.get("calls_per_minute") or "—"),
            s["circuit_detail"], f"{last['at']}: {last['message']}" if last else "—",
        )  # fmt: skip
    console.print(table)


def items(console: Console, listing: dict[str, Any]) -> None:
    table = Table(title=f"units ({listing['total']} matching)")
    for column in ("id", "unit", "status", "attempts", "source", "rows", "error"):
        table.add_column(column)
    for i in listing["items"]:
        table.add_row(
            str(i["id"]), i["unit"], i["status"], str(i["attempts"]), i["source"] or "—",
            str(i["rows"]), i["error"] or "",
        )  # fmt: skip
    console.print(table)


def stats(console: Console, data: dict[str, Any]) -> None:
    where = f" ({data['store']} store)" if data.get("store") else ""
    table = Table(title=f"stored bars{where}")
    for column in ("period", "source", "rows", "stocks", "first", "latest"):
        table.add_column(column)
    for b in data["bars"]:
        table.add_row(b["period"], b["source"], str(b["rows"]), str(b["stocks"]),
                      b["first_date"], b["latest_date"])  # fmt: skip
    console.print(table)
    for name, what in (("index_bars", "indices"), ("minute_bars", "stocks")):
        if data.get(name):
            console.print(_per_period_table(f"stored {name.replace('_', ' ')}{where}",
                                            data[name], what))  # fmt: skip
    for name in ("adj_factors", "valuations", "index_members", "corporate_actions", "profiles",
                 "financials", "adj_factor_revisions"):
        info = data[name]
        console.print(f"{name}: {info['rows']} rows, latest {info['latest_date'] or '—'}")


def _per_period_table(title: str, rows: list[dict[str, Any]], what: str) -> Table:
    table = Table(title=title)
    for column in ("period", "source", "rows", what, "first", "latest"):
        table.add_column(column)
    for b in rows:
        table.add_row(b["period"], b["source"], str(b["rows"]), str(b[what]), b["first_date"],
                      b["latest_date"])  # fmt: skip
    return table


def dates(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title=f"run {summary['run_id']} per trade date")
    for column in ("period", "date", "total", "success", "failed", "skipped", "pending", "rate %",
                   "first", "last"):  # fmt: skip
        table.add_column(column)
    for d in summary["dates"]:
        rate = d["success_rate"]
        table.add_row(
            d["period"], d["date"] or "(ranges)", str(d["total"]), str(d["success"]),
            str(d["failed"]), str(d["skipped"]), str(d["pending"]),
            "—" if rate is None else f"{rate:.1f}", (d["first_at"] or "—")[:19],
            (d["last_at"] or "—")[:19],
        )  # fmt: skip
    console.print(table)


def coverage(console: Console, data: dict[str, Any]) -> None:
    table = Table(title=f"coverage {data['start']} … {data['end']} (stocks per trade date)")
    for column in ("trade date", "bars", "adj_factors", "valuations"):
        table.add_column(column)
    for d in data["dates"]:
        table.add_row(d["trade_date"], str(d["bars"]), str(d["adj_factors"]), str(d["valuations"]))
    console.print(table)


def universe(console: Console, listed: dict[str, Any]) -> None:
    if "index" in listed:
        title = (f"{listed['count']} members of {listed['index']} on {listed['date']} "
                 f"(snapshot {listed['snapshot']})")  # fmt: skip
        table = Table(title=title)
        for column in ("code", "name", "weight %"):
            table.add_column(column)
        for s in listed["stocks"]:
            weight = "—" if s["weight"] is None else f"{s['weight']:.4f}"
            table.add_row(s["code"], s["name"] or "", weight)
        console.print(table)
        return
    table = Table(title=f"{listed['count']} stocks listed on {listed['date']}")
    for column in ("code", "name", "exchange", "board", "listed"):
        table.add_column(column)
    for s in listed["stocks"]:
        table.add_row(s["code"], s["name"], s["exchange"], s["board"], s["list_date"])
    console.print(table)


def calendar(console: Console, days: dict[str, Any]) -> None:
    console.print(f"{days['count']} trading days from {days['start']} to {days['end']}")
    for day in days["trading_days"]:
        console.print(day)
