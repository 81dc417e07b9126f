"""The chaos bench's own services and processes: an embedded PostgreSQL it can stop and start,
a redis-server without persistence it can SIGKILL and restart empty, Celery workers and the
HTTP API — all under one fresh temp dir, all torn down by :meth:`Lab.close`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
import requests

from bench.services import BenchServices, reset_state, start_services
from bench.workers import BenchFailure
from cli import processes
from stocksync.config import Settings
from stocksync.context import Context, build_context
from stocksync.embedded import ServiceUrls, resolve_service_urls
from stocksync.embedded import postgres as pg
from stocksync.embedded.redis_server import redis_binary
from stocksync.embedded.resolve import postgres_dir

PROBE_DIR = Path(__file__).resolve().parent / "probe"
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChaosRedis:
    """A redis-server of the bench's own (no RDB, no AOF): a restart comes back empty."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [
                str(redis_binary()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BenchFailure(f"redis-server did not come up on port {self.port}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server: queue, lock, counters and liveness keys are gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@dataclass
class Worker:
    """One ``celery -A workers worker`` process group started by the lab."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def ready(self) -> bool:
        """Alive, and it logged that it takes tasks."""
        return self.alive and b" ready." in self.log_path.read_bytes()

    def pool_children(self) -> list[psutil.Process]:
        """The live prefork pool processes of a live main process (not the zombies of killed
        ones its main process has not reaped yet)."""
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        live = []
        for child in children:
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    live.append(child)
            except psutil.NoSuchProcess:
                continue
        return live

    def group_pids(self) -> set[int]:
        """Every live process of the worker's process group (orphaned children included)."""
        pids = set()
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(p.pid) == self.proc.pid:
                    pids.add(p.pid)
            except (ProcessLookupError, psutil.Error):
                continue
        return pids

    def kill_group(self) -> None:
        """SIGKILL the main process and every pool child at once."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


@dataclass
class Lab:
    """Services and processes of one chaos session (see the module docstring)."""

    data_dir: Path
    services: BenchServices
    redis_server: ChaosRedis
    settings: Settings
    urls: ServiceUrls
    ctx: Context
    workers: list[Worker] = field(default_factory=list)
    api: subprocess.Popen[bytes] | None = None
    api_url: str = ""
    _names: int = 0

    @classmethod
    def open(cls, base: Settings, data_dir: Path) -> Lab:
        """Start the servers for ``base`` (whose data dir is ``data_dir``) and migrate."""
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        redis_server = ChaosRedis(data_dir / "logs")
        redis_server.start()
        try:
            services = start_services(base, database_server_url=None, redis_url=redis_server.url)
        except BaseException:
            redis_server.kill()
            raise
        settings = services.settings
        urls = resolve_service_urls(settings)
        return cls(data_dir, services, redis_server, settings, urls, build_context(settings))

    @property
    def pgdata(self) -> Path:
        return postgres_dir(self.settings)

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    # -- processes -----------------------------------------------------------------------

    def start_worker(self, settings: Settings, call_log: Path, *, wait: bool = True) -> Worker:
        """A worker for ``settings`` (its sim knobs) whose source calls go to ``call_log``."""
        self._names += 1
        name = f"chaos-{self._names}"
        env = processes.child_env(settings, self.urls)
        env["PYTHONPATH"] = os.pathsep.join([str(PROBE_DIR), env["PYTHONPATH"]])
        env["CHAOS_CALL_LOG"] = str(call_log)
        log_path = self.log_dir / f"{name}.log"
        proc = processes.start_worker(
            env, concurrency=settings.worker_concurrency, name=name, log_path=log_path
        )
        worker = Worker(name, proc, log_path)
        self.workers.append(worker)
        if wait:
            self.wait_ready(worker)
        return worker

    def wait_ready(self, worker: Worker) -> None:
        """Wait until the worker logged that it is ready to take tasks."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while b" ready." not in worker.log_path.read_bytes():
            if not worker.alive or time.monotonic() > deadline:
                tail = worker.log_path.read_text(errors="replace")[-3000:]
                raise BenchFailure(f"worker {worker.name} did not become ready:\n{tail}")
            time.sleep(0.2)

    def stop_workers(self) -> None:
        """SIGKILL every worker group the lab started (orphaned pool children included)."""
        for worker in self.workers:
            worker.kill_group()
        self.workers.clear()

    def ensure_api(self) -> str:
        """The API's URL, starting ``python -m api.serve`` if it is not running."""
        if self.api is not None and self.api.poll() is None:
            return self.api_url
        port = free_port()
        env = processes.child_env(self.settings, self.urls)
        log = open(self.log_dir / "api.log", "ab")  # noqa: SIM115 - the child owns it
        self.api = subprocess.Popen(
            [sys.executable, "-m", "api.serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=processes.REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                if requests.get(f"{self.api_url}/healthz", timeout=2).status_code == 200:
                    return self.api_url
            except requests.RequestException:
                pass
            if self.api.poll() is not None or time.monotonic() > deadline:
                raise BenchFailure("the API did not come up; see " + str(log.name))
            time.sleep(0.2)

    def kill_api(self) -> None:
        """SIGKILL the API server."""
        if self.api is not None:
            try:
                os.killpg(self.api.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.api.wait(timeout=10)
            self.api = None

    # -- services ------------------------------------------------------------------------

    def stop_postgres(self) -> None:
        """Fast shutdown of the embedded PostgreSQL (sessions are cut)."""
        self.ctx.engine.dispose()
        pg.stop_postgres(self.pgdata)

    def start_postgres(self) -> None:
        pg.start_postgres(self.pgdata)

    def restart_redis_empty(self, down_s: float) -> float:
        """SIGKILL Redis, wait ``down_s``, start it again empty; returns when it is back."""
        self.redis_server.kill()
        time.sleep(down_s)
        self.redis_server.start()
        return time.time()

    def reset(self) -> None:
        """Kill the workers and empty every table and the store's Redis database."""
        self.stop_workers()
        reset_state(self.ctx.engine, self.ctx.redis, restart_ids=True)

    def close(self) -> None:
        """Stop everything the lab started and remove its temp dir (safe to call twice)."""
        self.stop_workers()
        self.kill_api()
        try:
            self.ctx.close()
        except Exception:
            pass
        self.redis_server.kill()
        self.services.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def make_data_dir() -> Path:
    """A fresh, short temp dir (unix socket paths are limited to ~107 characters)."""
    return Path(tempfile.mkdtemp(prefix="ss-chaos-", dir="/tmp"))
