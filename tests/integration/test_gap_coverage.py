"""Skipping by coverage: a per-stock unit shrinks to the dates no earlier run finished (per-stock
ranges and market-wide dates alike), and is skipped when none is left — what makes the monthly
all-history gap check fetch only the gaps."""

from __future__ import annotations

import datetime as dt

from inprocess_runs import oracle_codes, run_to_end, units  # type: ignore[import-not-found]
from sqlalchemy import select, update

from stocksync.runs import service as runs
from stocksync.storage.schema import sync_item_datasets, sync_items


def d(day: int) -> dt.date:
    return dt.date(2025, 3, day)


def test_units_shrink_to_the_gaps_and_the_covered_ones_are_skipped(ctx, oracle):
    a, b = sorted(oracle_codes(ctx))[:2]
    pair = {"symbols": [a, b]}
    run_to_end(ctx, {**pair, "start_date": "2025-03-03", "end_date": "2025-03-14"})

    wider, _ = run_to_end(ctx, {**pair, "start_date": "2025-03-03", "end_date": "2025-03-21"})
    spans = {u.code: (u.start_date, u.end_date) for u in units(ctx, wider.run_id)}
    assert spans == {a: (d(17), d(21)), b: (d(17), d(21))}  # only what is new

    again, _ = run_to_end(ctx, {**pair, "start_date": "2025-03-03", "end_date": "2025-03-21"})
    assert (again.total, again.skipped, again.pending) == (2, 2, 0)

    market, _ = run_to_end(ctx, {"start_date": "2025-03-24", "end_date": "2025-03-26"})
    with ctx.engine.begin() as conn:  # one market-wide day failed in that run
        failed = select(sync_items.c.id).where(
            sync_items.c.run_id == market.run_id, sync_items.c.trade_date == d(25)
        )
        conn.execute(update(sync_items).where(sync_items.c.id.in_(failed)).values(status="failed"))
        conn.execute(
            update(sync_item_datasets)
            .where(sync_item_datasets.c.item_id.in_(failed))
            .values(status="incomplete")
        )
    gap, _ = run_to_end(ctx, {**pair, "start_date": "2025-03-03", "end_date": "2025-03-26"})
    spans = {u.code: (u.start_date, u.end_date) for u in units(ctx, gap.run_id)}
    assert spans == {a: (d(25), d(25)), b: (d(25), d(25))}  # just the hole

    days = oracle.trading_days(d(3), d(26))
    stored = {row for row in oracle.stored(ctx.engine) if row[0] in (a, b)}
    assert stored == oracle.expected(days, codes={a, b})


def test_force_ignores_coverage(ctx):
    a = sorted(oracle_codes(ctx))[0]
    body = {"symbols": [a], "start_date": "2025-03-03", "end_date": "2025-03-14"}
    run_to_end(ctx, body)
    forced, _ = run_to_end(ctx, {**body, "force": True})
    assert (forced.total, forced.skipped) == (1, 0)
    with ctx.engine.connect() as conn:
        [unit] = conn.execute(select(sync_items).where(sync_items.c.run_id == forced.run_id))
    assert (unit.start_date, unit.end_date) == (d(3), d(14))


def test_preview_counts_covered_units_as_done(ctx):
    a = sorted(oracle_codes(ctx))[0]
    body = {"symbols": [a], "start_date": "2025-03-03", "end_date": "2025-03-14"}
    run_to_end(ctx, body)
    preview = runs.preview_run(ctx, runs.parse_spec(ctx, {**body, "sources": ["sim"]}))
    assert (preview["units"], preview["already_done"], preview["expected_calls"]) == (1, 1, 0)
