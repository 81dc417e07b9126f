"""The akshare adapter against a fake eastmoney, through the unmodified akshare library.

akshare's ``requests`` calls reach :class:`fake_eastmoney.FakeEastmoney` over real HTTPS: the
tests set ``HTTPS_PROXY`` (the fake's CONNECT proxy) and ``REQUESTS_CA_BUNDLE`` (its test CA),
the variables ``requests`` honours by itself. Nothing in akshare or requests is patched.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib
import importlib.metadata
import inspect
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
import requests
from contract import SourceContract  # type: ignore[import-not-found]
from fake_eastmoney import (  # type: ignore[import-not-found]
    CLIST_PATH,
    INDEX_FS,
    INDEX_LIST_HOST,
    KLINE_PATH,
    FakeEastmoney,
    ymd,
)
from faults import Faults  # type: ignore[import-not-found]

from stocksync.config import Settings
from stocksync.datasets import dataset
from stocksync.domain import Bar, Board, DatasetName, Exchange, FinancialReport, Period
from stocksync.sim import SimMarket
from stocksync.sources.akshare import (
    BAN_WAIT_S,
    DEFAULT_CALLS_PER_MINUTE,
    LIST_DEADLINE_FACTOR,
    AkshareSource,
    build_akshare_source,
)
from stocksync.sources.base import (
    FatalSourceError,
    NoDataError,
    RateLimitedError,
    TransientSourceError,
)
from stocksync.sources.sim import sim_market

# akshare 1.19.5 on pandas 3 warns about its own DataFrame.rename/sort_values/reset_index(inplace=True)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame")

SEED, STOCKS = 20240601, 300
EASTMONEY = "push2his.eastmoney.com"
TIMEOUT_S = 2.0
START, END = dt.date(2024, 12, 2), dt.date(2025, 1, 31)
_WHOLE = (dt.date(1990, 1, 1), dt.date(2026, 12, 31))


def _clear_akshare_caches() -> None:
    import akshare as ak  # type: ignore[import-untyped]

    for listing in (ak.stock_info_sh_name_code, ak.stock_info_sz_name_code,
                    ak.stock_info_bj_name_code, ak.stock_info_a_code_name,
                    ak.index_code_id_map_em):  # fmt: skip
        listing.cache_clear()


@pytest.fixture(scope="module")
def market() -> SimMarket:
    return sim_market(SEED, STOCKS)


@pytest.fixture(scope="module")
def _faults() -> Faults:
    return Faults()


@pytest.fixture(scope="module")
def fake(
    market: SimMarket, _faults: Faults, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FakeEastmoney]:
    server = FakeEastmoney(market, _faults, tmp_path_factory.mktemp("eastmoney"))
    yield server
    server.close()


@pytest.fixture
def faults(_faults: Faults) -> Iterator[Faults]:
    _faults.clear()
    yield _faults
    _faults.clear()


@pytest.fixture
def routed(fake: FakeEastmoney, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEastmoney]:
    """This process's ``requests`` routed to the fake (as a worker's environment would be)."""
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    fake.reset()
    _clear_akshare_caches()
    yield fake
    _clear_akshare_caches()


def _settings(**changes: object) -> Settings:
    return Settings(source_timeout_s=TIMEOUT_S).with_overrides(**changes)


@pytest.fixture
def source(routed: FakeEastmoney, faults: Faults) -> AkshareSource:
    # the contract makes dozens of calls: lift the (default 20/min) limit for it
    return build_akshare_source(_settings(calls_per_minute={"akshare": 100_000}), None)


class TestAkshareContract(SourceContract):
    BUG_TARGET = "stocksync.sources.akshare.frames.bars"
    CODES = ("605685.SH", "688017.SH", "000945.SZ", "002766.SZ", "300002.SZ", "920047.BJ")
    START = START
    END = END
    TIMEOUT_S = TIMEOUT_S

    # eastmoney's dividend details carry no pay date and no rights issues
    ACTION_FIELDS = ("cash_div", "bonus_ratio", "transfer_ratio", "record_date",
                     "announce_date", "report_period")  # fmt: skip
    PROFILE_HISTORY_FIELDS = ()  # today's snapshot only

    def expected_bars(self, bars: list[Bar]) -> list[Bar]:
        return [bar for bar in bars if bar.trade_status == 1]  # eastmoney omits suspended days

    def expected_financials(self, truth: list[FinancialReport]) -> list[FinancialReport]:
        """eastmoney keeps one version per period, its latest, dated on that version's
        announcement (UPDATE_DATE after NOTICE_DATE): of the truth in range, the periods whose
        latest version over the whole history was announced in range."""
        if not truth:
            return []
        start, end = self.EVENT_START, self.EVENT_END
        latest: dict[object, FinancialReport] = {}
        for report in sim_market(SEED, STOCKS).financials(truth[0].code, *_WHOLE):
            latest[report.report_period] = report  # sorted by announcement
        return [r for r in latest.values() if start <= r.announce_date <= end]


# -- the sample ------------------------------------------------------------------------------
def test_the_sample_spans_every_exchange_an_ex_date_and_a_suspension(market: SimMarket) -> None:
    codes = TestAkshareContract.CODES
    boards = {market.security(code).board for code in codes}
    assert boards == set(Board)
    assert {market.security(code).exchange for code in codes} == set(Exchange)
    factors = {code: {f.factor for f in market.adj_factors(code, START, END)} for code in codes}
    assert len(factors["605685.SH"]) > 1 and len(factors["000945.SZ"]) > 1
    suspended = [b for b in market.bars_for_code("002766.SZ", START, END) if b.trade_status == 0]
    assert suspended


# -- units and forms -------------------------------------------------------------------------
def test_volume_comes_in_lots_and_is_stored_in_shares(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    bars = source.stock_bars("920047.BJ", Period.DAILY, START, END)
    lots = [int(kline.split(",")[5]) for kline in routed.served[-1]]
    assert [bar.volume for bar in bars] == [n * 100 for n in lots]
    truth = market.bars_for_code("920047.BJ", START, END)
    assert [bar.volume for bar in bars] == [bar.volume for bar in truth]
    assert all(bar.volume >= 100 for bar in bars)


def test_amount_is_yuan_and_turnover_has_eastmoneys_two_decimals(
    source: AkshareSource, market: SimMarket
) -> None:
    got = {b.trade_date: b for b in source.stock_bars("605685.SH", Period.DAILY, START, END)}
    for truth in market.bars_for_code("605685.SH", START, END):
        assert got[truth.trade_date].amount == truth.amount
        assert got[truth.trade_date].turnover_pct == pytest.approx(truth.turnover_pct, abs=0.0051)


def test_the_akshare_query_is_what_eastmoney_expects(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    source.stock_bars("920047.BJ", Period.WEEKLY, START, END)
    source.adj_factors("605685.SH", START, END)
    queries = [(p["secid"], p["klt"], p["fqt"], p["beg"], p["end"])
               for host, path, p in routed.log if (host, path) == (EASTMONEY, KLINE_PATH)]  # fmt: skip
    assert queries == [
        ("0.920047", "102", "0", ymd(START), ymd(END)),  # akshare sends Beijing as market 0
        ("1.605685", "101", "0", ymd(START), ymd(END)),
        ("1.605685", "101", "2", ymd(START), ymd(END)),
    ]


# -- empty replies ---------------------------------------------------------------------------
def test_an_empty_reply_for_a_listed_stock_is_transient_not_no_data(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    routed.blank.add("605685")  # eastmoney answers "data": null, as when throttling
    with pytest.raises(TransientSourceError):
        source.stock_bars("605685.SH", Period.DAILY, START, END)
    with pytest.raises(TransientSourceError):
        source.adj_factors("605685.SH", START, END)
    routed.blank.clear()
    assert source.stock_bars("605685.SH", Period.DAILY, START, END)


def test_no_bar_date_in_the_stocks_life_is_an_empty_answer(
    source: AkshareSource, market: SimMarket
) -> None:
    assert market.security("920417.BJ").list_date == dt.date(2024, 11, 25)
    before_listing = (dt.date(2024, 10, 8), dt.date(2024, 11, 22))
    assert source.stock_bars("920417.BJ", Period.DAILY, *before_listing) == []
    assert source.adj_factors("920417.BJ", *before_listing) == []
    # Tuesday to Thursday: no week ends within, so no weekly bar
    assert (
        source.stock_bars("605685.SH", Period.WEEKLY, dt.date(2024, 12, 3), dt.date(2024, 12, 5))
        == []
    )


def test_a_delisted_stock_is_known_with_bars_up_to_its_delisting(
    source: AkshareSource, market: SimMarket
) -> None:
    code = "000286.SZ"
    assert market.security(code).delist_date == dt.date(2024, 12, 20)
    bars = source.stock_bars(code, Period.DAILY, START, END)
    assert bars and max(b.trade_date for b in bars) < dt.date(2024, 12, 20)
    assert source.stock_bars(code, Period.DAILY, dt.date(2025, 1, 2), END) == []


def test_an_unknown_code_is_no_data(source: AkshareSource) -> None:
    with pytest.raises(NoDataError):
        source.adj_factors("600999.SH", START, END)


def test_a_malformed_code_is_fatal(source: AkshareSource) -> None:
    with pytest.raises(FatalSourceError):
        source.stock_bars("12345", Period.DAILY, START, END)


# -- securities and calendar -----------------------------------------------------------------
def test_securities_are_the_exchanges_lists_beijing_and_delisted_included(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    got = source.securities()
    assert set(got) == set(market.securities())
    beijing = [s for s in got if s.exchange is Exchange.BJ]
    assert len(beijing) > 10 and all(s.board is Board.BSE for s in beijing)  # > one BSE page
    assert any(s.delist_date for s in got if s.exchange is Exchange.SH)
    assert any(s.delist_date for s in got if s.exchange is Exchange.SZ)
    assert routed.count("www.bse.cn") >= 3  # the page count, then both pages
    assert routed.count("query.sse.com.cn") == 3 and routed.count("www.szse.cn") == 2


def test_each_securities_call_fetches_the_lists_afresh(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    source.securities()
    first = routed.count("www.bse.cn")
    source.securities()  # akshare lru_caches the lists; the adapter clears that cache
    assert routed.count("www.bse.cn") == 2 * first


def test_a_failing_exchange_list_leaves_the_others_and_is_named(
    source: AkshareSource,
    routed: FakeEastmoney,
    market: SimMarket,
    caplog: pytest.LogCaptureFixture,
) -> None:
    routed.failing.add("www.bse.cn")  # the Beijing exchange's list answers HTTP 500
    got = source.securities()
    expected = {s for s in market.securities() if s.exchange is not Exchange.BJ}
    assert set(got) == expected and expected
    assert "1 of 6 stock lists did not answer (BSE:" in caplog.text
    beijing = next(s for s in market.securities() if s.exchange is Exchange.BJ)
    routed.blank.add(beijing.code[:6])  # and eastmoney sends nothing for a Beijing stock:
    with pytest.raises(TransientSourceError, match="stock list did not answer"):
        source.stock_bars(beijing.code, Period.DAILY, START, END)  # unknown for now, not no-data


def test_the_stock_list_fails_only_when_no_exchange_answers(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    routed.failing.update({"query.sse.com.cn", "www.szse.cn", "www.bse.cn"})
    with pytest.raises(TransientSourceError):
        source.securities()


def test_trading_days_are_akshares_offline_calendar(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    whole = (dt.date(2005, 1, 1), dt.date(2026, 12, 31))
    assert source.trading_days(*whole) == market.trading_days(*whole)
    assert sum(routed.requests.values()) == 0
    with pytest.raises(FatalSourceError):
        source.trading_days(dt.date(2026, 12, 1), dt.date(2027, 1, 31))


# -- transport -------------------------------------------------------------------------------
def test_requests_really_go_through_the_proxy_to_the_fake(
    source: AkshareSource, routed: FakeEastmoney, faults: Faults
) -> None:
    seen = faults.requests_seen
    source.stock_bars("000945.SZ", Period.MONTHLY, START, END)
    assert routed.tunnels[EASTMONEY] == 1 and routed.count(EASTMONEY, KLINE_PATH) == 1
    assert faults.requests_seen == seen + 1 and routed.refused == []


def test_a_fresh_process_reaches_the_fake_through_its_environment_alone(
    routed: FakeEastmoney, market: SimMarket
) -> None:
    """What a worker process gets: no fixture, no patch, just HTTPS_PROXY/REQUESTS_CA_BUNDLE."""
    script = (
        "import datetime as dt\n"
        "from stocksync.config import Settings\n"
        "from stocksync.domain import Period\n"
        "from stocksync.sources.akshare import build_akshare_source\n"
        "src = build_akshare_source(Settings(source_timeout_s=5.0))\n"
        "bars = src.stock_bars('920047.BJ', Period.DAILY, dt.date(2025, 1, 2), dt.date(2025, 1, 10))\n"
        "print(len(bars), sum(b.volume for b in bars))\n"
    )
    env = {**os.environ, **routed.env()}  # monkeypatched by ``routed``
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    truth = market.bars_for_code("920047.BJ", dt.date(2025, 1, 2), dt.date(2025, 1, 10))
    assert done.stdout.split() == [str(len(truth)), str(sum(b.volume for b in truth))]
    assert routed.tunnels[EASTMONEY] == 1 and routed.count(EASTMONEY, KLINE_PATH) == 1


def test_a_certificate_from_another_ca_is_fatal(
    source: AkshareSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # the public roots only
    with pytest.raises(FatalSourceError):
        source.stock_bars("605685.SH", Period.DAILY, START, END)


def test_an_unreachable_proxy_is_transient(
    source: AkshareSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
    with pytest.raises(TransientSourceError):
        source.stock_bars("605685.SH", Period.DAILY, START, END)


def test_the_library_on_disk_and_in_memory_is_unmodified() -> None:
    for dist, wanted in (
        ("akshare", ("akshare/__init__.py", "akshare/stock_feature/stock_hist_em.py",
                     "akshare/stock/stock_info.py", "akshare/file_fold/calendar.json",
                     "akshare/index/index_zh_em.py", "akshare/utils/func.py",
                     "akshare/utils/request.py")),
        ("requests", ("requests/api.py", "requests/sessions.py", "requests/adapters.py")),
    ):  # fmt: skip
        files = {str(f): f for f in importlib.metadata.distribution(dist).files or []}
        for name in wanted:
            record = files[name]
            assert record.hash is not None and record.hash.mode == "sha256"
            digest = hashlib.sha256(Path(str(record.locate())).read_bytes()).digest()
            assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == record.hash.value
    import akshare as ak

    hist_em = importlib.import_module("akshare.stock_feature.stock_hist_em")
    assert ak.stock_zh_a_hist is hist_em.stock_zh_a_hist
    assert inspect.getsourcefile(ak.stock_zh_a_hist) == hist_em.__file__
    assert (
        hist_em.requests is requests and requests.get is importlib.import_module("requests.api").get
    )
    assert requests.Session.send.__module__ == "requests.sessions"
    assert requests.adapters.HTTPAdapter.send.__module__ == "requests.adapters"


# -- errors and limits -----------------------------------------------------------------------
def test_a_ban_page_asks_for_a_long_wait(source: AkshareSource, faults: Faults) -> None:
    faults.set(rate_limit=True)
    with pytest.raises(RateLimitedError) as info:
        source.stock_bars("605685.SH", Period.DAILY, START, END)
    assert info.value.wait_s == BAN_WAIT_S >= 600


def test_a_stalled_stock_list_is_abandoned_at_its_deadline(
    source: AkshareSource, faults: Faults
) -> None:
    faults.set(stall=True)
    began = time.monotonic()
    with pytest.raises(TransientSourceError):
        source.securities()
    assert time.monotonic() - began < TIMEOUT_S * LIST_DEADLINE_FACTOR + 2
    faults.clear()
    assert source.securities()


class _Quota:
    """Records every acquire and answers from a script (0.0 = go)."""

    def __init__(self, *answers: float) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    def acquire(self, source: str, limit_per_minute: int) -> float:
        self.calls.append((source, limit_per_minute))
        return self.answers.pop(0) if self.answers else 0.0


def test_the_default_limit_is_conservative_and_every_request_takes_quota(
    routed: FakeEastmoney, faults: Faults
) -> None:
    quota = _Quota()
    src = build_akshare_source(_settings(), quota)
    assert src.calls_per_minute == DEFAULT_CALLS_PER_MINUTE == 20
    assert src.expected_latency_s == pytest.approx(0.5)
    src.stock_bars("605685.SH", Period.DAILY, START, END)
    src.adj_factors("605685.SH", START, END)
    assert quota.calls == [("akshare", 20)] * 3
    assert routed.count(EASTMONEY, KLINE_PATH) == 3
    configured = build_akshare_source(_settings(calls_per_minute={"akshare": 7}), quota)
    assert configured.calls_per_minute == 7


def test_a_spent_quota_is_rate_limited_before_any_request(
    routed: FakeEastmoney, faults: Faults
) -> None:
    src = build_akshare_source(_settings(), _Quota(42.0))
    with pytest.raises(RateLimitedError) as info:
        src.stock_bars("605685.SH", Period.DAILY, START, END)
    assert info.value.wait_s == 42.0
    assert routed.count(EASTMONEY) == 0


def test_a_short_quota_wait_is_slept_through(routed: FakeEastmoney, faults: Faults) -> None:
    quota = _Quota(0.3, 0.0)
    src = build_akshare_source(_settings(), quota)
    began = time.monotonic()
    assert src.stock_bars("605685.SH", Period.DAILY, START, END)
    assert time.monotonic() - began >= 0.3 and len(quota.calls) == 2


def test_without_a_shared_quota_the_limit_holds_in_process(
    routed: FakeEastmoney, faults: Faults
) -> None:
    src = build_akshare_source(_settings(calls_per_minute={"akshare": 2}), None)
    src.stock_bars("605685.SH", Period.DAILY, START, END)
    src.stock_bars("605685.SH", Period.WEEKLY, START, END)
    with pytest.raises(RateLimitedError) as info:
        src.stock_bars("605685.SH", Period.MONTHLY, START, END)
    assert 50 < info.value.wait_s <= 60
    assert routed.count(EASTMONEY, KLINE_PATH) == 2


# -- the fake's adjusted prices (what the adapter's factors rest on) --------------------------
def test_the_fake_serves_hfq_and_qfq_as_defined(routed: FakeEastmoney, market: SimMarket) -> None:
    import akshare as ak

    code, security = "605685", market.security("605685.SH")
    raw, hfq, qfq = (ak.stock_zh_a_hist(code, "daily", ymd(START), ymd(END), adjust, timeout=TIMEOUT_S)
                     for adjust in ("", "hfq", "qfq"))  # fmt: skip
    factors = {f.trade_date: f.factor for f in market.adj_factors(security.code, START, END)}
    last = market.adj_factors(security.code, dt.date(2026, 12, 1), dt.date(2026, 12, 31))[-1].factor
    for day, close, h, q in zip(raw["日期"], raw["收盘"], hfq["收盘"], qfq["收盘"], strict=True):
        assert h == pytest.approx(close * factors[day], rel=1e-9)
        assert q == pytest.approx(close * factors[day] / last, rel=1e-9)


# -- index bars (index_zh_a_hist) ------------------------------------------------------------
def _index_requests(fake: FakeEastmoney) -> list[tuple[str, str, dict[str, str]]]:
    return [(host, path, p) for host, path, p in fake.log
            if (host, path) in ((INDEX_LIST_HOST, CLIST_PATH), (EASTMONEY, KLINE_PATH))]  # fmt: skip


def test_index_requests_are_eastmoneys_code_list_then_the_whole_history_kline(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    for period in (Period.DAILY, Period.WEEKLY, Period.MONTHLY):
        assert source.index_bars("000300.SH", period, START, END)
    assert source.index_bars("399006.SZ", Period.DAILY, START, END)
    assert source.index_bars("899050.BJ", Period.MONTHLY, START, END)
    sent = _index_requests(routed)
    pages = [p for host, _, p in sent if host == INDEX_LIST_HOST]
    assert [(p["pn"], p["pz"], p["po"], p["fid"], p["fs"], p["fields"]) for p in pages] == [
        (str(n), "100", "1", "f3", INDEX_FS, "f3,f12,f13") for n in (1, 2)
    ]  # paged by data.total, fetched once: akshare keeps the list for the process
    assert all(host == INDEX_LIST_HOST for host, _, _ in sent[:2])
    klines = [(p["secid"], p["klt"], p["fqt"], p["beg"], p["end"]) for _, _, p in sent[2:]]
    assert klines == [
        ("1.000300", "101", "0", "0", "20500000"),  # the whole history, cut by akshare
        ("1.000300", "102", "0", "0", "20500000"),
        ("1.000300", "103", "0", "0", "20500000"),
        ("0.399006", "101", "0", "0", "20500000"),
        ("0.899050", "103", "0", "0", "20500000"),  # the Beijing 50 is market 0 at eastmoney
    ]


def test_index_volume_in_lots_becomes_shares_and_the_first_bar_keeps_its_previous_close(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    bars = source.index_bars("399001.SZ", Period.WEEKLY, START, END)
    lots = {kline.split(",")[0]: int(kline.split(",")[5]) for kline in routed.served[-1]}
    assert len(lots) > 900  # the whole weekly history came over the wire
    truth = market.index_bars("399001.SZ", Period.WEEKLY, START, END)
    assert [b.volume for b in bars] == [lots[b.trade_date.isoformat()] * 100 for b in bars]
    assert [(b.trade_date, b.volume, b.pre_close) for b in bars] == [
        (b.trade_date, b.volume, b.pre_close) for b in truth
    ]  # dated on each week's last trading day; the first week's pre_close is the week before's


def test_the_first_bar_of_an_index_history_has_no_previous_close(
    source: AkshareSource, market: SimMarket
) -> None:
    january = (dt.date(2005, 1, 1), dt.date(2005, 1, 31))
    first, *rest = source.index_bars("000300.SH", Period.DAILY, *january)
    truth = market.index_bars("000300.SH", Period.DAILY, *january)
    assert first.trade_date == truth[0].trade_date
    assert first.pre_close is None and first.pct_chg is None  # eastmoney sends 0.00 change
    assert [(b.pre_close, b.pct_chg) for b in rest] == [(b.pre_close, b.pct_chg) for b in truth[1:]]


def test_every_index_request_takes_quota_the_code_list_pages_included(
    routed: FakeEastmoney, faults: Faults
) -> None:
    quota = _Quota()
    src = build_akshare_source(_settings(), quota)
    src.index_bars("000300.SH", Period.DAILY, START, END)
    assert len(quota.calls) == len(_index_requests(routed)) == 3  # two list pages, one kline
    src.index_bars("000300.SH", Period.WEEKLY, START, END)
    assert len(quota.calls) == len(_index_requests(routed)) == 4  # the list is cached
    routed.unlisted.add("399006")  # not in eastmoney's list: akshare guesses 1., 0., then again
    _clear_akshare_caches()
    assert src.index_bars("399006.SZ", Period.DAILY, START, END)
    secids = [p["secid"] for _, path, p in _index_requests(routed)[4:] if path == KLINE_PATH]
    assert secids == ["1.399006", "0.399006", "0.399006"]
    assert len(quota.calls) == len(_index_requests(routed)) == 9


def test_an_index_that_is_no_main_one_is_no_data_without_a_request(
    source: AkshareSource, routed: FakeEastmoney
) -> None:
    with pytest.raises(NoDataError):
        source.index_bars("000859.SH", Period.DAILY, START, END)
    assert sum(routed.requests.values()) == 0


def test_index_garbage_never_passes_the_check(source: AkshareSource, faults: Faults) -> None:
    faults.set(garbage=True)
    bars = source.index_bars("000300.SH", Period.DAILY, START, END)
    assert bars and len(dataset(DatasetName.INDEX_BARS).check(bars, Period.DAILY)[1]) == len(bars)


def test_a_ban_on_the_index_list_or_kline_asks_for_a_long_wait(
    routed: FakeEastmoney, faults: Faults
) -> None:
    src = build_akshare_source(_settings(source_timeout_s=5.0), None)
    faults.set(rate_limit=True)  # the list's three tries end in HTTPError 403
    with pytest.raises(RateLimitedError) as info:
        src.index_bars("000300.SH", Period.DAILY, START, END)
    assert info.value.wait_s == BAN_WAIT_S and routed.count(INDEX_LIST_HOST) == 3
    faults.clear()
    src.index_bars("000300.SH", Period.DAILY, START, END)  # the list is cached from here on
    faults.set(rate_limit=True)  # the kline's 403 page reaches r.json()
    with pytest.raises(RateLimitedError) as info:
        src.index_bars("000300.SH", Period.MONTHLY, START, END)
    assert info.value.wait_s == BAN_WAIT_S


def test_a_week_or_month_under_way_is_not_stored_as_a_bar(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    wednesday = dt.date(2025, 1, 22)
    routed.today = wednesday  # eastmoney's newest bars are of a week and a month not yet over
    for period in (Period.WEEKLY, Period.MONTHLY):
        got = source.index_bars("000905.SH", period, START, wednesday)
        assert routed.served[-1][-1].startswith("2025-01-22,")
        truth = market.index_bars("000905.SH", period, START, wednesday)
        assert [(b.trade_date, b.close) for b in got] == [(b.trade_date, b.close) for b in truth]
        assert all(b.trade_date < wednesday for b in got)
