"""What a finished chaos run is checked for besides its rows (:mod:`bench.chaos.oracle`): the
counters agree everywhere, how many source calls it took beyond the needed ones, and how long
it took to recover from each fault."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text
from sqlalchemy.engine import Connection

from stocksync.context import Context
from stocksync.coordination import progress
from stocksync.runs import ledger

COUNTER_FIELDS = ("total", "success", "failed", "skipped", "rows")
DATA_CALLS = frozenset(
    {
        "market_bars",
        "stock_bars",
        "market_adj_factors",
        "adj_factors",
        "market_valuations",
        "stock_valuations",
    }
)


def counters_everywhere(ctx: Context, run_id: int, api_url: str) -> dict[str, dict[str, int]]:
    """The run's (total, success, failed, skipped, rows) as the ``sync_runs`` row, the ledger
    (``sync_items``), the Redis progress hash and ``GET /api/v1/runs/{id}`` each say."""
    views: dict[str, dict[str, int]] = {}
    with ctx.engine.connect() as conn:
        run = ledger.get_run(conn, run_id)
        counts = ledger.item_status_counts(conn, run_id)
        rows = ledger.rows_written(conn, run_id)
    assert run is not None
    views["run_row"] = dict(
        zip(
            COUNTER_FIELDS,
            (run.total, run.success_count, run.failed_count, run.skipped_count, run.rows_written),
            strict=True,
        )
    )
    views["ledger"] = {
        "total": sum(counts.values()),
        **{s.value: counts[s] for s in counts if s.value in COUNTER_FIELDS},
        "rows": rows,
    }
    redis_view = progress.read(ctx.redis, run_id)
    if redis_view is not None:
        views["redis"] = dict(
            zip(
                COUNTER_FIELDS,
                (
                    redis_view.total,
                    redis_view.success,
                    redis_view.failed,
                    redis_view.skipped,
                    redis_view.rows,
                ),
                strict=True,
            )
        )
    api = requests.get(f"{api_url}/api/v1/runs/{run_id}", timeout=30).json()
    views["api"] = {k: int(api[k]) for k in COUNTER_FIELDS if k != "rows"}
    views["api"]["rows"] = int(api["rows_written"])
    return views


def counters_agree(views: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Disagreements among ``views`` (empty when all agree; a missing Redis hash is one)."""
    problems = [] if "redis" in views else ["no progress hash in Redis"]
    reference = views["ledger"]
    for name, view in views.items():
        for key in COUNTER_FIELDS:
            if view.get(key) != reference.get(key):
                problems.append(f"{name}.{key}={view.get(key)} but ledger.{key}={reference[key]}")
    return problems


@dataclass
class Calls:
    """Simulated-source calls of one run, as the workers' probe logged them."""

    by_method: dict[str, int] = field(default_factory=dict)
    by_outcome: dict[str, int] = field(default_factory=dict)
    answered: int = 0  # data calls that reached the market (ok, garbled or a simulated error)
    refused: int = 0  # data calls turned away by the rate limiter before reaching it
    reference: int = 0  # securities and trading_days (planning)
    needed: int = 0  # one call per dataset per unit
    extra: int = 0  # answered - needed

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def count_calls(call_log: Path, needed: int) -> Calls:
    """Read every ``<pid>.calls`` file under ``call_log`` (see bench/chaos/probe)."""
    methods: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    calls = Calls(needed=needed)
    for path in call_log.glob("*.calls"):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) != 2:
                continue  # a line cut by SIGKILL
            method, outcome = parts
            methods[method] += 1
            outcomes[outcome] += 1
            if method not in DATA_CALLS:
                calls.reference += 1
            elif outcome == "limited":
                calls.refused += 1
            else:
                calls.answered += 1
    calls.by_method, calls.by_outcome = dict(methods), dict(outcomes)
    calls.extra = calls.answered - needed
    return calls


def needed_calls(conn: Connection, run_id: int) -> int:
    """One call per dataset of every unit that has no children (a split unit's children do
    its work)."""
    rows = conn.execute(
        text(
            "SELECT i.dataset FROM sync_items i WHERE i.run_id = :run AND NOT EXISTS "
            "(SELECT 1 FROM sync_items c WHERE c.parent_id = i.id)"
        ),
        {"run": run_id},
    ).scalars()
    return sum(len(d.split("+")) for d in rows)


@dataclass
class Fault:
    """One injected fault: what, when it struck and healed, and the units in flight then."""

    kind: str
    at: dt.datetime
    healed_at: dt.datetime | None = None
    in_flight: tuple[int, ...] = ()
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "healed_at": self.healed_at.isoformat() if self.healed_at else None,
            "in_flight": list(self.in_flight),
            "detail": self.detail,
        }


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def recovery_seconds(conn: Connection, run_id: int, fault: Fault) -> float | None:
    """From the fault healing (its strike, for a kill) until the units in flight at the fault
    were all finished again, or — with none in flight — until the next unit finished. None when
    that never happened."""
    start = fault.healed_at or fault.at
    if fault.in_flight:
        finished = conn.execute(
            text(
                "SELECT bool_and(finished_at IS NOT NULL), max(finished_at) FROM sync_items "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": list(fault.in_flight)},
        ).one()
        done = finished[1] if finished[0] else None
    else:
        done = conn.execute(
            text(
                "SELECT min(finished_at) FROM sync_items WHERE run_id = :run AND finished_at > :at"
            ),
            {"run": run_id, "at": start},
        ).scalar_one()
    return None if done is None else max(0.0, (done - start).total_seconds())


def progress_again_seconds(conn: Connection, run_id: int, fault: Fault) -> float | None:
    """From the fault healing (its strike, for a kill) until the next unit of the run finished."""
    start = fault.healed_at or fault.at
    done = conn.execute(
        text("SELECT min(finished_at) FROM sync_items WHERE run_id = :run AND finished_at > :at"),
        {"run": run_id, "at": start},
    ).scalar_one()
    return None if done is None else (done - start).total_seconds()


LOG_EVENTS = {
    "resumed": "resumed it",  # a recovery sweep resumed a run whose lock lapsed
    "requeued": "requeued",  # a sweep requeued the units of processes known dead
    "outage": "out of reach",  # a unit met a PostgreSQL or Redis outage
}


def log_events(logs: Iterable[Path]) -> dict[str, int]:
    """How often the workers logged each of :data:`LOG_EVENTS`."""
    found: Counter[str] = Counter()
    for path in logs:
        try:
            text_ = path.read_text(errors="replace")
        except OSError:
            continue
        for event, needle in LOG_EVENTS.items():
            found[event] += text_.count(needle)
    return dict(found)


def running_units(conn: Connection, run_id: int, pids: Iterable[int] | None = None) -> list[int]:
    """Ids of the run's units now ``running`` (claimed by one of ``pids``, when given)."""
    rows = conn.execute(
        text("SELECT id, claimed_by FROM sync_items WHERE run_id = :run AND status = 'running'"),
        {"run": run_id},
    ).all()
    wanted = None if pids is None else {str(p) for p in pids}
    return [i for i, who in rows if wanted is None or _pid_of(who) in wanted]


def claimant_pids(conn: Connection, run_id: int) -> set[int]:
    """The pids of the processes that hold the run's running units (they keep its lock)."""
    rows = conn.execute(
        text("SELECT claimed_by FROM sync_items WHERE run_id = :run AND status = 'running'"),
        {"run": run_id},
    ).scalars()
    return {int(p) for who in rows if (p := _pid_of(who)).isdigit()}


def _pid_of(identity: str | None) -> str:
    parts = (identity or "").split(":")
    return parts[1] if len(parts) >= 3 else ""


def summarise(values: Sequence[float | None]) -> float | None:
    """The worst (largest) recovery; None when there were none or one never recovered."""
    if not values or any(v is None for v in values):
        return None
    return round(max(v for v in values if v is not None), 2)
