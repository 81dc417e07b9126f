import pytest

from stocksync.config import Settings
from stocksync.errors import InvalidRequest
from stocksync.sources.registry import FACTORIES, SourceRegistry, default_order


def real(names):
    return tuple(n for n in names if n in FACTORIES)


def test_default_order_is_tushare_with_a_token_then_akshare_then_baostock():
    assert default_order(Settings()) == real(("akshare", "baostock"))
    assert default_order(Settings(tushare_token="t")) == real(("tushare", "akshare", "baostock"))


def test_seed_priority_variables_reorder_the_sources():
    env = {"TUSHARE_TOKEN": "t", "TUSHARE_PRIORITY": "3", "BAOSTOCK_PRIORITY": "1"}
    settings = Settings.from_env(env)
    assert default_order(settings) == real(("baostock", "akshare", "tushare"))


def test_an_explicit_list_wins_and_unknown_names_are_refused():
    assert SourceRegistry(Settings(sources=("sim", "tushare"))).names == ("sim", "tushare")
    assert Settings.from_env({"STOCKSYNC_SOURCES": "Sim, tushare"}).sources == ("sim", "tushare")
    with pytest.raises(InvalidRequest, match="unknown source"):
        SourceRegistry(Settings(sources=("yahoo",)))


def test_the_simulated_market_can_always_be_asked_for_by_name():
    registry = SourceRegistry(Settings())
    assert "sim" in registry.known and "sim" not in registry.names
    assert registry.get("sim").name == "sim"
