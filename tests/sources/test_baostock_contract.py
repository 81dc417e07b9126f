"""The baostock adapter: the unmodified baostock client over a real TCP socket to a fake baostock
server serving the simulated market (tests/sources/fake_baostock.py)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from contract import CORE_FIELDS, SourceContract, replace_bar  # type: ignore[import-not-found]
from fake_baostock import PAGE_ROWS, FakeBaostockServer, bs_code  # type: ignore[import-not-found]
from fake_baostock_events import (  # type: ignore[import-not-found]
    is_bank,
    latest_versions,
    profile_on,
    server_today,
)
from faults import Faults, RecordingQuota  # type: ignore[import-not-found]

from stocksync.config import Settings
from stocksync.datasets import dataset
from stocksync.datasets.indices import MAIN_INDICES
from stocksync.domain import Bar, Board, DatasetName, Exchange, FinancialReport, Period
from stocksync.runs.fetching import Attempt, candidates
from stocksync.sim import SimMarket
from stocksync.sources.baostock import BaostockSource, build_baostock_source, members
from stocksync.sources.baostock.rows import valuation as _valuation
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    SourceBug,
    TransientSourceError,
)
from stocksync.sources.sim import sim_market

TIMEOUT_S = 2.0
START, END = dt.date(2024, 12, 2), dt.date(2025, 1, 31)
CODES = ("605685.SH", "688017.SH", "600399.SH", "000945.SZ", "002766.SZ", "300445.SZ", "301015.SZ")
EX_DATE_CODES = ("605685.SH", "000945.SZ")  # their factors change within START..END
SUSPENDED_CODE = "002766.SZ"  # suspended on 15 days of START..END
ST_CODES = ("600399.SH", "300445.SZ")
LONG_CODE = "000006.SZ"  # listed since 1991: ~4,900 daily bars since 2005, three pages
A, B = "000945.SZ", "600399.SH"
LOSS_CODE = "600540.SH"  # loss-making (no P/E) and trading every day of START..END
INDEX = "000300.SH"
MEMBER_QUERY = {
    "000300.SH": "query_hs300_stocks",
    "000016.SH": "query_sz50_stocks",
    "000905.SH": "query_zz500_stocks",
}
MONTH_ENDS = [dt.date(2024, 12, 31), dt.date(2025, 1, 27)]  # January 2025 ends before the holiday
INDEX_QUERY = {  # baostock's index fields: daily bars have a preclose, weekly/monthly ones not
    "d": "date,code,open,high,low,close,preclose,volume,amount,pctChg",
    "w": "date,code,open,high,low,close,volume,amount,adjustflag,turn,pctChg",
    "m": "date,code,open,high,low,close,volume,amount,adjustflag,turn,pctChg",
}
FREQUENCY = {Period.DAILY: "d", Period.WEEKLY: "w", Period.MONTHLY: "m"}
BAOSTOCK_INDICES = [i.code for i in MAIN_INDICES if not i.code.endswith(".BJ")]
VALUATION_QUERY = (  # the one daily query that serves bars, factors and valuations alike
    "date,code,open,high,low,close,preclose,volume,amount,adjustflag,turn,tradestatus,pctChg,isST,"
    "peTTM,pbMRQ"
)


def replace_report(report: FinancialReport, period: dt.date, market: SimMarket) -> FinancialReport:
    """``report`` as baostock serves it: no eps, no revenue growth, no bank's gross margin."""
    bank = is_bank(market, report.code, period)
    return dataclasses.replace(report, eps=None, revenue_yoy=None,
                               gross_margin=None if bank else report.gross_margin)  # fmt: skip


def make_source(server: FakeBaostockServer, quota=None, **changes: Any) -> BaostockSource:
    settings = Settings(baostock_addr=server.address, source_timeout_s=TIMEOUT_S)
    return build_baostock_source(settings.with_overrides(**changes), quota)


def timed(call: Callable[[], object], limit_s: float) -> tuple[dict[str, Any], float, float]:
    """Run ``call`` in a thread; its outcome, the wall time and the process CPU time it took.
    Fails when the call is still running after ``limit_s``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    wall, cpu = time.monotonic(), time.process_time()
    worker.start()
    worker.join(limit_s)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    assert not worker.is_alive(), f"the call still runs after {limit_s} s (cpu {cpu:.1f} s)"
    return box, wall, cpu


def daily(market: SimMarket, code: str) -> list[Bar]:
    return market.bars_for_code(code, START, END, Period.DAILY)


SEED, STOCKS = 20240601, 300


@pytest.fixture(scope="session")
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


class TestBaostockContract(SourceContract):
    BUG_TARGET = "stocksync.sources.baostock.rows.bar"
    CODES = CODES
    START, END = START, END
    TIMEOUT_S = TIMEOUT_S
    COMPARED = (*CORE_FIELDS, "turnover_pct", "trade_status", "is_st")
    VALUATION_FIELDS = ("pe_ttm", "pb")  # baostock serves no market value
    MEMBER_WEIGHTS = False  # baostock's member lists carry no weights
    # baostock names no report period and has no rights issues (rights_ratio 0 = the truth's)
    ACTION_FIELDS = (
        "cash_div", "bonus_ratio", "transfer_ratio", "rights_ratio", "record_date", "pay_date",
        "announce_date",
    )  # fmt: skip
    PROFILE_HISTORY_FIELDS = ("is_st",)  # no name history: today's name only
    FINANCIAL_FIELDS = (  # no year-to-date eps (epsTTM only), no revenue growth
        "roe", "revenue", "net_profit", "net_profit_yoy", "gross_margin", "debt_ratio",
    )  # fmt: skip

    def expected_financials(self, truth: list[FinancialReport]) -> list[FinancialReport]:
        """baostock keeps one version of each period, the latest, dated by its own announcement:
        a period counts when that version is announced in range. Banks have no gross margin."""
        if not truth:
            return []
        market, code = sim_market(SEED, STOCKS), truth[0].code
        return [
            replace_report(r, r.report_period, market)
            for r in latest_versions(market, code, server_today(None)).values()
            if self.EVENT_START <= r.announce_date <= self.EVENT_END
        ]

    def expected_bars(self, bars: list[Bar]) -> list[Bar]:
        # baostock's weekly/monthly bars have no isST field: the adapter reports False there
        return [b if b.period is Period.DAILY else replace_bar(b, is_st=False) for b in bars]

    # -- the sample ----------------------------------------------------------------------
    def test_the_sample_spans_boards_ex_dates_suspensions_and_st(self, market):
        boards = {(market.security(c).exchange, market.security(c).board) for c in CODES}
        assert boards == {
            (Exchange.SH, Board.MAIN), (Exchange.SH, Board.STAR),
            (Exchange.SZ, Board.MAIN), (Exchange.SZ, Board.CHINEXT),
        }  # fmt: skip
        for code in CODES:
            assert market.security(code).is_listed_on(START)
            assert market.security(code).is_listed_on(END)
        for code in EX_DATE_CODES:
            assert len({f.factor for f in market.adj_factors(code, START, END)}) > 1, code
        assert any(b.trade_status == 0 for b in daily(market, SUSPENDED_CODE))
        for code in ST_CODES:
            assert any(b.is_st for b in daily(market, code)), code
            assert any(b.is_st for b in market.bars_for_code(code, START, END, Period.WEEKLY))

    # -- data ----------------------------------------------------------------------------
    def test_a_reply_of_more_than_2000_rows_arrives_complete(self, source, server, market):
        first = dt.date(2005, 1, 1)
        truth = market.bars_for_code(LONG_CODE, first, END, Period.DAILY)
        assert len(truth) > 2 * PAGE_ROWS
        got = source.stock_bars(LONG_CODE, Period.DAILY, first, END)
        assert self.view(got) == self.view(truth)
        # a page comes back full until the last: the client asks for one page past a full one
        assert server.stats.count("query_history_k_data_plus") == len(truth) // PAGE_ROWS + 1 == 3
        last = dt.date(2026, 12, 31)  # 8,035 calendar days: five pages of query_trade_dates
        assert source.trading_days(first, last) == market.trading_days(first, last)
        assert server.stats.count("query_trade_dates") == 5

    def test_a_page_that_fails_is_not_taken_for_the_end(self, source, server):
        server.drop_from_page = 2  # page 1 arrives, the connection drops on page 2
        with pytest.raises(TransientSourceError, match="broke off after 2000 rows"):
            source.stock_bars(LONG_CODE, Period.DAILY, dt.date(2005, 1, 1), END)
        server.drop_from_page = 0
        assert len(source.stock_bars(LONG_CODE, Period.DAILY, dt.date(2005, 1, 1), END)) > 4000

    def test_securities_are_the_stocks_only(self, source, market):
        # the server also lists indexes (sh.000001 would read as 000001.SZ) and an ETF
        # code_name is the name today, ST prefix and all (the sim lists the stock's plain name)
        today = server_today(None)
        expected = [
            dataclasses.replace(s, name=profile_on(market, s.code, today).name)
            for s in market.securities()
            if s.exchange is not Exchange.BJ
        ]
        assert source.securities() == expected
        assert {s.name for s in expected} != {s.name for s in market.securities()}
        assert any(s.delist_date for s in expected)

    def test_derived_factors_step_on_the_ex_dates_baostock_lists(self, source, market):
        for code in EX_DATE_CODES:
            derived = {f.trade_date: f.factor for f in source.adj_factors(code, START, END)}
            events = source._records(
                "ex-dates",
                lambda bs, c=code: bs.query_adjust_factor(
                    bs_code(c), START.isoformat(), END.isoformat()
                ),
            )
            assert events, code
            days = sorted(derived)
            steps = {d for prev, d in itertools.pairwise(days) if derived[d] != derived[prev]}
            assert steps == {dt.date.fromisoformat(e["dividOperateDate"]) for e in events}
            for e in events:
                assert (
                    float(e["backAdjustFactor"])
                    == derived[dt.date.fromisoformat(e["dividOperateDate"])]
                )

    def test_the_adjusted_series_follow_baostocks_semantics(self, source, market):
        code = EX_DATE_CODES[1]
        factors = {f.trade_date: f.factor for f in market.adj_factors(code, START, END)}
        latest = market.adj_factors(code, END, dt.date(2026, 12, 31))[-1].factor
        series = {
            flag: {r["date"]: float(r["close"]) for r in source._k_data(code, Period.DAILY, START, END, flag, "date,code,close")[1]}
            for flag in ("1", "2", "3")
        }  # fmt: skip
        for day, factor in factors.items():
            raw = series["3"][day.isoformat()]
            assert series["1"][day.isoformat()] == pytest.approx(raw * factor, abs=1e-9)  # hfq
            assert series["2"][day.isoformat()] == pytest.approx(raw * factor / latest, abs=1e-9)
        # weekly hfq bars aggregate the daily hfq bars: the close is the week's last close
        _, weekly = source._k_data(code, Period.WEEKLY, START, END, "1", "date,code,close")
        for row in weekly:
            assert float(row["close"]) == series["1"][row["date"]]

    def test_weekly_and_monthly_requests_ask_only_for_fields_baostock_has(self, source, server):
        for period in (Period.WEEKLY, Period.MONTHLY):
            assert source.stock_bars(A, period, START, END)
        asked = [
            r.fields[5] for r in server.stats.requests if r.method == "query_history_k_data_plus"
        ]
        assert asked and not any("preclose" in f or "isST" in f for f in asked)

    # -- index bars ----------------------------------------------------------------------
    def test_index_bars_are_asked_as_baostock_has_them(self, source, server, market):
        for period in (Period.DAILY, Period.WEEKLY, Period.MONTHLY):
            got = source.index_bars(INDEX, period, START, END)
            truth = market.index_bars(INDEX, period, START, END)
            assert got and self.index_view(got) == self.index_view(truth), period
        asked = [
            r.fields[4:] for r in server.stats.requests if r.method == "query_history_k_data_plus"
        ]
        assert asked == [
            ["sh.000300", INDEX_QUERY[f], START.isoformat(), END.isoformat(), f, "3"]
            for f in ("d", "w", "m")
        ]
        # what baostock sends: 4-decimal levels, whole shares, yuan, pctChg to 6 decimals
        rows = source._k_rows(INDEX, "sh.000300", Period.WEEKLY, START, END, "3", INDEX_QUERY["w"])
        for r in rows:
            assert all(len(r[k].split(".")[1]) == 4 for k in ("open", "high", "low", "close"))
            assert r["volume"].isdigit() and len(r["amount"].split(".")[1]) == 4
            assert len(r["pctChg"].split(".")[1]) == 6 and r["turn"] == ""

    def test_weekly_and_monthly_pre_close_from_pct_chg_is_the_truth(self, source, market):
        first, last = dt.date(2006, 1, 1), dt.date(2026, 12, 31)
        for code in BAOSTOCK_INDICES:
            for period in (Period.WEEKLY, Period.MONTHLY):
                truth = market.index_bars(code, period, first, last)
                got = source.index_bars(code, period, first, last)
                assert truth and not any(r.pre_close is None for r in got), (code, period)
                assert [(b.trade_date, b.pre_close, b.pct_chg) for b in got] == [
                    (b.trade_date, b.pre_close, b.pct_chg) for b in truth
                ], (code, period)

    def test_index_history_spans_pages_from_2006(self, source, server, market):
        got = source.index_bars(INDEX, Period.DAILY, dt.date(2005, 1, 4), END)
        truth = market.index_bars(INDEX, Period.DAILY, dt.date(2006, 1, 1), END)
        assert len(truth) > 2 * PAGE_ROWS and got[0].trade_date == dt.date(2006, 1, 4)
        assert self.index_view(got) == self.index_view(truth)
        assert server.stats.count("query_history_k_data_plus") == 3

    def test_no_beijing_index_is_asked_of_baostock(self, source, server):
        assert not source.covers("899050.BJ") and not source.covers("920002.BJ")
        assert all(source.covers(code) for code in (*BAOSTOCK_INDICES, "000001.SZ"))
        ctx = SimpleNamespace(
            sources=SimpleNamespace(get=lambda name: source),
            breaker=SimpleNamespace(state=lambda name: SimpleNamespace(open=False, until=None)),
        )
        run = SimpleNamespace(spec=SimpleNamespace(sources=("baostock",)))
        for code, served in (("899050.BJ", []), ("000001.SH", [source])):
            item = SimpleNamespace(code=code, period=Period.WEEKLY)
            assert candidates(ctx, run, item, [DatasetName.INDEX_BARS], Attempt()) == served
        with pytest.raises(FatalSourceError, match="Beijing"):
            source.index_bars("899050.BJ", Period.DAILY, START, END)
        with pytest.raises(FatalSourceError):
            source.index_bars("sh.000300", Period.DAILY, START, END)
        assert server.stats.requests == []

    def test_index_replies_are_checked_like_the_stocks(self, source, server, faults, monkeypatch):
        index_bars = dataset(DatasetName.INDEX_BARS)
        server.answer_with = "sz.399006"  # a reply for another index is never taken
        with pytest.raises(TransientSourceError, match="out of step"):
            source.index_bars(INDEX, Period.DAILY, START, END)
        server.answer_with = ""
        with pytest.raises(NoDataError):
            source.index_bars(INDEX, Period.DAILY, dt.date(2005, 1, 4), dt.date(2005, 12, 31))
        faults.set(garbage=True)
        got = source.index_bars(INDEX, Period.DAILY, START, END)
        assert len(index_bars.check(got, Period.DAILY)[1]) == len(got) - len(got) // 3
        faults.clear()
        with pytest.raises(FatalSourceError, match="not an index code"):
            source.fetch(index_bars, Period.DAILY, code="not-an-index", start=START, end=END)

        def broken(*args: object) -> None:
            raise KeyError("deliberate")

        monkeypatch.setattr("stocksync.sources.baostock.indices.index_bar", broken)
        with pytest.raises(SourceBug, match="KeyError"):  # a bug is never taken for bad data
            source.fetch(index_bars, Period.DAILY, code=INDEX, start=START, end=END)

    # -- index members -------------------------------------------------------------------
    def test_members_are_asked_per_index_as_of_each_month_end(self, source, server, market):
        for code, method in MEMBER_QUERY.items():
            server.stats.requests.clear()
            got = source.index_members(code, START, END)
            assert {m.trade_date for m in got} == set(MONTH_ENDS)
            assert all(m.weight is None for m in got)
            asked = [(r.method, r.fields[4:]) for r in server.stats.requests if r.method != "login"]
            assert asked == [
                ("query_trade_dates", [START.isoformat(), "2025-01-31"]),
                *((method, [d.isoformat()]) for d in MONTH_ENDS),
            ], code
            kinds = {r.msg_type for r in server.stats.requests if r.method == method}
            assert kinds == {{"000300.SH": "61", "000016.SH": "63", "000905.SH": "65"}[code]}
        # December's and January's sets differ (the January review): each is its own date's
        december, january = (
            {m.code for m in market.index_members(INDEX, d, d)} for d in MONTH_ENDS
        )
        assert december != january

    def test_the_members_reply_is_baostocks(self, source, market):
        names = {s.code: s.name for s in market.securities()}
        truth = market.index_members(INDEX, MONTH_ENDS[0], MONTH_ENDS[0])
        for day in (*MONTH_ENDS, dt.date(2025, 1, 29)):  # a Wednesday of the holiday too
            rows = source._records(
                "members", lambda bs, d=day: bs.query_hs300_stocks(date=d.isoformat())
            )
            assert rows and list(rows[0]) == ["updateDate", "code", "code_name"]
            update = dt.date.fromisoformat(rows[0]["updateDate"])
            assert update.weekday() == 0 and day - dt.timedelta(days=6) <= update <= day
            assert {r["updateDate"] for r in rows} == {update.isoformat()}
            assert all(r["code_name"] == names[r["code"][3:] + "." + r["code"][:2].upper()]
                       for r in rows)  # fmt: skip
            if day == MONTH_ENDS[0]:
                assert [r["code"] for r in rows] == sorted(bs_code(m.code) for m in truth)
        today = min(dt.date.today(), dt.date(2026, 12, 31))
        latest = source._records("latest", lambda bs: bs.query_sz50_stocks())  # date ""
        assert latest and {r["updateDate"] for r in latest} == {
            (today - dt.timedelta(days=today.weekday())).isoformat()
        }

    def test_only_three_indices_have_members(self, source, server):
        for code in MEMBER_QUERY:
            assert source.covers_dataset(DatasetName.INDEX_MEMBERS, code)
        for code in ("399001.SZ", "000001.SH", "000852.SH", "399006.SZ", "899050.BJ"):
            assert not source.covers_dataset(DatasetName.INDEX_MEMBERS, code), code
            with pytest.raises(FatalSourceError, match="no members"):
                source.index_members(code, START, END)
        # the other datasets keep their coverage
        assert source.covers_dataset(DatasetName.INDEX_BARS, "399001.SZ")
        assert source.covers_dataset(DatasetName.BARS, "000001.SZ")
        assert not source.covers_dataset(DatasetName.INDEX_BARS, "899050.BJ")
        ctx = SimpleNamespace(
            sources=SimpleNamespace(get=lambda name: source),
            breaker=SimpleNamespace(state=lambda name: SimpleNamespace(open=False, until=None)),
        )
        run = SimpleNamespace(spec=SimpleNamespace(sources=("baostock",)))
        wanted = [DatasetName.INDEX_MEMBERS]
        for code, served in (("399001.SZ", []), ("000001.SH", []), ("000905.SH", [source])):
            item = SimpleNamespace(code=code, period=Period.MONTHLY)
            assert candidates(ctx, run, item, wanted, Attempt()) == served, code
        assert server.stats.requests == []

    def test_members_cost_one_query_per_month_end_and_the_calendar(self, source, server, market):
        members = dataset(DatasetName.INDEX_MEMBERS)
        first, last = dt.date(2024, 1, 1), dt.date(2024, 12, 20)  # December not over by the 20th
        got = source.fetch(members, Period.MONTHLY, code="000905.SH", start=first, end=last)
        assert self.member_view(got) == self.member_view(
            market.index_members("000905.SH", first, last)
        )
        assert len({m.trade_date for m in got}) == 11
        assert server.stats.count("query_trade_dates") == 1
        assert server.stats.count("query_zz500_stocks") == 11
        assert server.stats.count("login") == 1
        # before the index's first day nothing is asked; a range without a month end asks none
        server.stats.requests.clear()
        got = source.index_members("000905.SH", dt.date(2006, 6, 1), dt.date(2007, 3, 31))
        truth = market.index_members("000905.SH", dt.date(2006, 6, 1), dt.date(2007, 3, 31))
        assert self.member_view(got) == self.member_view(truth)
        assert [d.month for d in sorted({m.trade_date for m in got})] == [1, 2, 3]
        calendar = [r.fields[4:] for r in server.stats.requests if r.method == "query_trade_dates"]
        assert calendar == [["2007-01-15", "2007-03-31"]]  # CSI 500's first day on
        assert server.stats.count("query_zz500_stocks") == 3
        server.stats.requests.clear()
        assert source.index_members(INDEX, dt.date(2025, 3, 3), dt.date(2025, 3, 14)) == []
        assert [r.method for r in server.stats.requests] == ["query_trade_dates"]
        server.stats.requests.clear()
        assert source.index_members(INDEX, dt.date(2004, 1, 1), dt.date(2004, 12, 31)) == []
        assert server.stats.requests == []  # CSI 300 begins in 2005

    def test_members_replies_are_checked(self, source, server, faults):
        server.stale_members = 7  # the set of a later date is never the answer
        with pytest.raises(TransientSourceError, match="out of step"):
            source.index_members(INDEX, START, END)
        server.stale_members = 0
        assert server.stats.count("login") == 1
        assert source.index_members(INDEX, START, END)
        assert server.stats.count("login") == 2  # the suspect session was dropped
        for fault in ("server_error", "bad_json", "drop"):
            faults.clear()
            faults.set(**{fault: True})
            with pytest.raises(TransientSourceError):
                source.index_members(INDEX, START, END)
        faults.clear()
        faults.set(rate_limit=True)
        with pytest.raises(RateLimitedError):
            source.index_members(INDEX, START, END)
        faults.clear()

    def test_no_members_on_any_month_end_is_no_data(self, source, server, monkeypatch):
        # asked before the index's first day, the server has no members (an empty reply)
        monkeypatch.setattr(
            "stocksync.sources.baostock.members.first_day", lambda code, start: start
        )
        with pytest.raises(NoDataError, match=r"no members of 000905\.SH"):
            source.index_members("000905.SH", dt.date(2006, 1, 1), dt.date(2006, 3, 31))
        assert server.stats.count("query_zz500_stocks") == 3

    def test_a_members_query_without_a_login_is_transient(self, source, server, monkeypatch):
        from stocksync.sources.baostock.session import library

        assert source.index_members(INDEX, START, END)
        # the sector queries read the login's user_id before their try: without one the client
        # raises AttributeError instead of answering 10001001
        monkeypatch.delattr(library().context, "user_id")
        with pytest.raises(AttributeError):
            library().bs.query_hs300_stocks(date=END.isoformat())
        with pytest.raises(TransientSourceError, match="AttributeError"):
            members.on(source._records, INDEX, "query_hs300_stocks", END)
        assert source.index_members(INDEX, START, END)  # logged in again, user_id set anew
        assert server.stats.count("login") == 2
        # a query that checks the login (the calendar) answers 10001001 and logs in again
        monkeypatch.delattr(library().context, "user_id")
        assert source.index_members(INDEX, START, END)
        assert server.stats.count("login") == 3

    def test_unreadable_members_are_transient_and_bugs_are_bugs(self, source, monkeypatch):
        members = dataset(DatasetName.INDEX_MEMBERS)
        real = source._records

        def garbled(what, call):
            rows = real(what, call)
            return [{**r, "code": "sh.12345"} for r in rows] if "members" in what else rows

        monkeypatch.setattr(source, "_records", garbled)
        with pytest.raises(TransientSourceError, match="unreadable member"):
            source.fetch(members, Period.MONTHLY, code=INDEX, start=START, end=END)
        monkeypatch.undo()

        def broken(*args: object) -> None:
            raise KeyError("deliberate")

        monkeypatch.setattr("stocksync.sources.baostock.members.snapshot", broken)
        with pytest.raises(SourceBug, match="KeyError"):
            source.fetch(members, Period.MONTHLY, code=INDEX, start=START, end=END)

    # -- valuations ---------------------------------------------------------------------
    def test_valuations_equal_the_truth(self, source, market, server):
        super().test_valuations_equal_the_truth(source, market)
        # it really compared: one raw daily query per stock, with every daily field
        asked = [
            r.fields[4:] for r in server.stats.requests if r.method == "query_history_k_data_plus"
        ]
        assert asked == [
            [bs_code(c), VALUATION_QUERY, START.isoformat(), END.isoformat(), "d", "3"]
            for c in CODES
        ]
        with pytest.raises(NotImplementedError):  # per-stock only
            source.market_valuations(END)

    def test_valuations_skip_suspended_days_and_serve_no_market_value(self, source, market):
        _, raw = source._k_data(SUSPENDED_CODE, Period.DAILY, START, END, "3", VALUATION_QUERY)
        suspended = {r["date"] for r in raw if r["tradestatus"] == "0"}
        # the server reports ratios on suspended days too: the adapter must drop those rows
        assert len(suspended) == 15
        assert all(r["pbMRQ"] for r in raw if r["date"] in suspended)
        got = source.stock_valuations(SUSPENDED_CODE, START, END)
        trading = [b.trade_date for b in daily(market, SUSPENDED_CODE) if b.trade_status == 1]
        assert [v.trade_date for v in got] == trading
        assert not {d.isoformat() for d in trading} & suspended
        for code in (A, SUSPENDED_CODE):
            assert all(
                v.total_mv is None and v.circ_mv is None
                for v in source.stock_valuations(code, START, END)
            )

    def test_a_loss_making_stock_has_no_pe(self, source, server, market):
        truth = market.valuations_for_code(LOSS_CODE, START, END)
        assert len(truth) == 40 and all(v.pe_ttm is None and v.pb for v in truth)
        expected = [(v.trade_date, None, v.pb) for v in truth]
        for negative in (False, True):  # baostock: an empty or a negative peTTM
            server.negative_loss_pe = negative
            _, raw = source._k_data(LOSS_CODE, Period.DAILY, START, END, "3", VALUATION_QUERY)
            pes = [r["peTTM"] for r in raw]
            assert len(pes) == 40
            if negative:
                assert all(float(pe) < 0 for pe in pes)
            else:
                assert set(pes) == {""}
            got = source.stock_valuations(LOSS_CODE, START, END)
            assert [(v.trade_date, v.pe_ttm, v.pb) for v in got] == expected, negative
        # a profitable stock keeps its P/E
        assert all(v.pe_ttm and v.pe_ttm > 0 for v in source.stock_valuations(A, START, END))

    @pytest.mark.parametrize(
        ("pe", "pb", "expected"),
        [
            ("12.345600", "1.500000", (12.3456, 1.5)),
            ("", "", (None, None)),
            ("-8.120000", "0.900000", (None, 0.9)),
            ("0.000000", "-0.400000", (None, -0.4)),  # negative equity keeps its P/B
            ("abc", "nan", (None, None)),
            ("inf", "2", (None, 2.0)),
        ],
    )
    def test_unreadable_or_loss_ratios_are_none(self, pe, pb, expected):
        row = {
            "date": "2025-01-02",
            "code": "sh.600000",
            "peTTM": pe,
            "pbMRQ": pb,
            "tradestatus": "1",
        }
        got = _valuation("600000.SH", row)
        assert (got.pe_ttm, got.pb) == expected
        assert (got.code, got.trade_date) == ("600000.SH", dt.date(2025, 1, 2))

    def test_valuation_errors_are_classified(self, source, server):
        with pytest.raises(NoDataError):
            source.stock_valuations(self.UNKNOWN_CODE, START, END)
        with pytest.raises(FatalSourceError):
            source.stock_valuations("920002.BJ", START, END)
        server.answer_with = bs_code(B)  # a reply for another stock is never taken
        with pytest.raises(TransientSourceError, match="out of step"):
            source.stock_valuations(A, START, END)

    def test_valuations_respect_the_quota(self, server, faults):
        quota = RecordingQuota([9.0])
        adapter = make_source(server, quota)
        try:
            with pytest.raises(RateLimitedError) as info:
                adapter.stock_valuations(A, START, END)
            assert info.value.wait_s == 9.0
            assert server.stats.count("query_history_k_data_plus") == 0
            assert adapter.stock_valuations(A, START, END)
            assert quota.calls == [("baostock", 300), ("baostock", 300)]
        finally:
            adapter.close()

    # -- the one socket ------------------------------------------------------------------
    def test_one_login_serves_many_calls(self, source, server, market):
        for code in CODES[:4]:
            source.stock_bars(code, Period.DAILY, START, END)
        source.trading_days(START, END)
        assert server.stats.count("login") == 1
        assert server.stats.connections == 1

    def test_two_threads_calling_at_once_get_their_own_rows(self, source, server, faults, market):
        faults.set(latency_s=0.02)  # replies take long enough for calls to overlap
        truth = {code: self.view(daily(market, code)) for code in (A, B)}
        failures: list[str] = []

        def work(code: str) -> None:
            for _ in range(6):
                try:
                    got = self.view(source.stock_bars(code, Period.DAILY, START, END))
                except Exception as exc:
                    failures.append(f"{code}: {exc!r}")
                    continue
                if got != truth[code]:
                    failures.append(f"{code}: got another stock's rows")

        threads = [threading.Thread(target=work, args=(code,)) for code in (A, B, A, B)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        assert server.stats.count("login") == 1

    def test_not_logged_in_logs_in_again_and_retries_once(self, source, server, market):
        assert source.stock_bars(A, Period.DAILY, START, END)
        server.expire_sessions()  # as after a server restart: the next query gets 10001001
        got = source.stock_bars(A, Period.DAILY, START, END)
        assert self.view(got) == self.view(daily(market, A))
        assert server.stats.count("login") == 2

        server.always_not_logged_in = True
        queries = server.stats.count("query_history_k_data_plus")
        with pytest.raises(TransientSourceError, match="10001001"):
            source.stock_bars(A, Period.DAILY, START, END)
        assert server.stats.count("login") == 3  # exactly one more login ...
        assert server.stats.count("query_history_k_data_plus") == queries + 2  # ... one retry

    # -- a stalled or closed server ------------------------------------------------------
    @pytest.mark.parametrize("phase", ["login", "query"])
    def test_a_stall_fails_within_the_timeout_without_spinning(self, source, faults, phase):
        if phase == "query":
            assert source.stock_bars(A, Period.DAILY, START, END)  # logged in already
        faults.set(stall=True)
        box, wall, cpu = timed(
            lambda: source.stock_bars(A, Period.DAILY, START, END), 3 * TIMEOUT_S + 5
        )
        assert isinstance(box.get("error"), TransientSourceError), box
        assert "no reply within" in str(box["error"])
        assert TIMEOUT_S * 0.9 <= wall < TIMEOUT_S + 1.5
        assert cpu < 0.25 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s: spinning"
        assert socket.getdefaulttimeout() is None  # the process default was restored

    @pytest.mark.parametrize(
        ("phase", "sent"), [("login", 0), ("query", 0), ("query", 60), ("query", 21)]
    )
    def test_a_closed_connection_neither_hangs_nor_spins(
        self, source, server, faults, market, phase, sent
    ):
        if phase == "query":
            assert source.stock_bars(A, Period.DAILY, START, END)  # logged in already
        server.drop_after_bytes = sent  # 0: nothing; 21: the header; 60: mid-body
        faults.set(drop=True, times=1)
        box, wall, cpu = timed(
            lambda: source.stock_bars(A, Period.DAILY, START, END), 3 * TIMEOUT_S + 5
        )
        assert isinstance(box.get("error"), TransientSourceError), box
        assert wall < 1.0, f"took {wall:.2f} s to notice the closed connection"
        assert cpu < max(0.2, 0.5 * wall), f"{cpu:.2f} s of CPU in {wall:.2f} s: spinning"
        got = source.stock_bars(B, Period.DAILY, START, END)
        assert self.view(got) == self.view(daily(market, B))

    def test_after_a_timeout_the_stream_is_back_in_step(self, source, server, faults, market):
        assert source.stock_bars(A, Period.DAILY, START, END)
        faults.set(stall=True)
        with pytest.raises(TransientSourceError):
            source.stock_bars(A, Period.DAILY, START, END)
        faults.clear()  # the server now sends the late reply for A on the old connection
        deadline = time.monotonic() + 5
        while server.stats.late_replies < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.stats.late_replies == 1
        time.sleep(0.05)
        for code in (B, A):
            got = source.stock_bars(code, Period.DAILY, START, END)
            assert self.view(got) == self.view(daily(market, code)), code

    def test_a_reply_for_another_stock_is_never_taken(self, source, server, market):
        # what a late reply, or another user of the library's one socket, would look like
        server.answer_with = bs_code(B)
        with pytest.raises(TransientSourceError, match="out of step"):
            source.stock_bars(A, Period.DAILY, START, END)
        server.answer_with = ""
        got = source.stock_bars(A, Period.DAILY, START, END)
        assert self.view(got) == self.view(daily(market, A))
        assert server.stats.count("login") == 2  # the suspect session was dropped

    def test_an_unreachable_server_is_unavailable_and_transient(self, server):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # nothing listens there once the probe closes
        adapter = make_source(server, baostock_addr=f"127.0.0.1:{port}")
        began = time.monotonic()
        status = adapter.availability()
        assert not status.ok and status.reason
        with pytest.raises(TransientSourceError):
            adapter.stock_bars(A, Period.DAILY, START, END)
        assert time.monotonic() - began < 5

    # -- error classification ------------------------------------------------------------
    def test_a_blacklist_waits_hours_and_stops_calling(self, source, server, faults):
        faults.set(rate_limit=True)
        with pytest.raises(RateLimitedError) as first:
            source.stock_bars(A, Period.DAILY, START, END)
        assert first.value.wait_s >= 3600
        faults.clear()
        seen = len(server.stats.requests)
        with pytest.raises(RateLimitedError) as again:
            source.stock_bars(B, Period.DAILY, START, END)
        assert 0 < again.value.wait_s <= first.value.wait_s
        assert len(server.stats.requests) == seen  # nothing was sent while blacklisted
        assert not source.availability().ok

    def test_a_refused_login_is_fatal(self, source, server, faults):
        assert source.stock_bars(A, Period.DAILY, START, END)
        faults.set(auth=True)  # the session is rejected (10001001), the new login refused
        with pytest.raises(FatalSourceError, match="10001002"):
            source.stock_bars(A, Period.DAILY, START, END)
        assert server.stats.count("login") == 2

    def test_parameter_errors_are_fatal(self, source, server):
        with pytest.raises(FatalSourceError, match="10004013"):  # past the server's calendar
            source.stock_bars(A, Period.DAILY, START, dt.date(2027, 1, 29))
        seen = len(server.stats.requests)
        for code in ("920002.BJ", "not-a-code"):
            with pytest.raises(FatalSourceError):
                source.stock_bars(code, Period.DAILY, START, END)
        assert len(server.stats.requests) == seen

    def test_the_quota_is_applied_before_each_call(self, server, faults):
        quota = RecordingQuota([0.0, 12.5])
        adapter = make_source(server, quota)
        try:
            assert adapter.stock_bars(A, Period.DAILY, START, END)
            queries = server.stats.count("query_history_k_data_plus")
            with pytest.raises(RateLimitedError) as info:
                adapter.stock_bars(A, Period.DAILY, START, END)
            assert info.value.wait_s == 12.5
            assert server.stats.count("query_history_k_data_plus") == queries
            assert quota.calls == [("baostock", 300), ("baostock", 300)]
            configured = make_source(server, quota, calls_per_minute={"baostock": 120})
            assert configured.calls_per_minute == 120
            configured.trading_days(START, END)
            assert quota.calls[-1] == ("baostock", 120)
        finally:
            adapter.close()

    def test_without_a_shared_quota_the_limit_holds_in_process(self, server, faults):
        adapter = make_source(server, calls_per_minute={"baostock": 2})
        try:
            adapter.trading_days(START, END)
            adapter.trading_days(START, END)
            seen = len(server.stats.requests)
            with pytest.raises(RateLimitedError) as info:
                adapter.trading_days(START, END)
            assert 0 < info.value.wait_s <= 60
            assert len(server.stats.requests) == seen
        finally:
            adapter.close()

    def test_the_library_is_unmodified_on_disk(self):
        files = importlib.metadata.files("baostock") or []
        checked = 0
        for entry in files:
            if entry.hash is None or not str(entry).endswith(".py"):
                continue
            digest = hashlib.sha256(entry.locate().read_bytes()).digest()
            assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == entry.hash.value, entry
            checked += 1
        assert checked > 10
