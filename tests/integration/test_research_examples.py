"""The README's "After a sync: research" examples, run as they are against a synced simulated
store: each code block executes, and what it computes is checked against the truth."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from inprocess_runs import run_to_end  # type: ignore[import-not-found]

from stocksync import read
from stocksync.domain import Period
from stocksync.sources.sim import sim_market

README = Path(__file__).resolve().parents[2] / "README.md"


def examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## After a sync: research", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.fixture
def store(ctx, settings, monkeypatch):
    market = sim_market(settings.sim.seed, settings.sim.stocks)
    run_to_end(ctx, {"start_date": "2026-09-01", "end_date": "2026-10-30",
                     "datasets": ["bars", "adj_factors", "index_members"]})  # fmt: skip
    codes = [s.code for s in market.securities() if s.is_listed_on(dt.date(2026, 10, 26))][:3]
    run_to_end(ctx, {"start_date": "2026-10-26", "end_date": "2026-10-30", "symbols": codes,
                     "periods": ["5min"], "datasets": ["minute_bars"]})  # fmt: skip
    run_to_end(ctx, {"kind": "all_history", "start_date": "2025-01-01", "end_date": "2026-10-30",
                     "symbols": codes, "datasets": ["financials"]})  # fmt: skip
    reader = read.connect(ctx.urls.database_url)
    monkeypatch.setattr(read, "connect", lambda *a, **k: reader)
    yield market, codes
    reader.engine.dispose()


def test_there_are_three_examples():
    assert len(examples()) == 3


def test_the_qfq_panel_of_csi_300_members(store):
    market, _ = store
    found: dict = {}
    exec(examples()[0], found)  # the README's own code
    panel = found["panel"]
    day = dt.date(2026, 10, 30)
    members = {m.code for m in market.index_members("000300.SH", day, day)}
    last = panel.loc[panel.index.max()].dropna()
    assert set(last.index.astype(str)) <= members and len(last) > 0.9 * len(members)


def test_the_daily_vwap_from_five_minute_bars(store):
    market, _ = store
    found: dict = {}
    exec(examples()[1], found)
    vwap = found["vwap"]
    assert len(vwap) > 0
    for (code, day), value in vwap.items():
        (bar,) = market.bars_for_code(str(code), day, day, Period.DAILY)
        assert value == pytest.approx(bar.amount / bar.volume, rel=1e-9)


def test_the_point_in_time_roe_screen(store):
    market, codes = store
    found: dict = {}
    exec(examples()[2], found)
    as_of = dt.date(2026, 5, 6)
    truth = {}
    for code in codes:
        known = market.financials(code, dt.date(2000, 1, 1), as_of)
        if known:
            period = max(r.report_period for r in known)
            truth[code] = [r for r in known if r.report_period == period][-1]
    assert len(found["latest"]) == len(truth) > 0
    screened = {c: r.roe for c, r in truth.items() if r.roe is not None and r.roe > 10}
    got = {str(row["code"]): row["roe"] for _, row in found["screen"].iterrows()}
    assert got == pytest.approx(screened)
