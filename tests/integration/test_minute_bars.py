"""Minute bars through the run machinery on real PostgreSQL and Redis: stored exactly as the
simulated market has them in a table partitioned by month, each partition made on first write,
a faulty day rejected whole, the reader's frames, and the cross-check with the daily bars
catching a planted difference."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow.parquet as pq
from inprocess_runs import run_to_end, units  # type: ignore[import-not-found]
from sqlalchemy import select, text, update

from stocksync import read
from stocksync.datasets.minute_bars import MINUTE_BARS
from stocksync.domain import Period
from stocksync.market.export_tables import export_table
from stocksync.market.minute_checks import check_minute_bars
from stocksync.market.stats import storage_stats as stats_of
from stocksync.runs import service as runs
from stocksync.sources.sim import sim_market
from stocksync.storage.schema import minute_bars

START, END = dt.date(2024, 5, 27), dt.date(2024, 6, 7)  # across a month end


def codes_of(market, n=4):
    return [s.code for s in market.securities()
            if s.list_date < dt.date(2023, 1, 1) and s.delist_date is None][:n]  # fmt: skip


def test_minute_bars_are_stored_as_the_market_has_them(ctx, settings, tmp_path):
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    codes = codes_of(market)
    body = {"start_date": str(START), "end_date": str(END), "symbols": codes,
            "periods": ["daily", "5min", "60min"], "datasets": ["bars", "minute_bars"]}  # fmt: skip
    created, _ = run_to_end(ctx, body)
    assert runs.run_view(ctx, created.run_id)["status"] == "success"
    assert {(u.period, u.dataset) for u in units(ctx, created.run_id)} == {
        ("daily", "bars"), ("5min", "minute_bars"), ("60min", "minute_bars")}
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(minute_bars.c.code, minute_bars.c.period,
                                     minute_bars.c.bar_time, minute_bars.c.close,
                                     minute_bars.c.volume, minute_bars.c.amount)).all()  # fmt: skip
        parts = conn.execute(text("SELECT relname FROM pg_class WHERE relname LIKE "
                                  "'minute_bars_2024%' AND relkind = 'r' ORDER BY 1")).scalars()  # fmt: skip
        assert {"minute_bars_202405", "minute_bars_202406"} <= set(parts)
    got = {(c, p, t, float(close), v, float(a)) for c, p, t, close, v, a in stored}
    truth = {(b.code, b.period.value, b.bar_time, b.close, b.volume, b.amount)
             for code in codes for p in (Period.MIN5, Period.MIN60)
             for b in market.minute_bars(code, p, START, END)}  # fmt: skip
    assert got == truth and len(got) > 0
    with ctx.engine.connect() as conn:
        findings, compared = check_minute_bars(conn, START, END)
    assert findings == [] and compared == len({(c, t.date()) for c, p, t, *_ in got
                                               if p == "5min"})  # fmt: skip
    with ctx.engine.begin() as conn:  # plant: one 5-minute bar's volume in lots
        first = min(t for c, p, t, *_ in got if c == codes[0] and p == "5min")
        conn.execute(update(minute_bars).where(minute_bars.c.code == codes[0],
                                               minute_bars.c.period == "5min",
                                               minute_bars.c.bar_time == first)
                     .values(volume=minute_bars.c.volume + 100))  # fmt: skip
    with ctx.engine.connect() as conn:
        findings, _ = check_minute_bars(conn, START, END)
    assert [(f["code"], f["trade_date"], f["field"]) for f in findings] == [
        (codes[0], first.date().isoformat(), "volume")]
    reader = read.connect(ctx.urls.database_url)
    frame = read.bars(codes[:2], start=START, end=END, period="60min")
    assert list(frame.columns) == ["code", "bar_time", "open", "high", "low", "close", "volume",
                                   "amount"]  # fmt: skip
    assert len(frame) == sum(len(market.minute_bars(c, Period.MIN60, START, END))
                             for c in codes[:2])  # fmt: skip
    reader.engine.dispose()
    again = runs.preview_run(ctx, runs.parse_spec(ctx, {**body, "sources": ["sim"]}))
    assert again["expected_calls"] == 0  # everything is stored
    out = export_table(ctx.engine, tmp_path / "m.parquet", dataset="minute_bars", fmt="parquet",
                       period="60min", start=START, end=END)  # fmt: skip
    table = pq.read_table(out.path)
    assert out.rows == table.num_rows == len([g for g in got if g[1] == "60min"])
    assert str(table.schema.field("bar_time").type).startswith("timestamp")
    assert stats_of(ctx)["minute_bars"][0]["period"] in ("5min", "60min")


def test_a_day_with_a_faulty_bar_is_rejected_whole(settings):
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    code = codes_of(market, 1)[0]
    day = market.trading_days(START, END)[2]
    bars = market.minute_bars(code, Period.MIN5, day, day)
    good, rejected = MINUTE_BARS.check(bars, Period.MIN5)
    assert len(good) == 48 and rejected == []
    short, rejected = MINUTE_BARS.check(bars[:-1], Period.MIN5)
    assert short == [] and len(rejected) == 47 and "47 of 48" in rejected[0].reason
    lots = [dataclasses.replace(b, volume=b.volume // 100) if i == 7 else b
            for i, b in enumerate(bars)]  # fmt: skip
    kept, rejected = MINUTE_BARS.check(lots, Period.MIN5)
    if bars[7].volume >= 100:
        assert kept == [] and "lots" in rejected[0].reason
