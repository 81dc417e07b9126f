"""The akshare adapter's minute bars against the fake eastmoney, through the unmodified akshare
library (``stock_zh_a_hist_min_em``): units, the bar-end time, the recent-only depth, one
request per (stock, period) and faults. The contract's truth test runs in
``test_akshare_contract.py``; the fixtures are that module's."""

from __future__ import annotations

import datetime as dt

import pytest
import test_akshare_contract as _contract  # type: ignore[import-not-found]
from fake_eastmoney import KLINE_PATH, FakeEastmoney  # type: ignore[import-not-found]
from fake_eastmoney_minutes import DEPTH_DAYS, TODAY  # type: ignore[import-not-found]
from faults import Faults  # type: ignore[import-not-found]

from stocksync.datasets import dataset
from stocksync.datasets.completeness import Expectation, judge
from stocksync.domain import MINUTE_PERIODS, DatasetName, MinuteBar, Period
from stocksync.sim import SimMarket
from stocksync.sources.akshare import AkshareSource, minutes
from stocksync.sources.base import NoDataError, TransientSourceError

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame")
EASTMONEY = _contract.EASTMONEY
# the contract module's fixtures: its fake eastmoney, faults and source
market, fake, _faults = _contract.market, _contract.fake, _contract._faults
faults, routed, source = _contract.faults, _contract.routed, _contract.source
CODE = "605685.SH"
WEEK = (dt.date(2026, 11, 23), dt.date(2026, 11, 27))


def _view(bars: list[MinuteBar]) -> list[tuple[object, ...]]:
    return [(b.code, b.period, b.bar_time, b.open, b.high, b.low, b.close, b.volume, b.amount)
            for b in sorted(bars, key=lambda b: b.bar_time)]  # fmt: skip


def _klines(server: FakeEastmoney) -> list[dict[str, str]]:
    return [p for host, path, p in server.log if (host, path) == (EASTMONEY, KLINE_PATH)]


def _days(bars: list[MinuteBar]) -> list[dt.date]:
    return sorted({b.bar_time.date() for b in bars})


# -- units and forms -------------------------------------------------------------------------
def test_volume_comes_in_lots_and_is_stored_in_shares(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    bars = source.minute_bars("920047.BJ", Period.MIN15, *WEEK)
    wire = [k for k in routed.served[-1] if WEEK[0].isoformat() <= k[:10] <= WEEK[1].isoformat()]
    assert [b.volume for b in bars] == [int(k.split(",")[5]) * 100 for k in wire]
    truth = market.minute_bars("920047.BJ", Period.MIN15, *WEEK)
    assert [b.volume for b in bars] == [b.volume for b in truth] and truth
    assert [b.amount for b in bars] == [b.amount for b in truth]
    assert dataset(DatasetName.MINUTE_BARS).check(bars, Period.MIN15)[1] == []


def test_the_time_is_the_bars_end_parsed_from_akshares_text(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    import akshare as ak  # type: ignore[import-untyped]

    frame = ak.stock_zh_a_hist_min_em(symbol=CODE[:6], start_date="2026-11-23 09:00:00",
                                      end_date="2026-11-23 15:00:00", period="5")  # fmt: skip
    assert list(frame["时间"][:2]) == ["2026-11-23 09:35:00", "2026-11-23 09:40:00"]
    stamp = routed.served[-1][0].split(",")[0]  # eastmoney's "YYYY-MM-DD HH:MM", no seconds
    assert len(stamp) == 16 and stamp.endswith(" 09:35")
    assert minutes.bar_time("2026-11-23 15:00:00") == dt.datetime(2026, 11, 23, 15, 0)
    for period in sorted(MINUTE_PERIODS):
        bars = source.minute_bars(CODE, period, WEEK[0], WEEK[0])
        times = [b.bar_time.time() for b in bars]
        step = dt.timedelta(minutes=period.minutes or 0)
        first = (dt.datetime(2026, 11, 23, 9, 30) + step).time()
        assert times[0] == first and times[-1] == dt.time(15, 0), period
        assert dt.time(11, 30) in times and dt.time(13, 0) not in times
        assert len(times) == 240 // (period.minutes or 1)


def test_the_query_is_akshares_kline_with_klt_and_the_whole_history(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    for period in sorted(MINUTE_PERIODS):
        source.minute_bars("000945.SZ", period, *WEEK)
    source.minute_bars("920047.BJ", Period.MIN60, *WEEK)
    queries = [(p["secid"], p["klt"], p["fqt"], p["beg"], p["end"]) for p in _klines(routed)]
    assert queries == [
        ("0.000945", "15", "0", "0", "20500000"),
        ("0.000945", "30", "0", "0", "20500000"),
        ("0.000945", "5", "0", "0", "20500000"),
        ("0.000945", "60", "0", "0", "20500000"),
        ("0.920047", "60", "0", "0", "20500000"),  # akshare sends Beijing as market 0
    ]


def test_one_request_per_stock_and_period_whatever_the_range(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    spans = (WEEK, (WEEK[0], WEEK[0]), (dt.date(2020, 1, 1), TODAY), (dt.date(2026, 1, 5), TODAY))
    for start, end in spans:
        before = routed.count(EASTMONEY, KLINE_PATH)
        got = source.minute_bars(CODE, Period.MIN30, start, end)
        assert routed.count(EASTMONEY, KLINE_PATH) == before + 1, (start, end)
        assert got and all(start <= b.bar_time.date() <= end for b in got)


# -- depth: recent days only -----------------------------------------------------------------
def test_the_fake_serves_the_last_n_trading_days_up_to_today(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    served = routed.minutes.window()
    assert len(served) == DEPTH_DAYS and served[-1] == TODAY
    assert served == market.trading_days(served[0], TODAY)
    bars = source.minute_bars(CODE, Period.MIN60, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    traded = {b.trade_date for b in market.bars_for_code(CODE, served[0], TODAY)
              if b.trade_status == 1}  # fmt: skip
    assert set(_days(bars)) == traded


def test_a_range_older_than_the_depth_gives_no_rows_never_invented(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    routed.minutes.today, routed.minutes.depth_days = dt.date(2026, 11, 25), 10
    first = routed.minutes.window()[0]
    assert first == market.trading_days(dt.date(2026, 11, 1), first)[-1]
    older = (dt.date(2026, 9, 1), first - dt.timedelta(days=1))
    assert source.minute_bars(CODE, Period.MIN5, *older) == []
    assert routed.count(EASTMONEY, KLINE_PATH) == 1  # it asked: the depth is the server's


def test_a_range_straddling_the_depth_gives_only_the_served_days(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    routed.minutes.today, routed.minutes.depth_days = dt.date(2026, 11, 25), 10
    served = routed.minutes.window()
    start, end = dt.date(2026, 10, 26), dt.date(2026, 11, 27)
    got = source.minute_bars(CODE, Period.MIN15, start, end)
    assert _days(got) and _days(got)[0] == served[0] and _days(got)[-1] == served[-1]
    truth = market.minute_bars(CODE, Period.MIN15, served[0], served[-1])
    assert _view(got) == _view(truth)
    # and the run sees it: the days before the depth are missing, never "complete"
    minute_ds = dataset(DatasetName.MINUTE_BARS)
    days = market.trading_days(start, served[-1])
    expected = Expectation(frozenset((CODE, d) for d in days), by_date=False)
    verdict = judge(minute_ds, got, Period.MIN15, expected,
                    omits_suspended=source.omits_suspended(DatasetName.MINUTE_BARS))  # fmt: skip
    assert not verdict.complete and verdict.rejected == []
    assert {d for _, d in verdict.missing} == {d for d in days if d < served[0]}


def test_an_oldest_day_cut_in_the_middle_is_missing_not_rejected(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    routed.minutes.cap_bars = 48 * 3 + 20  # a count cap: three whole days and 20 bars
    got = source.minute_bars(CODE, Period.MIN5, dt.date(2026, 11, 1), TODAY)
    assert len(_days(got)) == 3 and len(got) == 48 * 3
    assert dataset(DatasetName.MINUTE_BARS).check(got, Period.MIN5)[1] == []


def test_suspended_days_are_absent(source: AkshareSource, market: SimMarket) -> None:
    window = (TODAY - dt.timedelta(days=80), TODAY)
    for sec in market.securities():
        bars = market.bars_for_code(sec.code, *window) if sec.delist_date is None else []
        off = {b.trade_date for b in bars if b.trade_status == 0}
        if off and len(off) < len(bars):
            break
    else:
        pytest.skip("no stock suspended within the depth")
    got = source.minute_bars(sec.code, Period.MIN60, *window)
    assert got and not off & set(_days(got))
    traded = {b.trade_date for b in bars if b.trade_status == 1}
    assert set(_days(got)) == {d for d in traded if d >= min(_days(got))}


# -- empty replies and faults ----------------------------------------------------------------
def test_no_minute_bar_in_the_depth_is_an_empty_answer(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    code = "000286.SZ"  # delisted 2024-12-20: eastmoney sends "klines": []
    assert market.security(code).delist_date == dt.date(2024, 12, 20)
    assert source.minute_bars(code, Period.MIN5, dt.date(2024, 12, 2), TODAY) == []
    assert routed.served[-1] == []


def test_no_data_for_a_listed_stock_is_transient_for_an_unknown_code_no_data(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    routed.blank.add(CODE[:6])  # "data": null, as when throttling
    with pytest.raises(TransientSourceError):
        source.minute_bars(CODE, Period.MIN5, *WEEK)
    routed.blank.clear()
    with pytest.raises(NoDataError):
        source.minute_bars("600999.SH", Period.MIN5, *WEEK)


@pytest.mark.parametrize("fault", ["server_error", "bad_json", "drop"])
def test_a_failing_minute_kline_is_transient(
    source: AkshareSource, routed: FakeEastmoney, faults: Faults, fault: str
) -> None:
    faults.set(**{fault: True})
    with pytest.raises(TransientSourceError):
        source.minute_bars(CODE, Period.MIN5, *WEEK)
    faults.clear()
    assert source.minute_bars(CODE, Period.MIN5, *WEEK)


def test_volume_left_in_shares_is_rejected_by_the_dataset(
    source: AkshareSource, routed: FakeEastmoney, faults: Faults
) -> None:
    faults.set(garbage=True)  # volume in shares, the first kline's high below its low
    got = source.minute_bars(CODE, Period.MIN30, *WEEK)
    good, rejected = dataset(DatasetName.MINUTE_BARS).check(got, Period.MIN30)
    assert got and good == [] and len(rejected) == len(got)
    assert any("lots" in r.reason for r in rejected)


def test_each_minute_request_is_paid_for(routed: FakeEastmoney) -> None:
    quota = _contract._Quota()
    src = AkshareSource(timeout_s=_contract.TIMEOUT_S, calls_per_minute=1000, quota=quota)
    src.minute_bars(CODE, Period.MIN5, *WEEK)
    src.minute_bars(CODE, Period.MIN60, dt.date(2026, 1, 1), TODAY)
    assert len(quota.calls) == routed.count(EASTMONEY, KLINE_PATH) == 2
