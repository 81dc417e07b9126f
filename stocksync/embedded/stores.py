"""The sim store's services, derived from the main store's: the database ``<database>_sim`` on
the same PostgreSQL server (created on demand) and the next Redis database on the same server
(or ``STOCKSYNC_SIM_REDIS_DB``), so the simulated market never meets real data."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg2
from psycopg2 import errors as pg_errors
from psycopg2 import sql
from sqlalchemy.engine import make_url

from stocksync.errors import ServiceUnavailable
from stocksync.storage.engine import postgres_url

log = logging.getLogger(__name__)

SIM_DATABASE_SUFFIX = "_sim"
CONNECT_TIMEOUT_S = 5


def database_name(database_url: str) -> str:
    """The database a URL names (``stocksync`` when it names none, as the embedded one)."""
    return make_url(database_url).database or "stocksync"


def sim_database_url(main_database_url: str) -> str:
    """The sim store's database: the main one's name with ``_sim`` appended, same server.
    ServiceUnavailable (as for the main store) for a URL that is not PostgreSQL's."""
    postgres_url(main_database_url)  # the same sentence the engine would give
    url = make_url(main_database_url)
    name = database_name(main_database_url) + SIM_DATABASE_SUFFIX
    return url.set(database=name).render_as_string(hide_password=False)


def redis_db(redis_url: str) -> int:
    """The database index a Redis URL selects (``?db=N`` wins over the path, as in redis-py)."""
    parts = urlsplit(redis_url)
    query = dict(parse_qsl(parts.query))
    try:
        if "db" in query:
            return int(query["db"])
        if parts.scheme != "unix" and parts.path.strip("/"):
            return int(parts.path.strip("/"))
    except ValueError:
        raise ServiceUnavailable(
            "STOCKSYNC_REDIS_URL names no Redis database index; write it as redis://host:6379/0"
        ) from None
    return 0


def sim_redis_url(main_redis_url: str, sim_db: int | None) -> str:
    """The sim store's Redis: the same server, database ``sim_db`` (default: main's + 1)."""
    db = redis_db(main_redis_url) + 1 if sim_db is None else sim_db
    parts = urlsplit(main_redis_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "db"]
    if parts.scheme == "unix":  # unix:///path/redis.sock?db=N
        query.append(("db", str(db)))
        return f"unix://{parts.netloc}{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}", query=urlencode(query)))


def ensure_sim_database(main_database_url: str, sim_url: str) -> bool:
    """Create the sim store's database if it does not exist, connecting through the main
    store's database (safe to race). True if it was created here.

    A server that does not answer is left alone: the engine then reports it as it would for
    the main store. A server that answers but refuses to create it is a ServiceUnavailable
    saying what to do."""
    name = database_name(sim_url)
    url = postgres_url(main_database_url)
    params: dict[str, Any] = url.translate_connect_args(username="user", database="dbname")
    params.update((k, v) for k, v in url.query.items() if isinstance(v, str))  # host=/socket
    try:
        conn = psycopg2.connect(**params, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg2.Error:
        return False
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is not None:
                return False
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except (pg_errors.DuplicateDatabase, pg_errors.UniqueViolation):
                return False
            log.info("created the sim store's database %s", name)
            return True
    except psycopg2.Error as exc:
        raise ServiceUnavailable(
            f"cannot create the sim store's database {name} ({str(exc).strip()}); create it "
            f"yourself (CREATE DATABASE {name}) or let the role of STOCKSYNC_DATABASE_URL "
            "create databases"
        ) from exc
    finally:
        conn.close()
