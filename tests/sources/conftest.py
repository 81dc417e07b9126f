"""Our protocol servers as fixtures for the tests that run units through the real clients, each
serving the session's simulated market (a module with its own ``market`` serves that one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_baostock import FakeBaostockServer  # type: ignore[import-not-found]
from fake_eastmoney import FakeEastmoney  # type: ignore[import-not-found]
from fake_tushare import FakeTushare  # type: ignore[import-not-found]
from faults import Faults  # type: ignore[import-not-found]

from stocksync.sim import SimMarket
from stocksync.sources.sim import sim_market


@pytest.fixture
def market(settings) -> SimMarket:
    return sim_market(settings.sim.seed, settings.sim.stocks)


@pytest.fixture
def fake_tushare(market) -> Iterator[FakeTushare]:
    with FakeTushare(market) as server:
        yield server


@pytest.fixture
def fake_baostock(market) -> Iterator[FakeBaostockServer]:
    server = FakeBaostockServer(market).start()
    yield server
    server.stop()


@pytest.fixture
def eastmoney(market, tmp_path, monkeypatch) -> Iterator[FakeEastmoney]:
    """Our eastmoney server, reached as akshare reaches it (HTTPS_PROXY, REQUESTS_CA_BUNDLE),
    with akshare's cached stock lists emptied."""
    (tmp_path / "eastmoney").mkdir()
    server = FakeEastmoney(market, Faults(), tmp_path / "eastmoney")
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    import akshare as ak  # type: ignore[import-untyped]

    for listing in (ak.stock_info_sh_name_code, ak.stock_info_sz_name_code,
                    ak.stock_info_bj_name_code, ak.stock_info_a_code_name):  # fmt: skip
        listing.cache_clear()
    yield server
    server.close()
