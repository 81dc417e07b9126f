import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from stocksync.datasets.bars import write_bars
from stocksync.domain import Bar, Period
from stocksync.storage.schema import bars


def make_bar(code="600000.SH", day=5, close=10.21, **changes):
    values = dict(
        code=code, period=Period.DAILY, trade_date=dt.date(2026, 1, day), open=10.0, high=10.5,
        low=9.8, close=close, pre_close=10.0, volume=123_400, amount=1_259_914.5,
        turnover_pct=0.5123, pct_chg=2.1, trade_status=1, is_st=False,
    )  # fmt: skip
    values.update(changes)
    return Bar(**values)


def stored(ctx):
    with ctx.engine.connect() as conn:
        return conn.execute(select(bars).order_by(bars.c.code, bars.c.trade_date)).all()


def test_bars_are_stored_exactly(ctx):
    with ctx.engine.begin() as conn:
        assert write_bars(conn, [make_bar(), make_bar(day=6, pre_close=None)], source="sim") == 2
    rows = stored(ctx)
    assert len(rows) == 2
    first = rows[0]._mapping
    assert first["close"] == Decimal("10.21")
    assert first["volume"] == 123_400
    assert first["amount"] == Decimal("1259914.50")
    assert first["turnover_pct"] == Decimal("0.5123")
    assert first["source"] == "sim"
    assert rows[1]._mapping["pre_close"] is None


def test_an_identical_rerun_changes_nothing_and_a_changed_row_is_updated(ctx):
    batch = [make_bar(code=f"60000{n}.SH") for n in range(5)]
    with ctx.engine.begin() as conn:
        assert write_bars(conn, batch, source="sim") == 5
    before = {r.code: r.fetched_at for r in stored(ctx)}
    with ctx.engine.begin() as conn:
        assert write_bars(conn, batch, source="sim") == 0  # nothing changed: nothing written
    assert {r.code: r.fetched_at for r in stored(ctx)} == before
    batch[2] = make_bar(code="600002.SH", close=10.3)
    with ctx.engine.begin() as conn:
        assert write_bars(conn, batch, source="other") == 1
    changed = {r.code: r for r in stored(ctx)}["600002.SH"]
    assert changed.close == Decimal("10.30") and changed.source == "other"
    assert len(stored(ctx)) == 5


def test_a_rolled_back_transaction_leaves_no_bars(ctx):
    try:
        with ctx.engine.begin() as conn:
            write_bars(conn, [make_bar()], source="sim")
            raise RuntimeError("killed mid-write")
    except RuntimeError:
        pass
    assert stored(ctx) == []
    with ctx.engine.begin() as conn:  # the staging table is usable again on the same connection
        assert write_bars(conn, [make_bar()], source="sim") == 1
