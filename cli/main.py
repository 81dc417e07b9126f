"""``stocksync`` entry point: parses the command line and hands off to a command module.

SIGTERM and SIGHUP (systemd, supervisors, ``docker stop``, a closed terminal) take the same
path as Ctrl-C, and every child process the command started is stopped however it ends."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

import redis.exceptions
import sqlalchemy.exc
from rich.markup import escape

from cli import commands, processes
from cli import company as company_cli
from cli import export as export_command
from cli import schedules as schedules_cli
from stocksync.config import (
    MAIN_STORE,
    REAL_SOURCES_BY_PRIORITY,
    SIM_SOURCE,
    SIM_STORE,
    STORES,
    use_store,
)

# Commands that read or write one store's data, and so take --store.
STORE_COMMANDS = (
    "sync", "runs", "status", "clear", "resume", "retry", "pause", "cancel", "reset", "up",
    "sources", "stats", "export", "universe", "calendar", "actions", "profile", "financials",
    "check-factors", "check-minutes",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stocksync",
        description="Resumable, observable sync of A-share market data into PostgreSQL.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sync = sub.add_parser("sync", help="sync bars for a date range, with a live progress bar")
    sync.add_argument(
        "--kind", choices=("range", "all_history", "incremental"), default="range",
        help="range (needs --start/--end, at most 90 days), all_history, or incremental",
    )  # fmt: skip
    sync.add_argument("--start", help="first date, YYYY-MM-DD")
    sync.add_argument("--end", help="last date, YYYY-MM-DD (default today for other kinds)")
    sync.add_argument("--days-back", type=int, help="incremental: the last N days")
    sync.add_argument(
        "--datasets", help="bars,adj_factors,valuations,securities (default: all but securities)"
    )
    sync.add_argument("--symbols", help="codes, comma separated (600000, sh.600000, 600000.SH)")
    sync.add_argument("--periods", default="daily", help="daily,weekly,monthly (default daily)")
    sync.add_argument(
        "--source",
        help="source(s) in priority order, comma separated (default: the configured ones); "
        "sim syncs the simulated market into its own store",
    )
    sync.add_argument("--force", action="store_true", help="redo units already synced")
    sync.add_argument("--workers", type=int, help="worker processes to start if none is online")
    sync.add_argument("--dry-run", action="store_true", help="preview the plan and stop")
    sync.add_argument("--json", action="store_true", help="print the final run as JSON")
    sync.set_defaults(func=commands.sync)

    listing = sub.add_parser("runs", help="list runs, newest first")
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--per-page", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=commands.list_runs)

    status = sub.add_parser("status", help="show one run, or the latest runs")
    status.add_argument("run", nargs="?", type=int, help="run id")
    status.add_argument("--json", action="store_true")
    status.add_argument("--items", metavar="STATUS", help="list the run's units: failed, pending…")
    status.add_argument("--dates", action="store_true", help="the run's progress per trade date")
    status.set_defaults(func=commands.status)

    clear = sub.add_parser("clear", help="delete a finished run's ledger (bars stay)")
    clear.add_argument("run", type=int, help="run id")
    clear.add_argument("--json", action="store_true")
    clear.set_defaults(func=commands.clear)

    for name, helptext in (
        ("resume", "continue a paused or interrupted run"),
        ("retry", "re-run a run's failed units"),
        ("pause", "stop dispatching a run's units (resume continues)"),
        ("cancel", "stop a run for good"),
        ("reset", "put a run's failed units back to pending without running them"),
    ):
        steer = sub.add_parser(name, help=helptext)
        steer.add_argument("run", type=int, help="run id")
        steer.add_argument("--json", action="store_true")
        steer.set_defaults(func=commands.steer, action=name)

    up = sub.add_parser("up", help="run services, API and workers in the foreground")
    up.add_argument("--host", help="API listen address (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="API port (default 8000)")
    up.add_argument("--workers", type=int, help="worker processes")
    up.set_defaults(func=commands.up)

    sources = sub.add_parser("sources", help="configured sources: availability, limits, circuits")
    sources.add_argument("--json", action="store_true")
    sources.set_defaults(func=commands.sources)

    stats = sub.add_parser("stats", help="what is stored: rows and latest dates per period/source")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--coverage", action="store_true", help="coverage per dataset and date")
    stats.add_argument("--start", help="coverage from this date")
    stats.add_argument("--end", help="coverage up to this date")
    stats.set_defaults(func=commands.stats)

    listed = sub.add_parser("universe", help="the stocks listed on a date")
    listed.add_argument("--date", required=True, help="YYYY-MM-DD")
    listed.add_argument("--index", help="list this index's members then, e.g. 000300")
    listed.add_argument("--json", action="store_true")
    listed.set_defaults(func=commands.universe)

    days = sub.add_parser("calendar", help="the trading days between two dates")
    days.add_argument("--start", required=True, help="YYYY-MM-DD")
    days.add_argument("--end", required=True, help="YYYY-MM-DD")
    days.add_argument("--json", action="store_true")
    days.set_defaults(func=commands.calendar)

    company_cli.add_parsers(sub)

    schedules_cli.add_parser(sub)

    export_command.add_parser(sub)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=commands.db_upgrade)

    services = sub.add_parser("services", help="the embedded PostgreSQL and Redis")
    svc_sub = services.add_subparsers(dest="services_command", required=True)
    svc_sub.add_parser("start", help="start them").set_defaults(func=commands.services_start)
    svc_sub.add_parser("stop", help="stop them").set_defaults(func=commands.services_stop)
    svc_sub.add_parser("status", help="show them").set_defaults(func=commands.services_status)
    for name in STORE_COMMANDS:
        sub.choices[name].add_argument(
            "--store", choices=STORES,
            help="main (the real sources' data, the default) or sim (the simulated market's)",
        )  # fmt: skip
    return parser


def store_of(args: argparse.Namespace) -> str | None:
    """The store the command asks for: ``--store``, else the one its ``--source`` names
    (``sim`` alone: the sim store; real sources only: the main store), else None (the
    configured one). Mixed sources are left to the run parser, which refuses them."""
    if getattr(args, "store", None):
        return str(args.store)
    names = {s.strip().lower() for s in (getattr(args, "source", None) or "").split(",")} - {""}
    if names == {SIM_SOURCE}:
        return SIM_STORE
    if names and names <= set(REAL_SOURCES_BY_PRIORITY):
        return MAIN_STORE
    return None


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    """Raise KeyboardInterrupt where the command is, as Ctrl-C would; later stop signals are
    ignored, so a second one cannot cut the children's warm shutdown short (each child is
    SIGKILLed after its timeout anyway)."""
    for sig in (*STOP_SIGNALS, signal.SIGINT):
        signal.signal(sig, _ignore)
    raise KeyboardInterrupt


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A Python-level no-op (not SIG_IGN, which children started later would inherit)."""


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if store := store_of(args):
        use_store(store)  # the whole process, and every child it starts
    previous = {sig: signal.getsignal(sig) for sig in (*STOP_SIGNALS, signal.SIGINT)}
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt_once)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        commands.err.print("[yellow]interrupted[/yellow]")
        return commands.EXIT_INTERRUPTED
    except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
        commands.err.print(
            f"[red]error:[/red] cannot reach PostgreSQL (STOCKSYNC_DATABASE_URL): "
            f"{escape(_first_line(exc))}"
        )
        return commands.EXIT_UNAVAILABLE
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        commands.err.print(
            f"[red]error:[/red] cannot reach Redis (STOCKSYNC_REDIS_URL): "
            f"{escape(_first_line(exc))}"
        )
        return commands.EXIT_UNAVAILABLE
    finally:
        for sig in previous:
            signal.signal(sig, _ignore)
        try:
            processes.stop_all()
        finally:
            for sig, handler in previous.items():
                if handler is not None:  # None: set outside Python, nothing to restore
                    signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
