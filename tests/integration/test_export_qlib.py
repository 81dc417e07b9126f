"""``export_qlib``: the store as qlib's binary day data, read back through ``qlib.data.D`` and
byte for byte, on real PostgreSQL; a second export after more days were synced only appends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import qlib
from inprocess_runs import run_to_end  # type: ignore[import-not-found]
from sqlalchemy import delete, select

from stocksync.errors import InvalidRequest
from stocksync.market.export_qlib import FIELDS, export_qlib
from stocksync.storage.schema import adj_factors, bars

FIRST = (dt.date(2024, 6, 3), dt.date(2024, 6, 28))
SECOND = (dt.date(2024, 7, 1), dt.date(2024, 7, 12))
SPLIT = "600650.SH"  # its factor changes within FIRST (the sim's seed and size)
LATE = "688866.SH"  # listed 2024-07-09, inside SECOND
SYMBOLS = ["600046.SH", SPLIT, "000315.SZ", LATE]


def sync(ctx, days):
    run_to_end(ctx, {"start_date": str(days[0]), "end_date": str(days[1]), "periods": ["daily"],
                     "datasets": ["bars", "adj_factors"], "symbols": SYMBOLS})  # fmt: skip


def stored(ctx, code):
    """The stock's stored daily bars with factors, as float64 arrays by name."""
    on = (adj_factors.c.code == bars.c.code) & (adj_factors.c.trade_date == bars.c.trade_date)
    query = (
        select(
            bars.c.trade_date,
            bars.c.open,
            bars.c.close,
            bars.c.high,
            bars.c.low,
            bars.c.volume,
            bars.c.amount,
            adj_factors.c.factor,
        )
        .select_from(bars.join(adj_factors, on))
        .where(bars.c.code == code, bars.c.period == "daily")
        .order_by(bars.c.trade_date)
    )
    with ctx.engine.connect() as conn:
        rows = conn.execute(query).all()
    names = ("day", "open", "close", "high", "low", "volume", "amount", "factor")
    out = {n: np.array([float(r[i]) for r in rows]) for i, n in enumerate(names) if n != "day"}
    out["day"] = np.array([np.datetime64(r[0]) for r in rows])
    return out


def read_qlib(out: Path, codes, start, end):
    """What qlib itself reads: D.features on a freshly initialised provider."""
    from qlib.data import D

    qlib.init(provider_uri=str(out), region="cn", expression_cache=None, dataset_cache=None,
              kernels=1)  # fmt: skip
    fields = [f"${name}" for name in FIELDS]
    frame = D.features([c[-2:] + c[:6] for c in codes], fields, str(start), str(end))
    return frame, [d.date() for d in D.calendar(freq="day")]


def assert_matches_store(ctx, out: Path, codes, end):
    frame, calendar = read_qlib(out, codes, FIRST[0], end)
    assert calendar[0] == FIRST[0] and calendar[-1] == end
    for code in codes:
        truth = stored(ctx, code)
        got = frame.loc[code[-2:] + code[:6]]
        assert [d.date() for d in got.index] == [d.astype(object) for d in truth["day"]]
        scale = truth["factor"][0] * truth["close"][0]  # the first day's adjusted close
        assert got["$close"].iloc[0] == pytest.approx(1.0, rel=1e-6)
        np.testing.assert_allclose(got["$factor"], truth["factor"] / scale, rtol=1e-6)
        for name in ("open", "close", "high", "low"):
            np.testing.assert_allclose(got[f"${name}"] / got["$factor"], truth[name], rtol=1e-6)
        np.testing.assert_allclose(got["$volume"] * got["$factor"], truth["volume"], rtol=1e-6)
        np.testing.assert_allclose(got["$amount"], truth["amount"], rtol=1e-6)
        adjusted = truth["close"] * truth["factor"]
        assert np.isnan(got["$change"].iloc[0])
        np.testing.assert_allclose(got["$change"].iloc[1:], adjusted[1:] / adjusted[:-1] - 1,
                                   rtol=1e-5, atol=1e-7)  # fmt: skip


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_export_reads_back_through_qlib_then_appends_only_the_new_days(ctx, tmp_path):
    out = tmp_path / "qlib"
    sync(ctx, FIRST)
    first = export_qlib(ctx.engine, out)
    calendar = (out / "calendars" / "day.txt").read_text().split("\n")
    assert calendar[-1] == "" and calendar[0] == "2024-06-03" and "2024-06-10" not in calendar
    assert first["days_appended"] == len(calendar) - 1 == 19
    assert first["stocks"] == first["stocks_created"] == 3  # LATE is not listed yet
    assert first["files"] == 3 * len(FIELDS) and first["values"] == 3 * len(FIELDS) * 19
    assert (out / "instruments" / "all.txt").read_text() == (
        "SH600046\t2024-06-03\t2024-06-28\nSH600650\t2024-06-03\t2024-06-28\n"
        "SZ000315\t2024-06-03\t2024-06-28\n"
    )
    # qlib's dump_bin format: little-endian float32, the start index, then a value a day.
    raw = (out / "features" / "sh600650" / "close.day.bin").read_bytes()
    assert len(raw) == 4 * 20 and np.frombuffer(raw[:4], "<f4")[0] == 0.0
    truth = stored(ctx, SPLIT)
    assert len(set(truth["factor"])) > 1  # the case that needs the factor
    expected = truth["close"] * truth["factor"] / (truth["close"][0] * truth["factor"][0])
    assert raw[4:] == expected.astype("<f4").tobytes()
    assert_matches_store(ctx, out, SYMBOLS[:3], FIRST[1])
    before = snapshot(out)

    sync(ctx, SECOND)
    second = export_qlib(ctx.engine, out)
    assert second["days_appended"] == 10 and second["calendar_days"] == 29
    assert second["stocks"] == 4 and second["stocks_created"] == 1
    after = snapshot(out)
    for name, old in before.items():  # every binary file only grew at its end
        if name.endswith(".bin"):
            assert after[name][: len(old)] == old and len(after[name]) == len(old) + 40
    assert after["calendars/day.txt"].startswith(before["calendars/day.txt"])
    late = np.fromfile(out / "features" / "sh688866" / "close.day.bin", "<f4")
    days = after["calendars/day.txt"].decode().split()
    assert late[0] == days.index("2024-07-09") and len(late) == 1 + 4
    assert (out / "instruments" / "all.txt").read_text() == (
        "SH600046\t2024-06-03\t2024-07-12\nSH600650\t2024-06-03\t2024-07-12\n"
        "SH688866\t2024-07-09\t2024-07-12\nSZ000315\t2024-06-03\t2024-07-12\n"
    )
    assert_matches_store(ctx, out, SYMBOLS, SECOND[1])

    again = export_qlib(ctx.engine, out)
    assert (again["days_appended"], again["files"], again["values"]) == (0, 0, 0)
    assert snapshot(out) == after


def test_an_interrupted_export_is_finished_and_bad_requests_write_nothing(ctx, tmp_path):
    out = tmp_path / "qlib"
    sync(ctx, FIRST)
    export_qlib(ctx.engine, out, end=dt.date(2024, 6, 21), codes=["sh600650"])
    whole = snapshot(out)
    assert len(whole) == 2 + len(FIELDS)  # the calendar, the instruments, one stock's fields
    close = out / "features" / "sh600650" / "close.day.bin"
    close.write_bytes(close.read_bytes()[:-6])  # a crash: one value lost, one torn
    (out / "features" / "sh600650" / "amount.day.bin").unlink()
    done = export_qlib(ctx.engine, out, end=dt.date(2024, 6, 21), codes=["600650"])
    assert done["days_appended"] == 0 and done["files"] == 2
    assert snapshot(out) == whole

    with pytest.raises(InvalidRequest, match="leave start out"):
        export_qlib(ctx.engine, out, start=dt.date(2024, 6, 26))
    with ctx.engine.begin() as conn:
        conn.execute(delete(adj_factors).where(adj_factors.c.code == "000315.SZ",
                                               adj_factors.c.trade_date == dt.date(2024, 6, 25)))  # fmt: skip
    with pytest.raises(InvalidRequest, match=r"000315\.SZ on 1 day"):
        export_qlib(ctx.engine, out)
    assert snapshot(out) == whole


def test_suspended_days_are_nan_but_keep_their_factor(ctx, tmp_path):
    code = "002504.SZ"  # suspended on 2024-06-05 and 06-06 (the sim's seed and size)
    run_to_end(ctx, {"start_date": str(FIRST[0]), "end_date": str(FIRST[1]), "periods": ["daily"],
                     "datasets": ["bars", "adj_factors"], "symbols": [code]})  # fmt: skip
    export_qlib(ctx.engine, tmp_path, codes=[code])
    frame, _ = read_qlib(tmp_path, [code], FIRST[0], FIRST[1])
    got = frame.loc["SZ002504"]
    truth = stored(ctx, code)
    off = [dt.date(2024, 6, 5), dt.date(2024, 6, 6)]
    dates = [d.date() for d in got.index]
    for name in ("$open", "$close", "$high", "$low", "$volume", "$amount", "$change"):
        assert got[name][[d in off for d in dates]].isna().all()
        assert got[name][[d not in off and d != FIRST[0] for d in dates]].notna().all()
    scale = truth["factor"][0] * truth["close"][0]
    np.testing.assert_allclose(got["$factor"], truth["factor"] / scale, rtol=1e-6)
    at = dates.index(dt.date(2024, 6, 7))  # compared with the last traded day, 06-04
    adjusted = truth["close"] * truth["factor"]
    assert got["$change"].iloc[at] == pytest.approx(adjusted[at] / adjusted[1] - 1, rel=1e-5)
