"""One end-to-end phase: worker processes up and warm, then a run timed from ``create_run``
until the run's recorded finish, then checked against the generated rows."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy import text

from bench.services import reset_state
from bench.workers import BenchFailure, WorkerProcess
from stocksync.config import Settings
from stocksync.context import Context
from stocksync.domain import RUN_ACTIVE_STATUSES, RunStatus
from stocksync.runs import service as runs
from stocksync.runs.finalize import finalize_run
from stocksync.sources.base import Shape, Source, catalogue
from stocksync.sources.registry import SourceRegistry
from stocksync.sources.sim import SimSource, sim_market

POLL_S = 0.25


@dataclass(frozen=True)
class Expected:
    """What the timed run must leave in ``bars``: a row count and the sum of their volumes."""

    bars: int
    volume: int


@dataclass(frozen=True)
class E2EResult:
    """A timed run. ``seconds`` runs from just before ``create_run`` to the run's
    ``finished_at`` (written by the worker that finished the last unit). With repeats, the
    fields are the median run's and ``samples_s`` holds every run's seconds."""

    name: str
    run_id: int
    units: int
    bars: int
    seconds: float
    create_run_s: float
    worker_start_s: float
    warmup_s: float
    latency_ms: float
    slots: int
    shape: str
    samples_s: tuple[float, ...] = ()

    @property
    def units_per_s(self) -> float:
        return self.units / self.seconds

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.seconds

    def as_json(self, **extra: object) -> dict[str, object]:
        fields = dataclasses.asdict(self)
        for key in ("seconds", "create_run_s", "worker_start_s", "warmup_s"):
            fields[key] = round(fields[key], 4)
        fields["samples_s"] = [round(v, 4) for v in self.samples_s]
        return fields | {
            "units_per_s": round(self.units_per_s, 2),
            "bars_per_s": round(self.bars_per_s, 1),
            **extra,
        }


class _ByStockSim(SimSource):
    """The sim source as the planner sees it in the per-stock phase: it offers only
    one-stock-over-a-range calls, so the planner makes one unit per stock. Workers still use
    the real sim source; planned per-stock units run the normal ``stock_bars`` path."""

    serves = catalogue(
        {
            name: dataclasses.replace(offer, shapes=frozenset({Shape.STOCK_BY_RANGE}))
            for name, offer in SimSource.serves.items()
        }
    )


class _ByStockRegistry(SourceRegistry):
    """A registry whose ``sim`` is :class:`_ByStockSim` (for planning only)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        sim = settings.sim
        self._by_stock = _ByStockSim(sim_market(sim.seed, sim.stocks))

    def get(self, name: str) -> Source:
        return self._by_stock if name == "sim" else super().get(name)


def planning_context(ctx: Context, shape: Shape) -> Context:
    """``ctx`` as is for the planner's own choice (per date here), or a copy whose ``sim``
    source forces per-stock units."""
    if shape is Shape.MARKET_BY_DATE:
        return ctx
    return dataclasses.replace(ctx, sources=_ByStockRegistry(ctx.settings))


def _wait_final(
    ctx: Context, run_id: int, worker: WorkerProcess, timeout_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        view = runs.run_view(ctx, run_id)
        if view["status"] not in RUN_ACTIVE_STATUSES:
            return view
        if view["pending"] == 0:
            finalize_run(ctx, run_id)  # as the CLI does: the finishing worker may have died
            continue
        worker.check_alive()
        if time.monotonic() > deadline:
            raise BenchFailure(
                f"run {run_id} not finished after {timeout_s:.0f} s: {view}\n" + worker.log_tail()
            )
        time.sleep(POLL_S)


def _run(
    ctx: Context, body: Mapping[str, Any], app: Celery, worker: WorkerProcess, timeout_s: float
) -> tuple[dict[str, Any], float, float]:
    """Create a run and wait for it: (final view, seconds to finished_at, create_run seconds)."""
    # Not at module level: importing ``workers`` configures its broker from the environment,
    # which bench.workers.celery_app sets up first.
    from workers.dispatch import CeleryDispatcher

    spec = runs.parse_spec(ctx, dict(body))
    began = dt.datetime.now(dt.UTC)
    tick = time.perf_counter()
    created = runs.create_run(ctx, spec, CeleryDispatcher(app))
    create_s = time.perf_counter() - tick
    view = _wait_final(ctx, created.run_id, worker, timeout_s)
    if view["status"] != RunStatus.SUCCESS.value:
        raise BenchFailure(f"run {created.run_id} ended {view['status']}: {view}")
    finished = runs.get_run(ctx, created.run_id).finished_at
    assert finished is not None
    return view, (finished - began).total_seconds(), create_s


def verify_stored(ctx: Context, expected: Expected, view: Mapping[str, Any]) -> None:
    """Raise :class:`BenchFailure` unless ``bars`` holds exactly the expected rows' count and
    volume total, and the run says it wrote them all."""
    with ctx.engine.connect() as conn:
        count, volume = conn.execute(
            text("SELECT count(*), coalesce(sum(volume), 0) FROM bars")
        ).one()
    problems = []
    if int(count) != expected.bars:
        problems.append(f"bars holds {count} rows, {expected.bars} were generated")
    if int(volume) != expected.volume:
        problems.append(f"stored volume total {volume} != generated {expected.volume}")
    if view["rows_written"] != expected.bars:
        problems.append(f"the run reports {view['rows_written']} rows written")
    if problems:
        raise BenchFailure(f"run {view['id']}: " + "; ".join(problems))


def run_phase(
    ctx: Context,
    app: Celery,
    *,
    name: str,
    worker_settings: Settings,
    body: Mapping[str, Any],
    warmup_body: Mapping[str, Any],
    shape: Shape,
    expected: Expected,
    log_dir: Path,
    timeout_s: float,
    repeat: int = 1,
    verify: Callable[[Context, Expected, Mapping[str, Any]], None] = verify_stored,
    probe: Callable[[str, WorkerProcess], None] | None = None,
) -> E2EResult:
    """Empty the tables and Redis, start one worker process for ``worker_settings``, warm it
    with ``warmup_body`` (a small run: builds each pool process's context and simulated
    market, and stores the securities list), then ``repeat`` times: empty bars and ledger,
    time a run of ``body`` and check what it stored with ``verify`` (default: the ``bars``
    table). ``probe``, if given, is called with the live worker after the warm-up
    (``"warm"``) and after each timed run (``"run"``). Returns the median run."""
    reset_state(ctx.engine, ctx.redis, restart_ids=True)
    planner = planning_context(ctx, shape)
    worker = WorkerProcess(
        worker_settings, ctx.urls, name=f"bench-{name}", log_path=log_dir / f"{name}.log"
    )
    samples: list[tuple[float, float, dict[str, Any]]] = []
    with worker:
        worker_start_s = worker.start(app)
        tick = time.perf_counter()
        _run(ctx, warmup_body, app, worker, timeout_s)
        warmup_s = time.perf_counter() - tick
        if probe is not None:
            probe("warm", worker)
        for _ in range(max(1, repeat)):
            # Keep the ids going (Redis still holds earlier runs' progress keys) and the
            # securities and calendar the warm-up stored: a run on a synced-before database.
            reset_state(ctx.engine, None, restart_ids=False, keep_reference=True)
            view, seconds, create_s = _run(planner, body, app, worker, timeout_s)
            verify(ctx, expected, view)
            if probe is not None:
                probe("run", worker)
            samples.append((seconds, create_s, view))
    seconds, create_s, view = sorted(samples, key=lambda sample: sample[0])[(len(samples) - 1) // 2]
    return E2EResult(
        name=name,
        run_id=int(view["id"]),
        units=int(view["total"]),
        bars=expected.bars,
        seconds=seconds,
        create_run_s=create_s,
        worker_start_s=worker_start_s,
        warmup_s=warmup_s,
        latency_ms=worker_settings.sim.latency_ms,
        slots=worker_settings.worker_concurrency,
        shape=shape.value,
        samples_s=tuple(sample[0] for sample in samples),
    )
