"""baostock's stock events through the unmodified client against the fake server: dividends,
profiles (ST history, industry, today's name) and quarterly reports, with their quirks."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from fake_baostock import FakeBaostockServer, bs_code  # type: ignore[import-not-found]
from fake_baostock_events import profile_on  # type: ignore[import-not-found]
from faults import Faults  # type: ignore[import-not-found]
from test_baostock_contract import SEED, STOCKS, make_source  # type: ignore[import-not-found]

from stocksync.datasets import dataset
from stocksync.domain import DatasetName, Period
from stocksync.sim import SimMarket
from stocksync.sources.baostock import BaostockSource
from stocksync.sources.baostock.actions import implemented
from stocksync.sources.baostock.reports import percent
from stocksync.sources.base import RateLimitedError, TransientSourceError
from stocksync.sources.sim import sim_market

CASH_CODE = "605685.SH"  # cash on 2024-05-27, transfer shares on 2024-07-30 and 2025-01-16
NO_2023_CODE = "000006.SZ"  # ex-dates in 2022 and 2024, none in 2023
BANK = "600115.SH"
ST_CODE = "600399.SH"  # enters or leaves ST within 2024
YEAR_2024 = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))


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
    adapter.close()


def pinned(server: FakeBaostockServer, today: dt.date) -> BaostockSource:
    """A source and server that both take ``today`` for today."""
    server.today = today
    adapter = make_source(server)
    adapter._today = lambda: today
    return adapter


def asked(server: FakeBaostockServer, method: str) -> list[list[str]]:
    return [r.fields[4:] for r in server.stats.requests if r.method == method]


# -- corporate actions ---------------------------------------------------------------------
def test_text_valued_after_tax_and_plan_fields_never_break_parsing(source, server, market):
    code = bs_code(CASH_CODE)
    rows = source._records("raw", lambda bs: bs.query_dividend_data(code, "2024", "operate"))
    assert [r["dividOperateDate"] for r in rows] == ["2024-05-27", "2024-07-30"]
    cash, transfer = rows
    assert cash["dividCashPsAfterTax"] == "0.13023"  # text, as baostock sends it
    assert cash["dividCashStock"] == "10派1.447元（含税，扣税后1.3023或1.447元）"
    assert transfer["dividCashStock"] == "10转10" and transfer["dividCashPsBeforeTax"] == ""
    assert transfer["dividPayDate"] == "" and transfer["dividReserveToStockPs"] == "1.000000"
    got = source.corporate_actions(CASH_CODE, *YEAR_2024)
    assert [(a.ex_date, a.cash_div, a.transfer_ratio) for a in got] == [
        (dt.date(2024, 5, 27), 0.1447, 0.0), (dt.date(2024, 7, 30), 0.0, 1.0),
    ]  # fmt: skip
    assert got == [
        dataclass_without_period(a) for a in market.corporate_actions(CASH_CODE, *YEAR_2024)
    ]
    # two tax rates in one field, and the plan text: read neither, whatever they say
    row = {**cash, "dividCashPsAfterTax": "0.6813或0.71915",
           "dividCashStock": "10转1派5.15元（含税，扣税后4.635或5.15元）"}  # fmt: skip
    (action,) = implemented(CASH_CODE, [row], *YEAR_2024)
    assert action.cash_div == 0.1447 and action.report_period is None


def dataclass_without_period(action):
    import dataclasses

    return dataclasses.replace(action, report_period=None)


def test_a_year_without_a_dividend_is_empty_not_an_error(source, server, market):
    first, last = dt.date(2023, 1, 1), dt.date(2023, 12, 31)
    assert market.corporate_actions(NO_2023_CODE, first, last) == []
    assert source.corporate_actions(NO_2023_CODE, first, last) == []
    assert asked(server, "query_dividend_data") == [[bs_code(NO_2023_CODE), "2023", "operate"]]
    # one query per ex-date year, and only the ex-dates within the range are kept
    server.stats.requests.clear()
    got = source.corporate_actions(NO_2023_CODE, dt.date(2022, 7, 1), dt.date(2024, 6, 30))
    truth = market.corporate_actions(NO_2023_CODE, dt.date(2022, 7, 1), dt.date(2024, 6, 30))
    assert [a.ex_date for a in got] == [a.ex_date for a in truth]
    assert [f[1] for f in asked(server, "query_dividend_data")] == ["2022", "2023", "2024"]


@pytest.mark.parametrize("fault", ["server_error", "drop"])
def test_a_fault_on_the_dividend_query_is_transient_and_the_session_recovers(
    source, server, faults, market, fault
):
    assert source.corporate_actions(CASH_CODE, *YEAR_2024)  # logged in
    faults.set(**{fault: True}, times=1)
    with pytest.raises(TransientSourceError, match=r"dividends of 605685\.SH in 2024"):
        source.corporate_actions(CASH_CODE, *YEAR_2024)
    got = source.corporate_actions(CASH_CODE, *YEAR_2024)
    assert [a.ex_date for a in got] == [
        a.ex_date for a in market.corporate_actions(CASH_CODE, *YEAR_2024)
    ]
    assert server.stats.count("login") == 2  # a new session after the fault


def test_a_blacklisted_dividend_query_waits(source, faults):
    faults.set(rate_limit=True)
    with pytest.raises(RateLimitedError):
        source.corporate_actions(CASH_CODE, *YEAR_2024)


def test_a_dividend_reply_for_another_stock_is_never_taken(source, monkeypatch):
    real = source._records

    def other(what, call):
        return [{**r, "code": "sz.000001"} for r in real(what, call)]

    monkeypatch.setattr(source, "_records", other)
    with pytest.raises(TransientSourceError, match="out of step"):
        source.corporate_actions(CASH_CODE, *YEAR_2024)


# -- profiles ------------------------------------------------------------------------------
def test_the_is_st_history_gives_the_st_changes(source, server, market):
    start, end = YEAR_2024
    truth = market.profiles(ST_CODE, start, end)
    changes = [(now.valid_from, now.is_st) for before, now in itertools.pairwise(truth)
               if now.is_st != before.is_st]  # fmt: skip
    assert changes and any(st for _, st in changes)
    got = source.profiles(ST_CODE, start, end)
    st_rows = [(p.valid_from, p.is_st) for p in got if p.is_st is not None]
    # the status in force on the range's first day (its last trading day before), then each change
    assert st_rows[0][0] == max(
        d for d in market.trading_days(start - dt.timedelta(days=31), start)
    )
    assert st_rows[0][1] == truth[0].is_st
    assert st_rows[1:] == changes
    assert asked(server, "query_history_k_data_plus") == [
        [bs_code(ST_CODE), "date,code,isST", "2023-12-01", "2024-12-31", "d", "3"]
    ]
    # the industry as of the range's end, dated baostock's weekly update; no name (not today)
    (industry,) = [p for p in got if p.industry is not None]
    assert (
        industry.valid_from == dt.date(2024, 12, 30)
        and industry.industry_scheme == "证监会行业分类"
    )
    assert industry.industry == profile_on(market, ST_CODE, industry.valid_from).industry
    assert asked(server, "query_stock_industry") == [[bs_code(ST_CODE), "2024-12-31"]]
    assert server.stats.count("query_stock_basic") == 0
    assert all(p.name is None and p.total_shares is None for p in got)
    assert dataset(DatasetName.PROFILES).check(got, Period.DAILY)[1] == []


def test_todays_name_is_dated_today_when_today_is_in_range(server, faults, market):
    today = dt.date(2024, 6, 12)
    adapter = pinned(server, today)
    try:
        got = adapter.profiles(ST_CODE, dt.date(2024, 6, 1), dt.date(2024, 6, 30))
    finally:
        adapter.close()
        server.today = None
    (named,) = [p for p in got if p.name is not None]
    assert named.valid_from == today
    assert named.name == profile_on(market, ST_CODE, today).name
    assert asked(server, "query_stock_industry") == [[bs_code(ST_CODE), today.isoformat()]]
    assert asked(server, "query_stock_basic") == [[bs_code(ST_CODE), ""]]


# -- financials ----------------------------------------------------------------------------
def test_fractions_become_percent_and_a_banks_empty_ratios_none(source, market):
    start, end = YEAR_2024
    for code in (CASH_CODE, BANK):
        rows = source._records(
            "profit", lambda bs, c=code: bs.query_profit_data(bs_code(c), year=2024, quarter=2)
        )
        (row,) = rows
        truth = {r.announce_date: r for r in market.financials(code, dt.date(2024, 7, 1), end)
                 if r.report_period == dt.date(2024, 6, 30)}  # fmt: skip
        report = truth[dt.date.fromisoformat(row["pubDate"])]
        assert float(row["roeAvg"]) == pytest.approx(report.roe / 100, abs=1e-6)
        got = {r.report_period: r for r in source.financials(code, start, end)}
        mine = got[dt.date(2024, 6, 30)]
        assert mine.roe == report.roe and mine.debt_ratio == report.debt_ratio
        assert mine.eps is None and mine.revenue_yoy is None
        if code == BANK:
            assert row["gpMargin"] == "" and mine.gross_margin is None
        else:
            assert mine.gross_margin == report.gross_margin
    assert percent("0.074617") == 7.4617 and percent("") is None


def test_a_quarter_not_yet_published_is_empty(server, faults, market):
    period = dt.date(2024, 9, 30)
    (first,) = [r for r in market.financials(CASH_CODE, period, dt.date(2025, 6, 30))
                if r.report_period == period][:1]  # fmt: skip
    today = first.announce_date - dt.timedelta(days=1)
    adapter = pinned(server, today)
    try:
        code = bs_code(CASH_CODE)
        assert adapter._records("q3", lambda bs: bs.query_profit_data(code, 2024, 3)) == []
        server.stats.requests.clear()
        got = adapter.financials(CASH_CODE, dt.date(2024, 7, 1), today)
    finally:
        adapter.close()
        server.today = None
    assert period not in {r.report_period for r in got}
    assert dt.date(2024, 6, 30) in {r.report_period for r in got}
    # the profit query of each possible period; growth and balance only for those in range
    profit = asked(server, "query_profit_data")
    assert profit[-1] == [code, "2024", "3"]
    assert server.stats.count("query_growth_data") == len(got)
    assert server.stats.count("query_balance_data") == len(got)


def test_calls_per_unit(source, server):
    start, end = dt.date(2024, 1, 1), dt.date(2024, 12, 31)
    source.corporate_actions(CASH_CODE, start, end)
    assert server.stats.count("query_dividend_data") == 1
    source.profiles(CASH_CODE, start, end)
    assert server.stats.count("query_history_k_data_plus") == 1
    assert server.stats.count("query_stock_industry") == 1
    reports = source.financials(CASH_CODE, start, end)
    quarters = server.stats.count("query_profit_data")
    assert quarters == 10  # 2022-Q4 (470 days back) … 2024-Q4
    assert server.stats.count("query_growth_data") == len(reports) > 0
    assert all(a == b for a, b in itertools.pairwise(sorted({r.code for r in reports})))
