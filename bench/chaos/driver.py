"""One scenario from start to verdict: fresh tables and Redis, fresh workers, a run started
through the HTTP API, the scenario's faults, the wait for the run's final status, then the
checks (rows against the truth, counters everywhere, source calls, recovery)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from bench.chaos import checks, oracle
from bench.chaos.checks import Fault
from bench.chaos.lab import Lab
from bench.workers import BenchFailure
from stocksync.config import Settings, SimSettings
from stocksync.sources.sim import sim_market

FINAL = ("success", "success_with_errors", "failed", "cancelled", "skipped")
POLL_S = 0.2


@dataclass(frozen=True)
class Params:
    """The market slice and knobs every scenario shares (from the command line)."""

    stocks: int
    days: int
    start: dt.date
    latency_ms: float
    workers: int
    concurrency: int
    kills: int
    seed: int
    timeout_s: float
    retry_failed: bool = True  # scenarios that allow failed units retry them once
    error_rate: float = 0.1  # source_faults: the share of calls that fail


@dataclass
class Trial:
    """A scenario in progress: the lab, its run, its faults and free-form facts."""

    lab: Lab
    params: Params
    settings: Settings  # the workers' settings (this scenario's sim knobs)
    call_log: Path
    rng: random.Random
    body: dict[str, Any]
    run_id: int = 0
    faults: list[Fault] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def post_run(self) -> requests.Response:
        url = self.lab.ensure_api()
        return requests.post(f"{url}/api/v1/runs", json=self.body, timeout=60)

    def progress(self) -> tuple[str, int, int] | None:
        """(status, done, total) of the run from the ledger; None while PostgreSQL is away."""
        try:
            with self.lab.ctx.engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT r.status, count(i.id) FILTER (WHERE i.status IN "
                        "('success','failed','skipped')), count(i.id) FROM sync_runs r "
                        "LEFT JOIN sync_items i ON i.run_id = r.id WHERE r.id = :run "
                        "GROUP BY r.status"
                    ),
                    {"run": self.run_id},
                ).one_or_none()
        except Exception:
            return None
        return None if row is None else (str(row[0]), int(row[1]), int(row[2]))

    def wait_done_at_least(self, fraction: float) -> bool:
        """Wait until ``fraction`` of the planned units are done; False if the run ended."""
        deadline = time.monotonic() + self.params.timeout_s
        while time.monotonic() < deadline:
            seen = self.progress()
            if seen is not None:
                status, done, total = seen
                if status in FINAL:
                    return False
                if total > 0 and status == "running" and done >= fraction * total:
                    return True
            time.sleep(POLL_S / 2)
        raise BenchFailure(f"run {self.run_id} never reached {fraction:.0%} done")

    def wait_final(self) -> str:
        """Wait for the run's final status; notes how long the source's breaker was seen open."""
        deadline = time.monotonic() + self.params.timeout_s
        while time.monotonic() < deadline:
            seen = self.progress()
            if seen is not None and seen[0] in FINAL:
                return seen[0]
            time.sleep(POLL_S)
            try:
                if self.lab.ctx.breaker.is_open("sim"):
                    opened = self.facts.get("breaker_open_s", 0.0) + POLL_S
                    self.facts["breaker_open_s"] = round(opened, 1)
            except Exception:  # Redis may be down on purpose
                pass
        seen = self.progress()
        raise BenchFailure(
            f"run {self.run_id} not finished after {self.params.timeout_s:.0f} s "
            f"(status, done, total = {seen})"
        )


@dataclass(frozen=True)
class Scenario:
    """A row of the matrix: how the source misbehaves, how the run is started, what strikes."""

    name: str
    what: str
    inject: Callable[[Trial], None]
    sim: Callable[[SimSettings, Params], SimSettings] = lambda sim, params: sim
    start: Callable[[Trial], None] | None = None  # default: one POST /api/v1/runs
    allowed: tuple[str, ...] = ("success",)
    retry_failed: bool = False  # a run ending with failed units gets one POST …/retry-failed


def _start_one(trial: Trial) -> None:
    reply = trial.post_run()
    if reply.status_code != 202:
        raise BenchFailure(f"POST /api/v1/runs answered {reply.status_code}: {reply.text}")
    trial.run_id = int(reply.json()["run_id"])


def run_scenario(
    lab: Lab, params: Params, scenario: Scenario, index: int, *, kills: int = 0
) -> dict[str, Any]:
    """Run ``scenario`` (with ``kills`` kill points, for the worker-kill scenarios) and return
    its row of results (``ok`` says whether it held)."""
    began = time.monotonic()
    lab.reset()
    lab.ensure_api()
    market = sim_market(lab.settings.sim.seed, lab.settings.sim.stocks)
    days = _days(market, params.start, params.days)
    sim = scenario.sim(dataclasses.replace(lab.settings.sim, latency_ms=params.latency_ms), params)
    settings = lab.settings.with_overrides(sim=sim, worker_concurrency=params.concurrency)
    call_log = lab.data_dir / "calls" / f"{index}-{scenario.name}"
    call_log.mkdir(parents=True, exist_ok=True)
    trial = Trial(
        lab,
        params,
        settings,
        call_log,
        random.Random(f"{params.seed}:{scenario.name}"),  # the same points alone or not
        body={
            "start_date": days[0].isoformat(),
            "end_date": days[-1].isoformat(),
            "periods": ["daily"],
            "datasets": ["bars", "adj_factors", "valuations"],
        },
    )
    trial.facts["kills"] = kills
    for _ in range(params.workers):
        lab.start_worker(settings, call_log)
    (scenario.start or _start_one)(trial)
    scenario.inject(trial)
    status = trial.wait_final()
    if scenario.retry_failed and trial.params.retry_failed and status == "success_with_errors":
        status = _retry_failed(trial)
    time.sleep(0.5)  # let the finishing worker's last counter writes land
    return _verdict(trial, scenario, status, days, market, began)


def _retry_failed(trial: Trial) -> str:
    """The documented remedy for failed units: retry them once, and wait for the run again."""
    with trial.lab.ctx.engine.connect() as conn:
        failed = conn.execute(
            text("SELECT count(*) FROM sync_items WHERE run_id = :run AND status = 'failed'"),
            {"run": trial.run_id},
        ).scalar_one()
    url = trial.lab.ensure_api()
    reply = requests.post(f"{url}/api/v1/runs/{trial.run_id}/retry-failed", timeout=60)
    trial.facts["retry_failed"] = {"failed_units": int(failed), "reply": reply.status_code}
    if reply.status_code != 202:
        trial.problems.append(f"retry-failed answered {reply.status_code}: {reply.text[:200]}")
    return trial.wait_final()


def _verdict(
    trial: Trial, scenario: Scenario, status: str, days: list[dt.date], market: Any, began: float
) -> dict[str, Any]:
    lab, run_id = trial.lab, trial.run_id
    problems = list(trial.problems)
    if status not in scenario.allowed:
        problems.append(f"run ended {status}, expected {' or '.join(scenario.allowed)}")
    lab.ensure_api()
    with lab.ctx.engine.connect() as conn:
        rows = oracle.compare(conn, market, days, run_id, run_ok=status == "success")
        needed = checks.needed_calls(conn, run_id)
        recoveries = [checks.recovery_seconds(conn, run_id, f) for f in trial.faults]
        progressing = [checks.progress_again_seconds(conn, run_id, f) for f in trial.faults]
        failed_units = conn.execute(
            text(
                "SELECT id, attempts, error FROM sync_items WHERE run_id = :run "
                "AND status = 'failed' ORDER BY id"
            ),
            {"run": run_id},
        ).all()
        quarantined = conn.execute(
            text("SELECT count(*) FROM quarantine WHERE run_id = :run"), {"run": run_id}
        ).scalar_one()
        finished_at = conn.execute(
            text("SELECT finished_at FROM sync_runs WHERE id = :run"), {"run": run_id}
        ).scalar_one()
    views = checks.counters_everywhere(lab.ctx, run_id, lab.api_url)
    disagreements = checks.counters_agree(views)
    calls = checks.count_calls(trial.call_log, needed)
    lost = sum(c.lost for c in rows.values())
    dup = sum(c.duplicated for c in rows.values())
    wrong = sum(c.wrong for c in rows.values())
    if lost or dup or wrong:
        problems.append(
            f"rows lost/dup/wrong = {lost}/{dup}/{wrong}: "
            + "; ".join(e for c in rows.values() for e in c.examples[:2])
        )
    problems += disagreements
    if any(r is None for r in recoveries):
        problems.append("a fault's in-flight units never finished")
    if not trial.faults and scenario.name.startswith("kill"):
        problems.append("no fault landed (the run ended first)")
    last_fault = max((f.healed_at or f.at for f in trial.faults), default=None)
    to_finish = (finished_at - last_fault).total_seconds() if finished_at and last_fault else None
    return {
        "scenario": scenario.name,
        "what": scenario.what,
        "ok": not problems,
        "problems": problems,
        "run_id": run_id,
        "status": status,
        "lost": lost,
        "duplicated": dup,
        "wrong": wrong,
        "unsynced": sum(c.unsynced for c in rows.values()),
        "rows": {name: dataclasses.asdict(c) for name, c in rows.items()},
        "failed_units": [{"id": i, "attempts": a, "error": e} for i, a, e in failed_units],
        "counters_ok": not disagreements,
        "counters": views,
        "calls": calls.as_json(),
        "extra_calls": calls.extra,
        "recovery_s": checks.summarise(recoveries) if trial.faults else None,
        "recoveries_s": [None if r is None else round(r, 2) for r in recoveries],
        "progress_again_s": checks.summarise(progressing) if trial.faults else None,
        "log_events": checks.log_events(w.log_path for w in lab.workers),
        "fault_to_finish_s": None if to_finish is None else round(to_finish, 2),
        "faults": [f.as_json() for f in trial.faults],
        "quarantined_rows": int(quarantined),
        "facts": trial.facts,
        "wall_s": round(time.monotonic() - began, 1),
    }


def _days(market: Any, start: dt.date, count: int) -> list[dt.date]:
    days = list(market.trading_days(start, start + dt.timedelta(days=count * 2 + 30)))[:count]
    if len(days) < count:
        raise BenchFailure(f"only {len(days)} trading days from {start}")
    return days
