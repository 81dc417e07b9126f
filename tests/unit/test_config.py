"""Settings from the environment: every variable's name, default and parsing, the checks that
refuse an unsafe combination, the environment handed to child processes, and the README's
configuration table naming only variables config.py knows."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from stocksync import config
from stocksync.config import REAL_SOURCES_BY_PRIORITY, Settings, SimSettings

README = Path(__file__).resolve().parents[2] / "README.md"

# Every variable set to a value other than its default, and the settings it must give.
EVERY_VARIABLE = {
    "STOCKSYNC_DATABASE_URL": "postgresql+psycopg2://u@db.example/ss",
    "STOCKSYNC_REDIS_URL": "redis://cache.example:6380/3",
    "STOCKSYNC_STORE": "sim",
    "STOCKSYNC_SIM_REDIS_DB": "0",
    "STOCKSYNC_DATA_DIR": "/srv/stocksync",
    "STOCKSYNC_EMBEDDED_REDIS_PORT": "6390",
    "STOCKSYNC_WORKER_CONCURRENCY": "7",
    "STOCKSYNC_SOURCES": "baostock,sim",
    "TUSHARE_PRIORITY": "3",
    "AKSHARE_PRIORITY": "1",
    "BAOSTOCK_PRIORITY": "2",
    "STOCKSYNC_MAX_ATTEMPTS": "9",
    "STOCKSYNC_RETRY_BACKOFF_S": "0.5",
    "STOCKSYNC_RETRY_BACKOFF_MAX_S": "30.0",
    "STOCKSYNC_TASK_SOFT_TIME_LIMIT_S": "100",
    "STOCKSYNC_TASK_TIME_LIMIT_S": "120",
    "STOCKSYNC_LOCK_TTL_S": "45",
    "STOCKSYNC_VISIBILITY_TIMEOUT_S": "7200",
    "STOCKSYNC_API_HOST": "0.0.0.0",
    "STOCKSYNC_API_PORT": "9001",
    "STOCKSYNC_SIM_SEED": "7",
    "STOCKSYNC_SIM_STOCKS": "40",
    "STOCKSYNC_SIM_LATENCY_MS": "2.5",
    "STOCKSYNC_SIM_ERROR_RATE": "0.1",
    "STOCKSYNC_SIM_CALLS_PER_MINUTE": "600",
    "STOCKSYNC_SIM_GARBAGE_RATE": "0.05",
    "STOCKSYNC_SOURCE_TIMEOUT_S": "4.5",
    "TUSHARE_TOKEN": "tok-secret",
    "STOCKSYNC_TUSHARE_URL": "http://127.0.0.1:7001",
    "STOCKSYNC_BAOSTOCK_ADDR": "127.0.0.1:7002",
    "STOCKSYNC_TUSHARE_CALLS_PER_MINUTE": "100",
    "STOCKSYNC_AKSHARE_CALLS_PER_MINUTE": "10",
    "STOCKSYNC_BAOSTOCK_CALLS_PER_MINUTE": "150",
    "STOCKSYNC_MAX_RANGE_DAYS": "31",
    "STOCKSYNC_INCREMENTAL_DEFAULT_DAYS": "5",
    "STOCKSYNC_API_TOKEN": "api-secret",
    "STOCKSYNC_SCHEDULE_TIMEZONE": "Asia/Tokyo",
    "STOCKSYNC_SCHEDULE_DAILY": "0 18 * * 1-5",
    "STOCKSYNC_SCHEDULE_WEEKLY": "0 3 * * 6",
    "STOCKSYNC_SCHEDULE_MONTHLY": "0 5 2 * *",
    "STOCKSYNC_SCHEDULE_EVENTS": "0 7 * * 0",
    "STOCKSYNC_SCHEDULE_GAP_CHECK": "0 6 3 * *",
    "STOCKSYNC_TEST_DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1/postgres",
    "STOCKSYNC_TEST_REDIS_URL": "redis://127.0.0.1:6379/15",
}
EVERY_SETTING = Settings(
    database_url="postgresql+psycopg2://u@db.example/ss",
    redis_url="redis://cache.example:6380/3",
    store="sim",
    sim_redis_db=0,
    data_dir=Path("/srv/stocksync"),
    embedded_redis_port=6390,
    worker_concurrency=7,
    sources=("baostock", "sim"),
    source_priorities={"tushare": 3, "akshare": 1, "baostock": 2},
    max_attempts=9,
    retry_backoff_s=0.5,
    retry_backoff_max_s=30.0,
    task_soft_time_limit_s=100,
    task_time_limit_s=120,
    lock_ttl_s=45,
    visibility_timeout_s=7200,
    api_host="0.0.0.0",
    api_port=9001,
    sim=SimSettings(
        seed=7,
        stocks=40,
        latency_ms=2.5,
        error_rate=0.1,
        calls_per_minute=600,
        garbage_rate=0.05,
    ),
    source_timeout_s=4.5,
    tushare_token="tok-secret",
    tushare_url="http://127.0.0.1:7001",
    baostock_addr="127.0.0.1:7002",
    calls_per_minute={"tushare": 100, "akshare": 10, "baostock": 150},
    max_range_days=31,
    incremental_default_days=5,
    api_token="api-secret",
    schedule_timezone="Asia/Tokyo",
    schedule_daily="0 18 * * 1-5",
    schedule_weekly="0 3 * * 6",
    schedule_monthly="0 5 2 * *",
    schedule_events="0 7 * * 0",
    schedule_gap_check="0 6 3 * *",
    test_database_url="postgresql+psycopg2://postgres@127.0.0.1/postgres",
    test_redis_url="redis://127.0.0.1:6379/15",
)


def every_field(settings: Settings) -> dict[str, object]:
    """Each field by name, SimSettings' ones as ``sim.<name>``."""
    found: dict[str, object] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, SimSettings):
            found |= {f"sim.{s.name}": getattr(value, s.name) for s in dataclasses.fields(value)}
        else:
            found[f.name] = value
    return found


def test_every_variable_sets_its_field():
    assert Settings.from_env(EVERY_VARIABLE) == EVERY_SETTING


def test_every_field_differs_from_its_default_in_the_round_trip_case():
    defaults, chosen = every_field(Settings()), every_field(EVERY_SETTING)
    assert [name for name in chosen if chosen[name] == defaults[name]] == []


def test_a_child_process_environment_round_trips_every_setting():
    assert EVERY_SETTING.as_env() == EVERY_VARIABLE
    assert Settings.from_env(EVERY_SETTING.as_env()) == EVERY_SETTING
    # The defaults round-trip too: unset optional settings are not written at all.
    defaults = Settings()
    assert Settings.from_env(defaults.as_env()) == defaults
    assert "STOCKSYNC_DATABASE_URL" not in defaults.as_env()
    assert "TUSHARE_TOKEN" not in defaults.as_env()


def test_unset_or_empty_variables_take_the_documented_defaults(tmp_path):
    home_default = Path.home() / ".local" / "share" / "stocksync"
    for env in ({}, dict.fromkeys(EVERY_VARIABLE, "")):
        settings = Settings.from_env(env)
        assert settings == Settings(data_dir=home_default)
        assert every_field(settings) == {
            "database_url": None,
            "redis_url": None,
            "store": "main",
            "sim_redis_db": None,
            "data_dir": home_default,
            "embedded_redis_port": 0,
            "worker_concurrency": 2,
            "sources": None,
            "source_priorities": {},
            "max_attempts": 5,
            "retry_backoff_s": 2.0,
            "retry_backoff_max_s": 60.0,
            "task_soft_time_limit_s": 300,
            "task_time_limit_s": 360,
            "lock_ttl_s": 60,
            "visibility_timeout_s": 3600,
            "api_host": "127.0.0.1",
            "api_port": 8000,
            "sim.seed": 20240601,
            "sim.stocks": 5200,
            "sim.latency_ms": 0.0,
            "sim.error_rate": 0.0,
            "sim.calls_per_minute": 0,
            "sim.garbage_rate": 0.0,
            "source_timeout_s": 15.0,
            "tushare_token": None,
            "tushare_url": None,
            "baostock_addr": None,
            "calls_per_minute": {},
            "max_range_days": 90,
            "incremental_default_days": 30,
            "api_token": None,
            "schedule_timezone": "Asia/Shanghai",
            "schedule_daily": "30 17 * * 1-5",
            "schedule_weekly": "0 2 * * 1",
            "schedule_monthly": "0 3 1 * *",
            "schedule_events": "0 6 * * 6",
            "schedule_gap_check": "0 4 1 * *",
            "test_database_url": None,
            "test_redis_url": None,
        }
    xdg = Settings.from_env({"XDG_DATA_HOME": str(tmp_path)})
    assert xdg.data_dir == tmp_path / "stocksync"
    assert Settings.from_env({"STOCKSYNC_DATA_DIR": "~/ss"}).data_dir == Path.home() / "ss"


def test_values_are_parsed_as_before():
    # Blank numbers are unset; names are trimmed and lower-cased; no names at all is unset.
    assert Settings.from_env({"STOCKSYNC_MAX_ATTEMPTS": "  "}).max_attempts == 5
    assert Settings.from_env({"STOCKSYNC_API_PORT": " 9000 "}).api_port == 9000
    assert Settings.from_env({"STOCKSYNC_SOURCES": " Sim, ,TUSHARE "}).sources == ("sim", "tushare")
    assert Settings.from_env({"STOCKSYNC_SOURCES": " , "}).sources is None
    # The token also answers to STOCKSYNC_TUSHARE_TOKEN; TUSHARE_TOKEN wins; children get it.
    alias = Settings.from_env({"STOCKSYNC_TUSHARE_TOKEN": "b"})
    assert alias.tushare_token == "b" and alias.as_env()["TUSHARE_TOKEN"] == "b"
    both = {"TUSHARE_TOKEN": "a", "STOCKSYNC_TUSHARE_TOKEN": "b"}
    assert Settings.from_env(both).tushare_token == "a"
    # Per-source values only for the sources named; sim's quota has its own variable.
    some = Settings.from_env({"AKSHARE_PRIORITY": "1", "STOCKSYNC_BAOSTOCK_CALLS_PER_MINUTE": "9"})
    assert (some.source_priorities, some.calls_per_minute) == ({"akshare": 1}, {"baostock": 9})
    assert REAL_SOURCES_BY_PRIORITY == ("tushare", "akshare", "baostock")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"STOCKSYNC_WORKER_CONCURRENCY": "two"},
            "STOCKSYNC_WORKER_CONCURRENCY must be a whole number, got 'two'",
        ),
        (
            {"STOCKSYNC_RETRY_BACKOFF_S": "fast"},
            "STOCKSYNC_RETRY_BACKOFF_S must be a number, got 'fast'",
        ),
        ({"STOCKSYNC_SIM_STOCKS": "1.5"}, "STOCKSYNC_SIM_STOCKS must be a whole number, got '1.5'"),
        ({"TUSHARE_PRIORITY": "first"}, "TUSHARE_PRIORITY must be a whole number, got 'first'"),
        (
            {"STOCKSYNC_AKSHARE_CALLS_PER_MINUTE": "x"},
            "STOCKSYNC_AKSHARE_CALLS_PER_MINUTE must be a whole number, got 'x'",
        ),
        (
            {"STOCKSYNC_VISIBILITY_TIMEOUT_S": "720"},
            "STOCKSYNC_VISIBILITY_TIMEOUT_S (720) must be more than twice the task time limit and "
            "the longest retry backoff (360 s), or messages would be delivered again while still running",
        ),
        ({"STOCKSYNC_MAX_RANGE_DAYS": "0"}, "STOCKSYNC_MAX_RANGE_DAYS must be at least 1"),
        ({"STOCKSYNC_STORE": "test"}, "STOCKSYNC_STORE must be main or sim, got 'test'"),
        (
            {"STOCKSYNC_SIM_REDIS_DB": "one"},
            "STOCKSYNC_SIM_REDIS_DB must be a whole number, got 'one'",
        ),
        (
            {"STOCKSYNC_TASK_SOFT_TIME_LIMIT_S": "360"},
            "STOCKSYNC_TASK_SOFT_TIME_LIMIT_S must be below the hard limit",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(env, message):
    with pytest.raises(ValueError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == message


def test_the_checks_apply_to_settings_built_in_code_too():
    with pytest.raises(ValueError, match="STOCKSYNC_MAX_RANGE_DAYS must be at least 1"):
        Settings().with_overrides(max_range_days=0)
    assert Settings().with_overrides(api_port=1234).api_port == 1234


def test_secrets_stay_out_of_the_repr():
    shown = repr(EVERY_SETTING)
    assert "tok-secret" not in shown and "api-secret" not in shown


def readme_variables() -> list[str]:
    """The variable names in the first column of the README's configuration table, with the
    abbreviated ones (``_WEEKLY``, ``…_AKSHARE_…``) spelled out as patterns."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) > 20, "the configuration table was not found"
    names: list[str] = []
    for row in rows:
        tokens = re.findall(r"`([^`]+)`", row.split("|")[1])
        first = tokens[0]
        for token in tokens:
            if token.startswith("…"):  # …_AKSHARE_…: the first name with that part changed
                names.append("re:[A-Z0-9_]+" + re.escape(token.strip("…")) + "[A-Z0-9_]+")
            elif token.startswith("_"):  # _WEEKLY: the first name with its last part changed
                names.append(first.rsplit("_", 1)[0] + token)
            else:
                names.append(token)
    return names


def test_every_variable_in_the_readme_table_is_known_to_config():
    known = config.known_variables()
    names = readme_variables()
    assert "STOCKSYNC_SCHEDULE_GAP_CHECK" in names and "TUSHARE_TOKEN" in names
    unknown = [
        name
        for name in names
        if not (
            any(re.fullmatch(name[3:], k) for k in known)
            if name.startswith("re:")
            else name in known
        )
    ]
    assert unknown == []


def test_every_variable_config_reads_is_in_the_readme_table():
    documented = set(readme_variables())
    patterns = [n[3:] for n in documented if n.startswith("re:")]
    table = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    undocumented = [
        name
        for name in sorted(config.known_variables())
        if name not in documented
        and not any(re.fullmatch(p, name) for p in patterns)
        and f"${name}" not in table  # XDG_DATA_HOME: named in a default
    ]
    # STOCKSYNC_TUSHARE_TOKEN is read as another name for TUSHARE_TOKEN but not documented.
    assert undocumented == ["STOCKSYNC_TUSHARE_TOKEN"]
