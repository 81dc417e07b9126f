"""The embedded default: real PostgreSQL and Redis servers under a temporary data dir.

Every test stops what it started (the ``make_settings`` fixture), even when it fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from stocksync.config import Settings
from stocksync.embedded import (
    ServiceUrls,
    embedded_status,
    resolve_service_urls,
    stop_embedded,
)
from stocksync.errors import ServiceUnavailable

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
BOGUS_DB = "postgresql+psycopg2://nobody@127.0.0.1:1/nowhere"
BOGUS_REDIS = "redis://127.0.0.1:1/0"
SERVER_NAMES = ("postgres", "redis-server")

# Resolves the services in a child process and prints URLs and pids as JSON.
# argv: data_dir [ready_file go_file]  (the files line up concurrent children)
CHILD = """
import json, sys, time
from pathlib import Path
from stocksync.config import Settings
from stocksync.embedded import embedded_status, resolve_service_urls
if len(sys.argv) > 3:
    Path(sys.argv[2]).touch()
    while not Path(sys.argv[3]).exists():
        time.sleep(0.002)
settings = Settings(data_dir=Path(sys.argv[1]))
urls = resolve_service_urls(settings)
status = embedded_status(settings)
print(json.dumps({"database_url": urls.database_url, "redis_url": urls.redis_url,
                  "pg_pid": status["postgres"]["pid"], "redis_pid": status["redis"]["pid"]}))
"""

MakeSettings = Callable[..., Settings]


def _server_processes(data_dir: Path) -> list[psutil.Process]:
    """Live postgres / redis-server processes working anywhere under ``data_dir``."""
    root = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] not in SERVER_NAMES or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cwd = proc.cwd()
        except psutil.Error:
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            found.append(proc)
    return found


def _wait_dead(pid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} still alive")


@pytest.fixture
def make_settings(tmp_path: Path) -> Iterator[MakeSettings]:
    """Settings with a data dir under ``tmp_path``; servers under them are stopped at the end."""
    made: list[Settings] = []

    def make(name: str = "d", **overrides: Any) -> Settings:
        settings = Settings(data_dir=tmp_path / name, **overrides)
        made.append(settings)
        return settings

    yield make
    problems = []
    for settings in made:
        try:
            stop_embedded(settings)
        except Exception as exc:
            problems.append(f"stop_embedded({settings.data_dir}) failed: {exc}")
        leftovers = _server_processes(settings.data_dir)
        for proc in leftovers:  # never leak servers, even when stop_embedded broke
            proc.kill()
        if leftovers:
            problems.append(f"servers survived stop_embedded: {[p.pid for p in leftovers]}")
    assert not problems, problems


def _sql(url: str, statement: str) -> list[Any]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def _port(redis_url: str) -> int:
    return int(redis_url.rsplit(":", 1)[1].split("/")[0])


def _pids(settings: Settings) -> tuple[int | None, int | None]:
    status = embedded_status(settings)
    return status["postgres"]["pid"], status["redis"]["pid"]


def _run_child(*args: str, timeout: float = 60) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_first_start_serves_sql_and_redis(make_settings: MakeSettings) -> None:
    settings = make_settings()
    urls = resolve_service_urls(settings)

    assert urls.embedded_database and urls.embedded_redis
    assert urls.database_url.startswith("postgresql+psycopg2://postgres@/stocksync?host=/")
    assert _sql(urls.database_url, "select 1, current_database()") == [(1, "stocksync")]
    client = _redis(urls.redis_url)
    assert client.set("k", "v") and client.get("k") == b"v"
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert client.config_get("appendonly")["appendonly"] == "yes"

    redis_dir = settings.data_dir / "redis"
    port = _port(urls.redis_url)
    assert (redis_dir / "port").read_text().strip() == str(port)
    status = embedded_status(settings)
    assert status["postgres"]["running"] and status["redis"]["running"]
    assert status["postgres"]["url"] == urls.database_url
    assert status["redis"]["url"] == urls.redis_url
    assert int((redis_dir / "redis.pid").read_text()) == status["redis"]["pid"]
    assert psutil.Process(status["redis"]["pid"]).cwd() == str(redis_dir.resolve())
    assert psutil.Process(status["postgres"]["pid"]).name() == "postgres"
    assert (redis_dir / "redis.log").stat().st_size > 0


def test_second_process_reuses_the_running_servers(make_settings: MakeSettings) -> None:
    settings = make_settings()
    urls = resolve_service_urls(settings)
    pids = _pids(settings)

    child = _run_child(str(settings.data_dir))

    assert (child["database_url"], child["redis_url"]) == (urls.database_url, urls.redis_url)
    assert (child["pg_pid"], child["redis_pid"]) == pids
    assert _pids(settings) == pids  # the child's exit stopped nothing
    assert len(_server_processes(settings.data_dir / "redis")) == 1


def test_data_persists_across_stop_and_start(make_settings: MakeSettings) -> None:
    settings = make_settings()
    urls = resolve_service_urls(settings)
    _sql(urls.database_url, "create table kept (v text); insert into kept values ('row')")
    client = _redis(urls.redis_url)
    client.set("key", "value")
    client.incr("counter", 3)
    client.rpush("queue", "message")
    pg_pid, redis_pid = _pids(settings)

    lines = stop_embedded(settings)

    assert lines == [f"stopped PostgreSQL (pid {pg_pid})", f"stopped Redis (pid {redis_pid})"]
    assert not _server_processes(settings.data_dir)
    status = embedded_status(settings)
    assert not status["postgres"]["running"] and not status["redis"]["running"]
    with pytest.raises(ServiceUnavailable, match=r"embedded Redis .* is not running"):
        resolve_service_urls(settings, start=False)
    assert stop_embedded(settings) == ["PostgreSQL was not running", "Redis was not running"]

    again = resolve_service_urls(settings)

    assert again == urls  # same socket dir, same remembered Redis port
    assert _pids(settings) != (pg_pid, redis_pid)
    assert _sql(again.database_url, "select v from kept") == [("row",)]
    client = _redis(again.redis_url)
    assert client.get("key") == b"value"
    assert client.get("counter") == b"3"
    assert client.lrange("queue", 0, -1) == [b"message"]


def test_taken_redis_port_gives_clear_error_and_starts_nothing(
    make_settings: MakeSettings,
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        settings = make_settings(embedded_redis_port=port)

        with pytest.raises(ServiceUnavailable) as err:
            resolve_service_urls(settings)

    assert str(err.value) == (
        f"127.0.0.1:{port} is taken by another program; set STOCKSYNC_EMBEDDED_REDIS_PORT to "
        "a free port or STOCKSYNC_REDIS_URL to use your own Redis"
    )
    assert not _server_processes(settings.data_dir)
    assert not (settings.data_dir / "postgres").exists()


def test_another_data_dirs_servers_are_neither_reused_nor_stopped(
    make_settings: MakeSettings,
) -> None:
    first = make_settings("a")
    first_urls = resolve_service_urls(first)
    port = _port(first_urls.redis_url)
    first_pids = _pids(first)
    # A configured port held by another data dir's Redis is "taken".
    other = make_settings("b", database_url=BOGUS_DB, embedded_redis_port=port)
    with pytest.raises(ServiceUnavailable, match=f"127.0.0.1:{port} is taken by another"):
        resolve_service_urls(other)
    # A data dir whose remembered port and pid files point at the first one's servers
    # (say, copied from it) must not take those servers for its own.
    copy = make_settings("c")
    (copy.data_dir / "redis").mkdir(parents=True)
    (copy.data_dir / "redis" / "port").write_text(f"{port}\n")
    (copy.data_dir / "redis" / "redis.pid").write_text(f"{first_pids[1]}\n")
    (copy.data_dir / "postgres").mkdir()
    postmaster = (first.data_dir / "postgres" / "postmaster.pid").read_text()
    (copy.data_dir / "postgres" / "postmaster.pid").write_text(postmaster)

    assert stop_embedded(other) == ["PostgreSQL was not running", "Redis was not running"]
    assert stop_embedded(copy) == ["PostgreSQL was not running", "Redis was not running"]
    assert not embedded_status(copy)["redis"]["running"]
    copy_urls = resolve_service_urls(copy)

    assert _pids(first) == first_pids
    assert _redis(first_urls.redis_url).ping()
    assert _sql(first_urls.database_url, "select 1") == [(1,)]
    assert copy_urls.redis_url != first_urls.redis_url
    assert copy_urls.database_url != first_urls.database_url
    assert set(_pids(copy)).isdisjoint(first_pids)
    copy_dir = str((copy.data_dir / "redis").resolve())
    assert _redis(copy_urls.redis_url).config_get("dir")["dir"] == copy_dir


def test_remembered_port_taken_moves_to_a_free_one(make_settings: MakeSettings) -> None:
    settings = make_settings(database_url=BOGUS_DB)
    old_url = resolve_service_urls(settings).redis_url
    old_port = _port(old_url)
    stop_embedded(settings)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()

        new_url = resolve_service_urls(settings).redis_url

    assert new_url != old_url
    assert _redis(new_url).ping()
    assert (settings.data_dir / "redis" / "port").read_text().strip() in new_url


def test_concurrent_starts_yield_one_server(make_settings: MakeSettings, tmp_path: Path) -> None:
    settings = make_settings()
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(settings.data_dir), str(tmp_path / f"r{i}"), str(go)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 30
        while not all((tmp_path / f"r{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline, "children never got ready"
            time.sleep(0.01)
        go.touch()  # both children now race to start the servers
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    for child, (_, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    assert results[0] == results[1]
    running = _server_processes(settings.data_dir)
    assert [p.pid for p in running if p.name() == "redis-server"] == [results[0]["redis_pid"]]
    postmasters = [
        p for p in running if p.name() == "postgres" and p.ppid() not in {q.pid for q in running}
    ]
    assert [p.pid for p in postmasters] == [results[0]["pg_pid"]]


def test_stale_pidfiles_after_sigkill_are_replaced(make_settings: MakeSettings) -> None:
    settings = make_settings()
    urls = resolve_service_urls(settings)
    _sql(urls.database_url, "create table kept (v int); insert into kept values (7)")
    _redis(urls.redis_url).set("survives", "kill -9")
    pg_pid, redis_pid = _pids(settings)
    assert pg_pid and redis_pid
    os.kill(redis_pid, signal.SIGKILL)
    os.kill(pg_pid, signal.SIGKILL)
    _wait_dead(redis_pid)
    _wait_dead(pg_pid)
    redis_pidfile = settings.data_dir / "redis" / "redis.pid"
    postmaster_pid = settings.data_dir / "postgres" / "postmaster.pid"
    assert redis_pidfile.exists() and postmaster_pid.exists()
    # Worst case: the dead servers' pids now belong to some other live process (this one).
    redis_pidfile.write_text(f"{os.getpid()}\n")
    lines = postmaster_pid.read_text().splitlines()
    postmaster_pid.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    assert not embedded_status(settings)["redis"]["running"]

    again = resolve_service_urls(settings)

    new_pg, new_redis = _pids(settings)
    assert new_pg not in (None, pg_pid, os.getpid())
    assert new_redis not in (None, redis_pid, os.getpid())
    assert _sql(again.database_url, "select v from kept") == [(7,)]
    assert _redis(again.redis_url).get("survives") == b"kill -9"


def test_postgres_that_fails_to_start_reports_its_log(make_settings: MakeSettings) -> None:
    settings = make_settings()
    resolve_service_urls(settings)
    stop_embedded(settings)
    with (settings.data_dir / "postgres" / "postgresql.conf").open("a") as conf:
        conf.write("\nshared_buffers = 'plenty'\n")

    with pytest.raises(ServiceUnavailable) as err:
        resolve_service_urls(settings)

    message = str(err.value)
    assert message.startswith("PostgreSQL failed to start in ")
    assert "last lines of " in message and '"shared_buffers"' in message
    assert not embedded_status(settings)["postgres"]["running"]


def test_start_false_when_never_started_says_how_to_start(make_settings: MakeSettings) -> None:
    settings = make_settings()

    with pytest.raises(ServiceUnavailable) as err:
        resolve_service_urls(settings, start=False)

    assert "is not running" in str(err.value)
    assert "STOCKSYNC_REDIS_URL" in str(err.value)
    assert not settings.data_dir.exists()


def test_configured_urls_are_returned_and_nothing_starts(make_settings: MakeSettings) -> None:
    settings = make_settings(database_url=BOGUS_DB, redis_url=BOGUS_REDIS)

    urls = resolve_service_urls(settings)

    assert urls == ServiceUrls(BOGUS_DB, BOGUS_REDIS, embedded_database=False, embedded_redis=False)
    assert resolve_service_urls(settings, start=False) == urls
    assert not settings.data_dir.exists()
    assert not _server_processes(settings.data_dir)


def test_only_the_unconfigured_service_is_embedded(make_settings: MakeSettings) -> None:
    settings = make_settings(database_url=BOGUS_DB)

    urls = resolve_service_urls(settings)

    assert urls.database_url == BOGUS_DB and not urls.embedded_database
    assert urls.embedded_redis and _redis(urls.redis_url).ping()
    assert [p.name() for p in _server_processes(settings.data_dir)] == ["redis-server"]


def test_unwritable_data_dir_is_a_clear_error(make_settings: MakeSettings, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    settings = make_settings("a-file/data")

    with pytest.raises(
        ServiceUnavailable, match=r"a-file/data is not writable.*STOCKSYNC_DATA_DIR"
    ):
        resolve_service_urls(settings)


def test_long_data_dir_puts_the_postgres_socket_elsewhere(make_settings: MakeSettings) -> None:
    settings = make_settings("x" * 60 + "/" + "y" * 60)
    assert len(str(settings.data_dir / "postgres" / ".s.PGSQL.5432")) > 108

    urls = resolve_service_urls(settings)

    socket_dir = urls.database_url.split("host=", 1)[1]
    assert Path(socket_dir) != (settings.data_dir / "postgres").resolve()
    assert len(socket_dir + "/.s.PGSQL.5432") <= 107
    assert _sql(urls.database_url, "select 1") == [(1,)]


NETNS_CHILD = """
import json, socket, sys
from pathlib import Path
import redis
from sqlalchemy import create_engine, text
from stocksync.config import Settings
from stocksync.embedded import resolve_service_urls, stop_embedded
def reachable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
settings = Settings(data_dir=Path(sys.argv[1]))
urls = resolve_service_urls(settings)
with create_engine(urls.database_url).connect() as conn:
    one = conn.execute(text("select 1")).scalar()
pong = redis.Redis.from_url(urls.redis_url).ping()
print(json.dumps({"system_pg": reachable(5432), "system_redis": reachable(6379),
                  "one": one, "pong": pong, "urls": [urls.database_url, urls.redis_url],
                  "stopped": stop_embedded(settings)}))
"""


def test_embedded_path_works_with_system_services_out_of_reach(
    make_settings: MakeSettings,
) -> None:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here (unshare -n): {probe.stderr.strip()}")
    settings = make_settings()
    command = f'ip link set lo up && exec {sys.executable} -c "$0" {settings.data_dir}'

    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", command, NETNS_CHILD],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["system_pg"] is False and result["system_redis"] is False
    assert result["one"] == 1 and result["pong"] is True
    assert result["urls"][0].startswith("postgresql+psycopg2://postgres@/stocksync?host=")
    assert result["stopped"][0].startswith("stopped PostgreSQL (pid ")
    assert result["stopped"][1].startswith("stopped Redis (pid ")


# The Celery app and its configuration, imported as a web process or a CLI command does.
IMPORT_CELERY = """
import json
import celeryconfig, workers, workers.tasks, workers.beat
import psutil
print(json.dumps({"configured": workers.app.configured,
                  "children": [p.pid for p in psutil.Process().children(recursive=True)]}))
"""
# Reads the configuration, then talks to the broker it names.
USE_BROKER = """
import json
import workers
before = workers.app.configured
url = workers.app.conf.broker_url
with workers.app.connection_for_write() as connection:
    connection.ensure_connection(max_retries=1)  # the Redis transport pings the server
    connected = connection.connected
print(json.dumps({"configured_before": before, "broker_url": url, "connected": connected}))
"""


def _bare_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without any stocksync or Celery setting, with ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKSYNC_", "CELERY_"))}
    return env | {"STOCKSYNC_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)} | extra


def _python(code: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_celery_app_starts_no_server(make_settings: MakeSettings) -> None:
    settings = make_settings()  # stopped at the end, should the import start anything
    settings.data_dir.mkdir()

    report = _python(IMPORT_CELERY, _bare_env(settings.data_dir))

    assert report == {"configured": False, "children": []}
    assert list(settings.data_dir.iterdir()) == []
    assert _server_processes(settings.data_dir) == []


def test_the_broker_is_resolved_when_the_configuration_is_first_read(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings()

    report = _python(USE_BROKER, _bare_env(settings.data_dir))

    status = embedded_status(settings)
    assert status["redis"]["running"] and status["postgres"]["running"]
    assert report == {
        "configured_before": False,
        "broker_url": status["redis"]["url"],
        "connected": True,
    }
    # A configured URL (here the embedded Redis just started) is used as is: nothing else starts.
    elsewhere = make_settings("elsewhere")
    env = _bare_env(
        elsewhere.data_dir,
        STOCKSYNC_REDIS_URL=status["redis"]["url"],
        STOCKSYNC_DATABASE_URL=status["postgres"]["url"],
    )
    assert _python(USE_BROKER, env)["broker_url"] == status["redis"]["url"]
    assert not elsewhere.data_dir.exists()


def test_a_worker_with_nothing_configured_starts_the_embedded_servers(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-P", "solo",
         "-n", "lazy-broker@%h", "--without-mingle", "--without-gossip", "--loglevel=WARNING"],
        cwd=REPO, env=_bare_env(settings.data_dir), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline, answers = time.monotonic() + 90, []
        while not answers and time.monotonic() < deadline and worker.poll() is None:
            url = embedded_status(settings)["redis"]["url"]
            if url:
                from celery import Celery

                answers = Celery("probe", broker=url).control.ping(timeout=1.0)
            else:
                time.sleep(0.5)
        assert worker.poll() is None, worker.communicate()[1]
        assert [next(iter(a)) for a in answers] == [f"lazy-broker@{socket.gethostname()}"]
        assert embedded_status(settings)["postgres"]["running"]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
