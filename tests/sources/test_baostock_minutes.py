"""baostock's minute bars through the unmodified client against the fake server
(tests/sources/fake_baostock_minutes.py): the ten minute fields and nothing else, ``time`` as
the bar's end, 2,000-row pages fetched by ``next()``, stocks of Shanghai and Shenzhen only,
suspended days absent, and faults mid-reply."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fake_baostock import PAGE_ROWS, FakeBaostockServer, bs_code  # type: ignore[import-not-found]
from faults import Faults  # type: ignore[import-not-found]
from test_baostock_contract import SEED, STOCKS, make_source  # type: ignore[import-not-found]

from stocksync.datasets import dataset
from stocksync.datasets.minute_bars import bar_times
from stocksync.domain import MINUTE_PERIODS, DatasetName, MinuteBar, Period
from stocksync.sim import SimMarket
from stocksync.sources.baostock import BaostockSource
from stocksync.sources.baostock.minutes import FIELDS, parse_time
from stocksync.sources.base import FatalSourceError, NoDataError, TransientSourceError
from stocksync.sources.sim import sim_market

CODE = "605685.SH"  # listed and trading throughout 2025 and November 2026
OTHER = "000945.SZ"
WEEK = (dt.date(2026, 11, 23), dt.date(2026, 11, 27))
YEAR = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
SUSPENDED_CODE = "002766.SZ"  # suspended on 15 trading days of 2024-12-02 .. 2025-01-31
SUSPENDED_SPAN = (dt.date(2024, 12, 2), dt.date(2025, 1, 31))
FREQUENCY = {Period.MIN5: "5", Period.MIN15: "15", Period.MIN30: "30", Period.MIN60: "60"}
K_DATA = "query_history_k_data_plus"
MINUTES = dataset(DatasetName.MINUTE_BARS)


@pytest.fixture(scope="module")
def market() -> SimMarket:
    return sim_market(SEED, STOCKS)


@pytest.fixture(scope="module")
def server(market: SimMarket) -> Iterator[FakeBaostockServer]:
    fake = FakeBaostockServer(market).start()
    yield fake
    fake.stop()


@pytest.fixture
def faults(server: FakeBaostockServer) -> Iterator[Faults]:
    yield server.reset()
    server.faults.clear()


@pytest.fixture
def source(server: FakeBaostockServer, faults: Faults) -> Iterator[BaostockSource]:
    adapter = make_source(server)
    yield adapter
    faults.clear()
    adapter.close()


def view(bars: list[MinuteBar]) -> list[tuple[object, ...]]:
    return sorted((b.code, b.period, b.bar_time, round(b.open, 4), round(b.high, 4),
                   round(b.low, 4), round(b.close, 4), b.volume, round(b.amount, 2))
                  for b in bars)  # fmt: skip


def raw(source: BaostockSource, code: str, fields: str, period: Period, flag: str = "3"):
    """The rows of one minute k-data query as baostock sends them (strings)."""
    start, end = (d.isoformat() for d in WEEK)
    return source._records(
        "raw",
        lambda bs: bs.query_history_k_data_plus(
            code, fields, start_date=start, end_date=end, frequency=FREQUENCY[period],
            adjustflag=flag,
        ),
    )  # fmt: skip


def k_data_requests(server: FakeBaostockServer) -> list[list[str]]:
    return [r.fields for r in server.stats.requests if r.method == K_DATA]


# -- the wire ------------------------------------------------------------------------------
def test_the_rows_are_baostocks_and_time_is_the_bars_end(source, market):
    rows = raw(source, bs_code(CODE), FIELDS, Period.MIN5)
    assert len(rows) == 5 * 48 and list(rows[0]) == FIELDS.split(",")
    first, lunch, afternoon, last = rows[0], rows[23], rows[24], rows[47]
    assert first["date"] == "2026-11-23" and first["time"] == "20261123093500000"
    assert lunch["time"] == "20261123113000000" and afternoon["time"] == "20261123130500000"
    assert last["time"] == "20261123150000000" and rows[-1]["time"] == "20261127150000000"
    truth = market.minute_bars(CODE, Period.MIN5, *WEEK)[0]
    assert first["code"] == "sh.605685" and first["adjustflag"] == "3"
    assert first["open"] == f"{truth.open:.4f}" and first["volume"] == str(truth.volume)
    assert first["amount"] == f"{truth.amount:.4f}"  # yuan, 4 decimals
    assert all(len(r["close"].split(".")[1]) == 4 for r in rows)
    hourly = raw(source, bs_code(CODE), FIELDS, Period.MIN60)
    assert [r["time"][8:12] for r in hourly[:4]] == ["1030", "1130", "1400", "1500"]
    got = source.minute_bars(CODE, Period.MIN5, *WEEK)
    assert [b.bar_time.time() for b in got[:48]] == bar_times(Period.MIN5)
    assert got[0].bar_time == dt.datetime(2026, 11, 23, 9, 35)


@pytest.mark.parametrize(
    ("text", "date", "expected"),
    [
        ("20240102093500000", "2024-01-02", dt.datetime(2024, 1, 2, 9, 35)),
        ("20240102150000000", "2024-01-02", dt.datetime(2024, 1, 2, 15, 0)),
        ("202401020935", "2024-01-02", None),  # too short
        ("2024-01-02 09:35", "2024-01-02", None),  # not digits
        ("20240102093501000", "2024-01-02", None),  # not a whole minute
        ("20240102093500500", "2024-01-02", None),
        ("20240103093500000", "2024-01-02", None),  # another day than the row's
        ("20240102253500000", "2024-01-02", None),  # no such hour
    ],
)
def test_the_time_field_is_parsed_strictly(text, date, expected):
    if expected is None:
        with pytest.raises(ValueError):
            parse_time(text, date)
    else:
        assert parse_time(text, date) == expected


def test_an_unreadable_time_makes_the_reply_transient(source, monkeypatch):
    import fake_baostock_minutes as fake  # type: ignore[import-not-found]

    monkeypatch.setattr(fake, "bar_time", lambda when: when.strftime("%Y-%m-%d %H:%M:%S"))
    fake._rows.cache_clear()
    try:
        with pytest.raises(TransientSourceError, match="unreadable 5min bar"):
            source.minute_bars(OTHER, Period.MIN5, *WEEK)
    finally:
        fake._rows.cache_clear()


# -- every period, every page --------------------------------------------------------------
def test_every_period_equals_the_truth_in_one_query(source, server, market):
    for period in sorted(MINUTE_PERIODS, key=lambda p: p.minutes or 0):
        got = source.minute_bars(OTHER, period, *WEEK)
        assert MINUTES.check(got, period)[1] == []
        assert view(got) == view(market.minute_bars(OTHER, period, *WEEK)), period
    asked = k_data_requests(server)
    assert [(f[2], f[8], f[9]) for f in asked] == [("1", f, "3") for f in ("5", "15", "30", "60")]


def test_a_year_of_five_minute_bars_comes_in_several_pages(source, server, market):
    truth = market.minute_bars(CODE, Period.MIN5, *YEAR)
    assert len(truth) > 5 * PAGE_ROWS  # ~240 days × 48 bars
    got = source.minute_bars(CODE, Period.MIN5, *YEAR)
    assert view(got) == view(truth)
    assert MINUTES.check(got, Period.MIN5)[1] == []
    pages = [f[2] for f in k_data_requests(server)]
    # one query: the client's next() asks for page n+1 after every full page
    assert pages == [str(n) for n in range(1, len(truth) // PAGE_ROWS + 2)]
    assert server.stats.count("login") == 1
    hourly = source.minute_bars(CODE, Period.MIN60, *YEAR)  # ~1,000 rows: one page
    assert view(hourly) == view(market.minute_bars(CODE, Period.MIN60, *YEAR))
    assert [f[2] for f in k_data_requests(server)][len(pages) :] == ["1"]


# -- only the minute fields ----------------------------------------------------------------
@pytest.mark.parametrize("field", ["turn", "pctChg", "preclose", "tradestatus", "isST", "peTTM"])
def test_a_field_minute_bars_lack_is_refused_like_baostock(source, field):
    with pytest.raises(FatalSourceError, match="10004012"):
        raw(source, bs_code(CODE), f"{FIELDS},{field}", Period.MIN5)


def test_the_adapter_asks_only_the_ten_minute_fields(source, server):
    subset = raw(source, bs_code(CODE), "date,time,code,close", Period.MIN15)
    assert len(subset) == 5 * 16 and list(subset[0]) == ["date", "time", "code", "close"]
    with pytest.raises(FatalSourceError, match="10004012"):  # and time is no daily field
        source._k_data(CODE, Period.DAILY, *WEEK, "3", "date,time,code,close")
    for period in MINUTE_PERIODS:
        source.minute_bars(CODE, period, *WEEK)
    asked = [f for f in k_data_requests(server) if f[8] in FREQUENCY.values()][1:]
    assert len(asked) == 4
    assert all(f[5] == FIELDS and f[9] == "3" for f in asked)


def test_adjusted_minute_bars_scale_the_days_prices(source, market):
    raw_rows = raw(source, bs_code(CODE), FIELDS, Period.MIN30)
    hfq_rows = raw(source, bs_code(CODE), FIELDS, Period.MIN30, flag="1")
    factor = {f.trade_date.isoformat(): f.factor for f in market.adj_factors(CODE, *WEEK)}
    for r, h in zip(raw_rows, hfq_rows, strict=True):
        assert h["time"] == r["time"] and h["volume"] == r["volume"] and h["adjustflag"] == "1"
        assert float(h["close"]) == pytest.approx(float(r["close"]) * factor[r["date"]], abs=1e-4)


# -- what baostock has ---------------------------------------------------------------------
def test_no_beijing_stock_and_no_index_has_minute_bars(source, server):
    assert source.covers_dataset(DatasetName.MINUTE_BARS, CODE)
    assert not source.covers_dataset(DatasetName.MINUTE_BARS, "920047.BJ")
    for code in ("920047.BJ", "000300.SH", "not-a-code"):
        with pytest.raises(FatalSourceError):
            source.minute_bars(code, Period.MIN5, *WEEK)
    assert k_data_requests(server) == []  # refused before asking
    assert raw(source, "sh.000300", FIELDS, Period.MIN5) == []  # the server has none either
    assert raw(source, "bj.920047", FIELDS, Period.MIN5) == []
    with pytest.raises(FatalSourceError, match="no daily minute bars"):
        source.minute_bars(CODE, Period.DAILY, *WEEK)


def test_suspended_days_are_absent(source, market):
    got = source.minute_bars(SUSPENDED_CODE, Period.MIN15, *SUSPENDED_SPAN)
    daily = market.bars_for_code(SUSPENDED_CODE, *SUSPENDED_SPAN, Period.DAILY)
    suspended = {b.trade_date for b in daily if b.trade_status == 0}
    traded = {b.trade_date for b in daily if b.trade_status != 0}
    assert len(suspended) == 15
    assert {b.trade_date for b in got} == traded
    assert MINUTES.check(got, Period.MIN15)[1] == []
    assert view(got) == view(market.minute_bars(SUSPENDED_CODE, Period.MIN15, *SUSPENDED_SPAN))
    first_stop = min(suspended)
    with pytest.raises(NoDataError):  # suspended throughout: no rows, no error from baostock
        source.minute_bars(SUSPENDED_CODE, Period.MIN15, first_stop, first_stop)


def test_through_the_dataset_gate(source, market):
    got = source.fetch(MINUTES, Period.MIN30, code=CODE, start=WEEK[0], end=WEEK[1])
    assert view(got) == view(market.minute_bars(CODE, Period.MIN30, *WEEK))
    assert source.omits_suspended(DatasetName.MINUTE_BARS)


# -- faults --------------------------------------------------------------------------------
@pytest.mark.parametrize("sent", [0, 60])
def test_a_connection_dropped_mid_reply_is_transient_and_the_session_recovers(
    source, server, market, sent
):
    server.drop_from_page, server.drop_after_bytes = 3, sent  # page 3 broken off (mid-body: 60)
    with pytest.raises(TransientSourceError, match=f"broke off after {2 * PAGE_ROWS} rows"):
        source.minute_bars(CODE, Period.MIN5, *YEAR)
    server.drop_from_page = server.drop_after_bytes = 0
    got = source.minute_bars(CODE, Period.MIN5, *YEAR)
    assert view(got) == view(market.minute_bars(CODE, Period.MIN5, *YEAR))
    assert server.stats.count("login") == 2  # a new session after the broken one


def test_a_drop_on_the_first_page_is_transient(source, server, faults, market):
    assert source.minute_bars(OTHER, Period.MIN60, *WEEK)
    server.drop_after_bytes = 60
    faults.set(drop=True, times=1)
    with pytest.raises(TransientSourceError):
        source.minute_bars(OTHER, Period.MIN5, *WEEK)
    got = source.minute_bars(OTHER, Period.MIN5, *WEEK)
    assert view(got) == view(market.minute_bars(OTHER, Period.MIN5, *WEEK))


def test_a_reply_for_another_stock_is_never_taken(source, server):
    server.answer_with = bs_code(OTHER)
    with pytest.raises(TransientSourceError, match="out of step"):
        source.minute_bars(CODE, Period.MIN5, *WEEK)
    server.answer_with = ""
    assert source.minute_bars(CODE, Period.MIN5, *WEEK)
    assert server.stats.count("login") == 2


def test_corrupted_rows_are_read_and_then_rejected_by_the_dataset(source, faults):
    faults.set(garbage=True)
    got = source.minute_bars(OTHER, Period.MIN15, *WEEK)
    good, rejected = MINUTES.check(got, Period.MIN15)
    assert good == [] and len(rejected) == len(got) == 5 * 16
