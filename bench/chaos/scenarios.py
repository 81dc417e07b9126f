"""The matrix: each scenario's faults (see bench/chaos/README.md for what each one proves)."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable

import requests

from bench.chaos import checks
from bench.chaos.checks import Fault, now
from bench.chaos.driver import Params, Scenario, Trial
from bench.chaos.lab import Worker
from stocksync.config import SimSettings

RACERS = 50
REDIS_DOWN_S = 2.0


def _kill_points(trial: Trial, count: int) -> list[float]:
    """``count`` random points of the run, as fractions of its units done (seeded)."""
    return sorted(trial.rng.uniform(0.05, 0.8) for _ in range(count))


def _ready(trial: Trial) -> list[Worker]:
    """Workers that are up and taking tasks (a replacement still starting is not a victim)."""
    deadline = time.monotonic() + 60
    while not (ready := [w for w in trial.lab.workers if w.ready]):
        if time.monotonic() > deadline:
            raise RuntimeError("no worker is ready to be killed")
        time.sleep(0.1)
    return ready


def _in_flight(trial: Trial, pids: set[int] | None = None) -> tuple[int, ...]:
    with trial.lab.ctx.engine.connect() as conn:
        return tuple(checks.running_units(conn, trial.run_id, pids))


def _sigkill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def worker_kills(kind: str) -> Callable[[Trial], None]:
    """SIGKILL, at ``trial.facts['kills']`` random points, a random worker's pool child
    (``child``: its main process forks a new one), its main process only (``main``: the pool
    children lose their parent) or its whole process group (``group``); after ``main`` or ``group``
    a new worker is started (and is ready before the next kill), so that the number of live
    workers stays the same."""

    def inject(trial: Trial) -> None:
        for point in _kill_points(trial, int(trial.facts["kills"])):
            if not trial.wait_done_at_least(point):
                break
            victim = trial.rng.choice(_ready(trial))
            group = victim.group_pids()  # its units are claimed by its pool children
            if kind == "child":
                children = victim.pool_children()
                if not children:
                    continue
                pids = {trial.rng.choice(children).pid}
            else:
                pids = group if kind == "group" else {victim.proc.pid}
            in_flight = _in_flight(trial, pids if kind == "child" else group)
            at = now()
            if kind == "group":
                victim.kill_group()
            else:
                for pid in pids:
                    _sigkill(pid)
            detail = f"{kind} of {victim.name}: pids {sorted(pids)} at {point:.0%} done"
            trial.faults.append(Fault(f"kill_{kind}", at, in_flight=in_flight, detail=detail))
            if kind != "child":
                trial.lab.start_worker(trial.settings, trial.call_log)  # ready before the next

    return inject


def kill_everything(trial: Trial) -> None:
    """SIGKILL every worker group and the API process that started the run at once, then
    start a new API and one new worker: the run must be resumed by the new worker's sweep."""
    point = _kill_points(trial, 1)[0]
    if not trial.wait_done_at_least(point):
        return
    in_flight = _in_flight(trial)
    at = now()
    for worker in trial.lab.workers:
        worker.kill_group()
    trial.lab.kill_api()
    time.sleep(1.0)
    trial.lab.ensure_api()
    trial.lab.start_worker(trial.settings, trial.call_log)
    trial.faults.append(
        Fault("kill_everything", at, in_flight=in_flight, detail=f"at {point:.0%} done")
    )


def kill_lock_holder(trial: Trial) -> None:
    """SIGKILL every process holding a running unit of the run (the processes that keep its
    lock alive), found through the ledger's ``claimed_by``."""
    point = _kill_points(trial, 1)[0]
    deadline = time.monotonic() + trial.params.timeout_s
    while trial.wait_done_at_least(point):
        holder = trial.lab.ctx.lock.holder()
        with trial.lab.ctx.engine.connect() as conn:
            pids = checks.claimant_pids(conn, trial.run_id)
        ours = set().union(*(w.group_pids() for w in trial.lab.workers))
        if holder is not None and holder.run_id == trial.run_id and pids and pids <= ours:
            in_flight = _in_flight(trial, pids)
            at = now()
            for pid in pids:
                _sigkill(pid)
            trial.faults.append(
                Fault(
                    "kill_lock_holder",
                    at,
                    in_flight=in_flight,
                    detail=f"lock {holder.token()}, pids {sorted(pids)}",
                )
            )
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


def redis_restart_empty(trial: Trial) -> None:
    """SIGKILL Redis mid-run (queue, lock, counters, liveness keys gone) and start it empty."""
    point = _kill_points(trial, 1)[0]
    if not trial.wait_done_at_least(point):
        return
    in_flight = _in_flight(trial)
    at = now()
    trial.lab.restart_redis_empty(REDIS_DOWN_S)
    trial.faults.append(
        Fault(
            "redis_restart_empty",
            at,
            healed_at=now(),
            in_flight=in_flight,
            detail=f"down {REDIS_DOWN_S:g} s at {point:.0%} done",
        )
    )


def postgres_down(seconds: float) -> Callable[[Trial], None]:
    """Stop PostgreSQL (fast shutdown) mid-run for ``seconds``, then start it again."""

    def inject(trial: Trial) -> None:
        point = _kill_points(trial, 1)[0]
        if not trial.wait_done_at_least(point):
            return
        in_flight = _in_flight(trial)
        at = now()
        trial.lab.stop_postgres()
        time.sleep(seconds)
        trial.lab.start_postgres()
        trial.faults.append(
            Fault(
                f"postgres_down_{seconds:g}s",
                at,
                healed_at=now(),
                in_flight=in_flight,
                detail=f"at {point:.0%} done",
            )
        )

    return inject


def racing_start(trial: Trial) -> None:
    """``RACERS`` concurrent POST /api/v1/runs: exactly one 202, the rest 409."""
    url = trial.lab.ensure_api()
    gate = threading.Barrier(RACERS)
    codes: list[int] = []
    accepted: list[int] = []

    def race() -> None:
        gate.wait()
        try:
            reply = requests.post(f"{url}/api/v1/runs", json=trial.body, timeout=120)
        except requests.RequestException:
            codes.append(-1)
            return
        codes.append(reply.status_code)
        if reply.status_code == 202:
            accepted.append(int(reply.json()["run_id"]))

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally = Counter(codes)
    trial.facts["replies"] = {str(k): v for k, v in sorted(tally.items())}
    if tally != Counter({202: 1, 409: RACERS - 1}):
        trial.problems.append(f"racing triggers answered {dict(tally)}, not one 202 and 409s")
    if not accepted:
        raise RuntimeError(f"no racing trigger was accepted: {dict(tally)}")
    trial.run_id = accepted[0]


def _faulty(sim: SimSettings, params: Params) -> SimSettings:
    return dataclasses.replace(
        sim, error_rate=params.error_rate, garbage_rate=0.3, calls_per_minute=120
    )


def _nothing(trial: Trial) -> None:
    return None


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("kill_pool_child", "SIGKILL a pool child at random points", worker_kills("child")),
        Scenario("kill_worker_main", "SIGKILL a worker's main process", worker_kills("main")),
        Scenario("kill_whole_worker", "SIGKILL a worker's process group", worker_kills("group")),
        Scenario("kill_everything", "SIGKILL all workers and the API", kill_everything),
        Scenario("redis_restart_empty", "Redis SIGKILLed, back empty", redis_restart_empty),
        Scenario("postgres_down_5s", "PostgreSQL stopped 5 s", postgres_down(5)),
        Scenario("postgres_down_30s", "PostgreSQL stopped 30 s", postgres_down(30)),
        Scenario(
            "source_faults",
            "failing calls (--error-rate), 30 % corrupted bar replies, 120 calls/min, latency",
            _nothing,
            sim=_faulty,
            allowed=("success", "success_with_errors"),
            retry_failed=True,
        ),
        Scenario(
            "racing_triggers",
            f"{RACERS} concurrent POST /api/v1/runs",
            _nothing,
            start=racing_start,
        ),
        Scenario(
            "kill_lock_holder", "SIGKILL every process holding the run's units", kill_lock_holder
        ),
    )
}
KILL_SCENARIOS = ("kill_pool_child", "kill_worker_main", "kill_whole_worker")
QUICK = ("kill_pool_child", "racing_triggers", "source_faults")
