"""Simulated data apart: a run may not mix sim with real sources, a store refuses the other
store's sources with a sentence saying how to reach it, and the sim store's services are
named from the main store's (database ``<name>_sim``, the next Redis database)."""

from __future__ import annotations

import datetime as dt

import pytest

from cli.main import build_parser, store_of
from stocksync.config import Settings
from stocksync.context import StoreSources
from stocksync.embedded.stores import redis_db, sim_database_url, sim_redis_url
from stocksync.errors import InvalidRequest
from stocksync.runs.spec import parse_run_request

RANGE = {"start_date": "2026-10-08", "end_date": "2026-10-09"}
MAIN = StoreSources(Settings(store="main"))
SIM = StoreSources(Settings(store="sim", sources=("akshare",)))


def parse(store: StoreSources, body: dict) -> tuple[str, ...]:
    spec = parse_run_request(
        {**RANGE, **body}, known_sources=store.known, default_sources=store.names,
        today=dt.date(2026, 11, 23),
    )  # fmt: skip
    return spec.sources


def refusal(store: StoreSources, body: dict) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        parse(store, body)
    return raised.value


def test_each_store_knows_only_its_own_sources_and_the_sim_store_defaults_to_sim():
    assert MAIN.known == ("tushare", "akshare", "baostock")
    assert SIM.known == ("sim",)
    assert SIM.names == ("sim",)  # STOCKSYNC_SOURCES configures the real sources, not sim's
    assert parse(SIM, {}) == ("sim",)
    assert parse(MAIN, {"sources": ["baostock"]}) == ("baostock",)


@pytest.mark.parametrize("store", [MAIN, SIM])
def test_mixing_sim_with_a_real_source_is_refused_saying_why(store):
    error = refusal(store, {"sources": ["sim", "baostock"]})
    assert error.field == "sources"
    assert error.message == (
        "a run cannot mix sim (the simulated market) with real sources (baostock): simulated "
        "data is kept in its own store, apart from real data; sync them in separate runs"
    )
    assert refusal(store, {"data_sources": "akshare,sim"}).field == "data_sources"


def test_sim_in_the_main_store_says_how_to_reach_the_sim_store():
    error = refusal(MAIN, {"sources": ["sim"]})
    assert error.message == (
        "the simulated market lives in its own store: use `stocksync sync --source sim` or "
        "`stocksync up --store sim`"
    )
    # configured as the main store's default, it is refused all the same
    configured = StoreSources(Settings(store="main", sources=("sim",)))
    assert "lives in its own store" in refusal(configured, {}).message


def test_a_real_source_in_the_sim_store_says_how_to_reach_the_main_store():
    error = refusal(SIM, {"sources": ["baostock"]})
    assert error.message == (
        "real sources (baostock) write to the main store, not the simulated market's: use "
        "`stocksync sync --source baostock` or `stocksync up` (without --store sim)"
    )
    assert "unknown source(s) yahoo" in refusal(SIM, {"sources": ["yahoo"]}).message


@pytest.mark.parametrize(
    ("main", "sim"),
    [
        ("postgresql+psycopg2://u:p%40ss@db.example:5433/ss", "postgresql+psycopg2://u:p%40ss@db.example:5433/ss_sim"),
        ("postgres://u@h/stocksync", "postgres://u@h/stocksync_sim"),
        ("postgresql+psycopg2://postgres@/stocksync?host=/tmp/s", "postgresql+psycopg2://postgres@/stocksync_sim?host=%2Ftmp%2Fs"),
    ],
)  # fmt: skip
def test_the_sim_database_is_the_main_ones_name_with_sim_on_the_same_server(main, sim):
    assert sim_database_url(main) == sim


@pytest.mark.parametrize(
    ("main", "db", "sim"),
    [
        ("redis://127.0.0.1:6379/0", 0, "redis://127.0.0.1:6379/1"),
        ("redis://cache:6380", 0, "redis://cache:6380/1"),
        ("rediss://:pw@cache:6380/3?socket_timeout=5", 3, "rediss://:pw@cache:6380/4?socket_timeout=5"),
        ("redis://cache/2?db=7", 7, "redis://cache/8"),
        ("unix:///run/redis.sock?db=2", 2, "unix:///run/redis.sock?db=3"),
    ],
)  # fmt: skip
def test_the_sim_redis_is_the_next_database_on_the_same_server(main, db, sim):
    assert redis_db(main) == db
    assert sim_redis_url(main, None) == sim
    assert redis_db(sim_redis_url(main, 11)) == 11  # STOCKSYNC_SIM_REDIS_DB


@pytest.mark.parametrize(
    ("argv", "store"),
    [
        (["sync", "--source", "sim"], "sim"),
        (["sync", "--source", "baostock,akshare"], "main"),
        (["sync", "--source", "sim,baostock"], None),  # refused by the run parser
        (["sync"], None),
        (["status", "--store", "sim"], "sim"),
        (["export", "--out", "-", "--store", "sim"], "sim"),
        (["up", "--store", "main"], "main"),
    ],
)
def test_the_cli_picks_the_store_from_store_or_the_sources(argv, store):
    assert store_of(build_parser().parse_args(argv)) == store
