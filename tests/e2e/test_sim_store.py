"""Simulated data never mixes with real data: the demo's sim run (through the real CLI, with
the workers it starts) writes into the sim store, so a real-source run afterwards finds
nothing done and an empty securities list, and a request mixing sim with a real source is
refused by the API (400) and the CLI (exit 2), each with a sentence saying why."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from e2e_support import REPO, service_env, start_api, stop_api  # type: ignore[import-not-found]
from sqlalchemy import create_engine, func, select
from test_events_and_page import (  # type: ignore[import-not-found]
    field,
    needs_chromium,
    render_page,
    start_run,
    wait_status,
)

from stocksync.embedded import resolve_service_urls
from stocksync.sources.sim import sim_market
from stocksync.storage.schema import bars, securities, sync_runs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources"))
from fake_baostock import FakeBaostockServer  # type: ignore[import-not-found]

pytestmark = [pytest.mark.e2e, pytest.mark.store("main")]  # a user's real store, and the demo

START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 5)
RANGE = ("--start", START.isoformat(), "--end", END.isoformat())


def stocksync(settings, *args: str, env=None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=service_env(settings) | {"COLUMNS": "160"} | (env or {}),
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def count(engine, table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def sim_store(settings):
    """The sim store's engine, on the same servers as the main store."""
    urls = resolve_service_urls(settings.with_overrides(store="sim"))
    engine = create_engine(urls.database_url)
    yield urls, engine
    engine.dispose()


@pytest.fixture
def fake_baostock(settings):
    server = FakeBaostockServer(sim_market(settings.sim.seed, settings.sim.stocks)).start()
    yield server
    server.stop()


def test_a_sim_run_leaves_the_real_store_untouched_for_a_real_source_run(
    ctx, settings, oracle, sim_store, fake_baostock
):
    sim_urls, sim_engine = sim_store
    assert ctx.store == "main" and sim_urls.database_name == f"{ctx.urls.database_name}_sim"

    demo = stocksync(settings, "sync", *RANGE, "--source", "sim")  # as `run.py demo` does
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"store: sim (database {sim_urls.database_name}, Redis db {sim_urls.redis_db})" in (
        demo.stderr
    )
    assert "store" in demo.stdout and "sim" in demo.stdout  # the summary names the store
    days = oracle.trading_days(START, END)
    assert set(oracle.stored(sim_engine)) == oracle.expected(days)  # the sim store has them
    assert count(sim_engine, sync_runs) == 1 and count(sim_engine, securities) > 0
    # ... and the real store has nothing: no bars, no runs, no simulated securities list
    assert (count(ctx.engine, bars), count(ctx.engine, sync_runs)) == (0, 0)
    assert count(ctx.engine, securities) == 0

    codes = [s.code for s in sim_market(settings.sim.seed, settings.sim.stocks).securities()
             if s.code.endswith(".SH")][:3]  # fmt: skip
    real = stocksync(
        settings, "sync", *RANGE, "--source", "baostock", "--symbols", ",".join(codes),
        "--dry-run", "--json", env={"STOCKSYNC_BAOSTOCK_ADDR": fake_baostock.address},
    )  # fmt: skip
    assert real.returncode == 0, real.stdout + real.stderr
    plan = json.loads(real.stdout[real.stdout.index("{") :])  # baostock prints "login success!"
    assert plan["units"] == 3 and plan["already_done"] == 0 and plan["store"] == "main"
    assert "store: main" in real.stderr

    again = stocksync(settings, "sync", *RANGE, "--source", "sim", "--dry-run", "--json")
    assert again.returncode == 0, again.stderr
    replay = json.loads(again.stdout)  # the sim store still knows its work is done
    assert replay["units"] == len(days) and replay["already_done"] == len(days)

    runs = json.loads(stocksync(settings, "runs", "--json").stdout)
    sim_runs = json.loads(stocksync(settings, "runs", "--store", "sim", "--json").stdout)
    assert (runs["total"], runs["store"]) == (0, "main")
    assert (sim_runs["total"], sim_runs["store"]) == (1, "sim")
    shown = json.loads(stocksync(settings, "status", "1", "--store", "sim", "--json").stdout)
    assert (shown["status"], shown["store"]) == ("success", "sim")
    stats = json.loads(stocksync(settings, "stats", "--store", "sim", "--json").stdout)
    assert stats["store"] == "sim" and stats["bars"][0]["rows"] == len(oracle.expected(days))
    assert json.loads(stocksync(settings, "stats", "--json").stdout)["bars"] == []


def test_mixing_sim_with_a_real_source_is_refused_by_the_cli_and_the_api(
    ctx, settings, sim_store, tmp_path
):
    _, sim_engine = sim_store
    mixed = stocksync(settings, "sync", *RANGE, "--source", "sim,baostock", timeout=60)
    assert mixed.returncode == 2
    assert "a run cannot mix sim (the simulated market) with real sources (baostock)" in (
        mixed.stderr
    )
    assert "started" not in mixed.stderr

    url, proc = start_api(settings, tmp_path)  # the main store's API
    try:
        body = {"start_date": START.isoformat(), "end_date": END.isoformat()}
        for sources, says in (
            (["sim", "baostock"], "a run cannot mix sim (the simulated market) with real sources"),
            (["sim"], "the simulated market lives in its own store: use `stocksync sync "
                      "--source sim` or `stocksync up --store sim`"),
        ):  # fmt: skip
            answer = requests.post(f"{url}/api/v1/runs", json=body | {"sources": sources})
            assert answer.status_code == 400
            error = answer.json()["error"]
            assert error["code"] == "invalid_request" and error["field"] == "sources"
            assert says in error["message"]
        assert requests.get(f"{url}/api/v1/stats").json()["store"] == "main"
    finally:
        stop_api(proc)
    assert count(ctx.engine, sync_runs) == count(sim_engine, sync_runs) == 0  # nothing started


def test_the_sim_stores_api_names_its_store_and_refuses_real_sources(ctx, settings, tmp_path):
    url, proc = start_api(settings.with_overrides(store="sim"), tmp_path)
    try:
        body = {"start_date": START.isoformat(), "end_date": END.isoformat()}
        refused = requests.post(f"{url}/api/v1/runs", json=body | {"sources": ["akshare"]})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == (
            "real sources (akshare) write to the main store, not the simulated market's: use "
            "`stocksync sync --source akshare` or `stocksync up` (without --store sim)"
        )
        created = requests.post(f"{url}/api/v1/runs", json=body)  # the sim store's default: sim
        assert created.status_code == 202, created.text
        run = requests.get(f"{url}{created.json()['link']}").json()
        assert run["store"] == "sim" and run["spec"]["sources"] == ["sim"]
        assert requests.get(f"{url}/api/v1/runs").json()["store"] == "sim"
    finally:
        stop_api(proc)
    assert ctx.store == "main"
    assert count(ctx.engine, sync_runs) == 0  # the run is in the sim store only


@needs_chromium
def test_the_progress_page_shows_the_store_a_run_wrote_to(ctx, settings, workers, tmp_path):
    sim = settings.with_overrides(store="sim")
    url, proc = start_api(sim, tmp_path)
    try:
        workers.start("w1", STOCKSYNC_STORE="sim")
        run_id = start_run(url, {"start_date": START.isoformat(), "end_date": END.isoformat()})
        wait_status(url, run_id, "success")
        page = render_page(f"{url}/runs/{run_id}")
        assert field(page, "store") == "sim" and field(page, "status") == "success"
        assert re.search(
            r'id="store" class="store sim"[^>]*>store: sim \(simulated market\)<', page
        )
        listing = render_page(f"{url}/")
        assert f'href="/runs/{run_id}"' in listing and "store: sim (simulated market)" in listing
    finally:
        stop_api(proc)
