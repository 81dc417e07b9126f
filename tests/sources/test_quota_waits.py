"""A quota wait never throws away a reply: through the real akshare client against our eastmoney
server, a unit that has spent a call sleeps through a later quota wait instead of giving itself
back to the queue (whose retry would send the same requests again), and a unit re-queued for
quota is only ever one that has not called yet."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from test_failover_by_dataset import Recorder, steady_stock  # type: ignore[import-not-found]

from stocksync.context import build_context
from stocksync.coordination.ratelimit import bucket_shape
from stocksync.runs import service as runs
from stocksync.runs.execution import RetryLater, run_unit
from stocksync.sources.base import SPENT_WAIT_MAX_S
from stocksync.sources.sim import sim_market

pytestmark = [
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.rename"),
    pytest.mark.store("main"),
]
START, END = dt.date(2025, 3, 3), dt.date(2025, 3, 14)
KLINE = ("push2his.eastmoney.com", "/api/qt/stock/kline/get")
# 12 calls a minute: one call at once, then one every ~5.8 s — longer than the 5 s a source
# sleeps through on its own, so without the unit's budget the second call would be re-queued
LIMIT = 12


def test_a_unit_sleeps_through_quota_waits_once_it_has_called_and_never_calls_twice(
    ctx, settings, eastmoney
):
    assert 60 / bucket_shape(LIMIT)[1] > 5.0 and SPENT_WAIT_MAX_S >= 60
    code = steady_stock(sim_market(settings.sim.seed, settings.sim.stocks))
    body = {"symbols": [code], "start_date": str(START), "end_date": str(END)}
    planner = build_context(  # plans (stock list, calendar) without a tight quota
        settings.with_overrides(sources=("akshare",), calls_per_minute={"akshare": 100_000})
    )
    recorder = Recorder()
    created = runs.create_run(planner, runs.parse_spec(planner, body), recorder)
    (unit,) = recorder.sent
    planner.close()

    limited = build_context(
        settings.with_overrides(sources=("akshare",), calls_per_minute={"akshare": LIMIT})
    )
    limited.redis.delete("stocksync:bucket:akshare")  # a fresh bucket of 12 a minute
    limited.quota.acquire("akshare", LIMIT)  # another worker just took the only free call
    eastmoney.reset()

    # nothing spent yet: the unit gives its slot back at once, having sent nothing
    with pytest.raises(RetryLater) as requeued:
        run_unit(limited, unit, recorder)
    assert eastmoney.count(*KLINE) == 0
    time.sleep(requeued.value.countdown)  # the task's countdown

    began = time.monotonic()
    outcome = run_unit(limited, unit, recorder)
    took = time.monotonic() - began
    assert outcome.outcome == "success", outcome
    # bars (one raw kline) and factors (raw and hfq klines): three requests, each sent once,
    # the later ones after waits longer than a source sleeps through by itself
    assert eastmoney.count(*KLINE) == 3
    assert took > 2 * 5.0
    view = runs.run_view(limited, created.run_id)
    assert view["status"] == "success" and outcome.rows > 0
    limited.close()
