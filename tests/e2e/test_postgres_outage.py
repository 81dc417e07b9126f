"""PostgreSQL stops for a few seconds mid-run and comes back: no queued unit is dropped (each
message the workers take meanwhile runs again with backoff), the run ends with exactly the
oracle's bars well before a recovery sweep could have resumed it, and the outage costs no unit
an attempt."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
import requests
from e2e_support import Workers, start_api, stop_api, wait_for  # type: ignore[import-not-found]
from sqlalchemy import func, select

from stocksync.embedded import postgres as pg
from stocksync.embedded import resolve_service_urls
from stocksync.embedded.resolve import postgres_dir
from stocksync.storage.engine import make_engine
from stocksync.storage.migrate import upgrade
from stocksync.storage.schema import sync_items

pytestmark = pytest.mark.e2e

SLOW = {"STOCKSYNC_SIM_LATENCY_MS": "300"}
OUTAGE_S = 5
# The recovery sweep resumes a run only once its lock (60 s TTL) has lapsed: a run that ends
# sooner than this after PostgreSQL is back was carried by its own messages.
FINISH_WITHIN_S = 40


def test_postgres_down_mid_run_drops_no_message_and_costs_no_attempt(
    ctx, settings, tmp_path, oracle
):
    import datetime as dt

    start, end = dt.date(2025, 1, 2), dt.date(2025, 2, 28)
    own_dir = Path(tempfile.mkdtemp(prefix="ss-pgout-", dir="/tmp"))  # short: socket path
    embedded = settings.with_overrides(data_dir=own_dir, database_url=None)
    urls = resolve_service_urls(embedded)  # the sim store's database on its own server
    own = settings.with_overrides(database_url=urls.main_database_url)
    upgrade(urls.database_url)
    engine = make_engine(urls.database_url)
    workers = Workers(own, tmp_path)
    api = None
    try:
        workers.start("w", **SLOW)
        url, api = start_api(own, tmp_path)

        def view() -> dict | None:
            try:
                reply = requests.get(f"{url}/api/v1/runs/{run_id}", timeout=10)
            except requests.RequestException:
                return None
            return reply.json() if reply.status_code == 200 else None  # 503 while it is down

        created = requests.post(
            f"{url}/api/v1/runs",
            json={"start_date": start.isoformat(), "end_date": end.isoformat()},
            timeout=60,
        ).json()
        assert "run_id" in created, created
        run_id = created["run_id"]
        days = oracle.trading_days(start, end)
        wait_for(lambda: (v := view()) and v["done"] >= 5, timeout=60)

        engine.dispose()
        pg.stop_postgres(postgres_dir(embedded))
        time.sleep(OUTAGE_S)
        pg.start_postgres(postgres_dir(embedded))
        back = time.monotonic()

        final = wait_for(
            lambda: (v := view()) and v["status"] not in ("running", "pending") and v,
            timeout=FINISH_WITHIN_S,
        )
        took = time.monotonic() - back
        assert final["status"] == "success", final
        assert final["total"] == len(days) > 30
        assert (final["success"], final["failed"]) == (len(days), 0)
        log = (tmp_path / "w.log").read_text()
        assert "out of reach" in log  # the outage really hit units in flight or queued
        assert "resumed" not in log, f"a recovery sweep was needed ({took:.0f} s)"

        stored = oracle.stored(engine)
        assert len(stored) == len(oracle.expected(days))  # none lost, none duplicated
        assert set(stored) == oracle.expected(days)
        with engine.connect() as conn:
            attempts = conn.execute(
                select(func.min(sync_items.c.attempts), func.max(sync_items.c.attempts))
            ).one()
        assert tuple(attempts) == (1, 1)  # the outage counted against no unit
    finally:
        workers.stop_all()
        if api is not None:
            stop_api(api)
        engine.dispose()
        pg.stop_postgres(postgres_dir(embedded))
        shutil.rmtree(own_dir, ignore_errors=True)
