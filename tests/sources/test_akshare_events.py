"""The akshare adapter's stock events (dividends, the profile snapshot, main indicators) against
the fake eastmoney, through the unmodified akshare library: units, plans, paging, the reply's
extra keys, announcement dating and faults. The contract's truth tests run in
``test_akshare_contract.py``; the fixtures are that module's."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pandas as pd  # type: ignore[import-untyped]
import pytest
import requests
import test_akshare_contract as _contract  # type: ignore[import-not-found]
from fake_eastmoney import FakeEastmoney  # type: ignore[import-not-found]
from fake_eastmoney_events import (  # type: ignore[import-not-found]
    BONUS_PATH,
    DATACENTER,
    DATACENTER_WEB,
    FINANCE_PATH,
    QUOTE_HOST,
    QUOTE_PATH,
)
from faults import Faults  # type: ignore[import-not-found]

from stocksync.datasets.financials import statutory_deadline
from stocksync.sim import SimMarket
from stocksync.sources.akshare import BAN_WAIT_S, AkshareSource, build_akshare_source, events
from stocksync.sources.base import NoDataError, RateLimitedError, TransientSourceError

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame")
WHOLE = (dt.date(1990, 1, 1), dt.date(2026, 12, 31))
TIMEOUT_S, _Quota, _settings = _contract.TIMEOUT_S, _contract._Quota, _contract._settings
# the contract module's fixtures: its fake eastmoney, faults and source
market, fake, _faults = _contract.market, _contract.fake, _contract._faults
faults, routed, source = _contract.faults, _contract.routed, _contract.source


def _with_actions(sim: SimMarket, at_least: int) -> str:
    for sec in sim.securities():
        if len(sim.corporate_actions(sec.code, *WHOLE)) >= at_least:
            return sec.code
    raise AssertionError(f"no stock with {at_least} actions")


def _bonus_pages(server: FakeEastmoney) -> list[str]:
    return [p["pageNumber"] for host, path, p in server.log
            if (host, path) == (DATACENTER_WEB, BONUS_PATH)]  # fmt: skip


# -- corporate actions -----------------------------------------------------------------------
def test_per_ten_shares_become_per_share_and_the_combined_ratio_is_never_added() -> None:
    day = dt.date(2024, 6, 12)
    frame = pd.DataFrame({  # akshare's frame: 10送3转2派1.50元, 送转总比例 5
        "报告期": [dt.date(2023, 12, 31)], "送转股份-送转总比例": [5.0],
        "送转股份-送股比例": [3.0], "送转股份-转股比例": [2.0], "现金分红-现金分红比例": [1.5],
        "股权登记日": [dt.date(2024, 6, 11)], "除权除息日": [day],
        "最新公告日期": [dt.date(2024, 6, 5)],
    })  # fmt: skip
    (action,) = events.actions(frame, "600000.SH", day, day)
    assert (action.cash_div, action.bonus_ratio, action.transfer_ratio) == (0.15, 0.3, 0.2)
    assert action.factor_ratio(10.0) == pytest.approx(10.0 * 1.5 / (10.0 - 0.15))


def test_the_wire_ratios_are_per_ten_and_match_the_actions(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    import akshare as ak  # type: ignore[import-untyped]

    code = _with_actions(market, 3)
    got = {a.ex_date: a for a in source.corporate_actions(code, *WHOLE)}
    wire = ak.stock_fhps_detail_em(symbol=code[:6])  # the same reply, as akshare names it
    done = wire[wire["除权除息日"].notna()]
    for _, row in done.iterrows():
        action = got[row["除权除息日"]]
        assert action.cash_div == pytest.approx(_or0(row["现金分红-现金分红比例"]) / 10)
        assert action.bonus_ratio + action.transfer_ratio == pytest.approx(
            _or0(row["送转股份-送转总比例"]) / 10
        )
    assert len(got) == len(done) == len(market.corporate_actions(code, *WHOLE))


def _or0(value: float) -> float:
    return 0.0 if pd.isna(value) else float(value)


def test_plans_without_an_ex_date_are_not_actions(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    import akshare as ak

    code = _with_actions(market, 1)
    wire = ak.stock_fhps_detail_em(symbol=code[:6])
    plans = wire[wire["除权除息日"].isna()]
    assert set(plans["方案进度"]) == {"董事会预案", "停止实施"}
    got = source.corporate_actions(code, *WHOLE)
    truth = market.corporate_actions(code, *WHOLE)
    assert [(a.ex_date, a.cash_div) for a in got] == [(a.ex_date, a.cash_div) for a in truth]


def test_datacenter_pages_are_all_read_and_every_request_pays(
    routed: FakeEastmoney, faults: Faults, market: SimMarket
) -> None:
    code = _with_actions(market, 5)
    truth = market.corporate_actions(code, *WHOLE)
    quota = _Quota()
    src = build_akshare_source(_settings(), quota)
    assert len(src.corporate_actions(code, *WHOLE)) == len(truth)
    assert _bonus_pages(routed) == ["1", "1"]  # page 1 for the count, then pages 1..N
    assert len(quota.calls) == 2
    routed.reset()
    routed.events.page_rows = 2  # eastmoney caps the page: the rows come over several pages
    got = src.corporate_actions(code, *WHOLE)
    pages = -(-(len(truth) + 2) // 2)  # the actions and two plans, two a page
    assert pages > 2 and _bonus_pages(routed) == ["1", *(str(n) for n in range(1, pages + 1))]
    assert [a.ex_date for a in got] == [a.ex_date for a in truth]


def test_a_stock_without_any_dividend_row_has_no_actions(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    code = next(s.code for s in market.securities()
                if not market.corporate_actions(s.code, *WHOLE))  # fmt: skip
    assert source.corporate_actions(code, *WHOLE) == []  # eastmoney's "result": null
    assert routed.count(DATACENTER_WEB, BONUS_PATH) == 1


def test_a_ban_on_the_dividend_details_asks_for_a_long_wait(
    source: AkshareSource, faults: Faults, market: SimMarket
) -> None:
    faults.set(rate_limit=True)
    with pytest.raises(RateLimitedError) as info:
        source.corporate_actions(_with_actions(market, 1), *WHOLE)
    assert info.value.wait_s == BAN_WAIT_S


# -- profiles --------------------------------------------------------------------------------
def test_the_quote_reply_carries_the_keys_akshare_deletes_and_the_snapshot_is_today(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    query = urlencode({"fltt": "2", "invt": "2", "fields": "f57,f58,f84", "secid": "0.920047"})
    raw = requests.get(f"https://{QUOTE_HOST}{QUOTE_PATH}?{query}", timeout=TIMEOUT_S).json()
    assert {"rc", "rt", "svr", "lt", "full", "dlmkts", "data"} <= set(raw)
    assert list(raw["data"]) == ["f57", "f58", "f84"]
    (row,) = source.profiles("920047.BJ", dt.date(2022, 1, 1), dt.date(2024, 12, 31))
    today = dt.date.today()
    now = [p for p in market.profiles("920047.BJ", *WHOLE) if p.valid_from <= today][-1]
    assert row.valid_from == today and row.industry_scheme == "东方财富行业"
    assert (row.name, row.is_st, row.industry, row.total_shares, row.float_shares) == (
        now.name, now.is_st, now.industry, now.total_shares, now.float_shares)  # fmt: skip
    secids = [p["secid"] for host, path, p in routed.log if (host, path) == (QUOTE_HOST,
              QUOTE_PATH)]  # fmt: skip
    assert secids[-1] == "0.920047"  # akshare sends Beijing as market 0


def test_an_st_name_makes_the_profile_st(source: AkshareSource, market: SimMarket) -> None:
    today = dt.date.today()
    code = next(
        s.code for s in market.securities()
        if s.is_listed_on(today)
        and [p for p in market.profiles(s.code, *WHOLE) if p.valid_from <= today][-1].is_st
    )  # fmt: skip
    (row,) = source.profiles(code, *WHOLE)
    assert row.is_st and row.name and "ST" in row.name


def test_an_unknown_code_has_no_profile(source: AkshareSource) -> None:
    with pytest.raises(NoDataError):
        source.profiles("600999.SH", *WHOLE)


def test_a_server_error_on_the_quote_is_transient(source: AkshareSource, faults: Faults) -> None:
    faults.set(server_error=True)
    with pytest.raises(TransientSourceError):
        source.profiles("605685.SH", *WHOLE)


# -- financials ------------------------------------------------------------------------------
def test_a_restated_period_is_dated_on_its_update_not_its_first_notice(
    source: AkshareSource, routed: FakeEastmoney, market: SimMarket
) -> None:
    for sec in market.securities():
        versions = market.financials(sec.code, *WHOLE)
        periods = [r.report_period for r in versions]
        restated = [p for p in set(periods) if periods.count(p) > 1]
        if restated:
            break
    period = restated[0]
    first, last = (r for r in versions if r.report_period == period)
    got = [r for r in source.financials(sec.code, *WHOLE) if r.report_period == period]
    assert [(r.announce_date, r.revenue, r.announce_estimated) for r in got] == [
        (last.announce_date, last.revenue, False)
    ]  # restated figures never show before they were announced; the original is not kept
    between = source.financials(sec.code, first.announce_date, last.announce_date - dt.timedelta(1))
    assert all(r.report_period != period for r in between)
    sent = next(p for host, path, p in routed.log if (host, path) == (DATACENTER, FINANCE_PATH))
    assert (sent["type"], sent["sty"], sent["filter"], sent["ps"]) == (
        "RPT_F10_FINANCE_MAINFINADATA",
        "APP_F10_MAINFINADATA",
        f'(SECUCODE="{sec.code}")',
        "200",
    )


def test_without_a_notice_date_the_statutory_deadline_stands_in() -> None:
    frame = pd.DataFrame([{"SECUCODE": "600000.SH", "REPORT_DATE": "2023-12-31 00:00:00",
                           "EPSJB": 0.5, "ZCFZL": 61.2}])  # fmt: skip
    (report,) = events.financials(frame, "600000.SH", *WHOLE)
    assert report.announce_date == statutory_deadline(dt.date(2023, 12, 31))
    assert report.announce_estimated and report.eps == 0.5 and report.revenue is None


def test_a_ban_on_the_main_indicators_asks_for_a_long_wait(
    source: AkshareSource, faults: Faults
) -> None:
    faults.set(rate_limit=True)
    with pytest.raises(RateLimitedError) as info:
        source.financials("605685.SH", *WHOLE)
    assert info.value.wait_s == BAN_WAIT_S
    faults.set(server_error=True, rate_limit=False)
    with pytest.raises(TransientSourceError):
        source.financials("605685.SH", *WHOLE)
