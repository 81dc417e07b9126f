"""A PostgreSQL or Redis outage while a unit runs is no attempt of the unit's: run_unit says
whether the claim it committed counted one (ServiceOutage.attempt_owed), and the claim of the
next delivery then counts none. Real services, and really unreachable ones (nothing listens)."""

from __future__ import annotations

import dataclasses

import pytest
import redis
from sqlalchemy import select

from stocksync.runs import ledger
from stocksync.runs import service as runs
from stocksync.runs.execution import ServiceOutage, run_unit
from stocksync.storage.engine import make_engine
from stocksync.storage.schema import sync_items

NOWHERE_DB = "postgresql+psycopg2://nobody@127.0.0.1:1/nowhere"  # connection refused


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def dispatch(self, run_id, item_ids):
        self.sent.extend(item_ids)


def one_unit(ctx) -> int:
    recorder = Recorder()
    body = {"start_date": "2025-03-03", "end_date": "2025-03-03", "sources": ["sim"]}
    runs.create_run(ctx, runs.parse_spec(ctx, body), recorder)
    assert len(recorder.sent) == 1
    return recorder.sent[0]


def attempts(ctx, item_id: int) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(select(sync_items.c.attempts).where(sync_items.c.id == item_id)).one()[
            0
        ]


def test_postgres_out_of_reach_before_the_claim_owes_nothing(ctx):
    item = one_unit(ctx)
    down = dataclasses.replace(ctx, engine=make_engine(NOWHERE_DB))
    try:
        with pytest.raises(ServiceOutage) as info:
            run_unit(down, item)
    finally:
        down.engine.dispose()
    assert info.value.attempt_owed is False  # the claim never committed
    assert attempts(ctx, item) == 0
    assert run_unit(ctx, item).outcome == "success"
    assert attempts(ctx, item) == 1


def test_redis_out_of_reach_after_the_claim_is_owed_back_on_the_next_delivery(ctx):
    item = one_unit(ctx)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    down = dataclasses.replace(ctx, redis=dead)
    with pytest.raises(ServiceOutage) as info:
        run_unit(down, item)  # claimed (PostgreSQL is fine), then the run's lock is out of reach
    assert info.value.attempt_owed is True
    assert attempts(ctx, item) == 1  # counted by the claim, spent by the outage
    with pytest.raises(ServiceOutage) as again:
        run_unit(down, item, attempt_owed=True)  # still down: the debt stays
    assert again.value.attempt_owed is True and attempts(ctx, item) == 1
    assert run_unit(ctx, item, attempt_owed=True).outcome == "success"
    assert attempts(ctx, item) == 1  # the outage counted against nothing
    with ctx.engine.connect() as conn:
        assert ledger.get_item(conn, item).status.value == "success"
