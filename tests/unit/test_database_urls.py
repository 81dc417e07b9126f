"""Which STOCKSYNC_DATABASE_URL forms stocksync accepts: the usual PostgreSQL spellings map to
the psycopg2 driver it ships; anything else is one clear sentence (exit 4 in the CLI), never a
ModuleNotFoundError traceback. The CLI cases run ``stocksync status`` on the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from stocksync.errors import ServiceUnavailable
from stocksync.storage.engine import make_engine, postgres_url
from stocksync.storage.migrate import alembic_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("given", "connects_as"),
    [
        ("postgresql://u:p@db.example:5433/market", "postgresql+psycopg2://u:p@db.example:5433/market"),
        ("postgres://u:p@db.example/market", "postgresql+psycopg2://u:p@db.example/market"),
        ("postgresql+psycopg2://u@/market?host=/run/pg", "postgresql+psycopg2://u@/market?host=%2Frun%2Fpg"),
        ("PostgreSQL://u@h/m?sslmode=require", "postgresql+psycopg2://u@h/m?sslmode=require"),
        ("postgres://u:p%40ss@h/m", "postgresql+psycopg2://u:p%40ss@h/m"),
    ],
)  # fmt: skip
def test_postgres_urls_map_to_the_psycopg2_driver(given, connects_as):
    url = postgres_url(given)
    assert url.render_as_string(hide_password=False) == connects_as
    assert make_engine(given).dialect.driver == "psycopg2"
    alembic_url = alembic_config(given).get_main_option("sqlalchemy.url")
    assert make_url(alembic_url).drivername == "postgresql+psycopg2"
    if "%40" in given:
        assert url.password == "p@ss"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("mysql://x", "names a 'mysql' database"),
        ("sqlite:///stocksync.db", "names a 'sqlite' database"),
        ("postgresql+psycopg://u@h/m", "driver 'psycopg'"),
        ("postgresql+asyncpg://u@h/m", "driver 'asyncpg'"),
        ("localhost:5432/stocksync", "is not a database URL"),
        ("postgresql://u:p@h:port/m", "is not a database URL"),
        ("", "is not a database URL"),
    ],
)
def test_other_urls_are_one_sentence_naming_the_setting(given, says):
    with pytest.raises(ServiceUnavailable) as raised:
        postgres_url(given)
    message = str(raised.value)
    assert says in message and "STOCKSYNC_DATABASE_URL" in message
    assert "postgresql://user:password@host:5432/database" in message or "psycopg2" in message
    with pytest.raises(ServiceUnavailable):
        make_engine(given)


def test_a_password_is_never_quoted_back():
    with pytest.raises(ServiceUnavailable) as raised:
        postgres_url("mysql://admin:hunter2-secret@db/x")
    assert "hunter2" not in str(raised.value)


def stocksync_status(settings, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **settings.as_env(), "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    env["STOCKSYNC_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "status", "--json"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_status_works_with_a_plain_postgres_url(ctx, settings, scheme):
    plain = make_url(settings.database_url).set(drivername=scheme)
    result = stocksync_status(settings, plain.render_as_string(hide_password=False))
    assert result.returncode == 0, result.stderr
    assert '"items": []' in result.stdout


@pytest.mark.parametrize(
    ("database_url", "says"),
    [
        ("mysql://x", "STOCKSYNC_DATABASE_URL names a 'mysql' database"),
        ("not a url", "STOCKSYNC_DATABASE_URL is not a database URL"),
        ("postgresql://nobody@127.0.0.1:9/x", "cannot reach PostgreSQL (STOCKSYNC_DATABASE_URL)"),
    ],
)
def test_status_with_an_unusable_url_exits_4_with_a_sentence(settings, database_url, says):
    result = stocksync_status(settings, database_url)
    assert result.returncode == 4, result.stdout + result.stderr
    assert says in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 3
