"""Starting promptq's own processes (simulator, API, worker, Redis) as children.

Used by `promptq demo` and the benchmarks; each child is the same command a user
would run, started with an explicit environment.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout_s: float, what: str,
             proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not become ready in {timeout_s:.0f} s")
        time.sleep(0.1)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(url, timeout=1).status_code < 500
        except requests.RequestException:
            return False
    return check


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def forget_redis_prefix(url: str, prefix: str) -> None:
    """Delete every key that starts with `prefix`: what a deployment with
    PROMPTQ_REDIS_PREFIX=`prefix` keeps (`{prefix}:…`, promptq/keys.py: queues, live
    events, counters, limiter buckets) and what prefixes made from it keep (the tests'
    `{prefix}-broker-…`). For a throwaway prefix (demo, tests, benchmarks) in a Redis
    that may hold others'; a Redis that is away is left as it is."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.unlink(*keys[i:i + 500])
    except redis.RedisError:
        pass


@dataclass
class Processes:
    """Children started for one run; `stop()` ends them all, newest first."""

    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, env={**self.env, **(extra_env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, cwd=self.log_dir)
        self.children.append((name, proc))
        return proc

    def promptq(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        return self.start(name, [sys.executable, "-m", "promptq.cli", *args], extra_env)

    def sim(self, port: int, *args: str) -> str:
        proc = self.promptq("sim", "sim", "--port", str(port), *args)
        url = f"http://127.0.0.1:{port}"
        wait_for(http_ok(url + "/_sim/stats"), 30, "the simulator", proc)
        return url

    def api(self, port: int) -> str:
        proc = self.promptq("api", "api", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        wait_for(http_ok(url + "/healthz"), 60, "the API", proc)
        return url

    def worker(self, name: str = "worker", concurrency: int = 32) -> subprocess.Popen:
        proc = self.promptq(name, "worker", "-c", str(concurrency), "--hostname", f"{name}@%h")
        log = self.log_dir / f"{name}.log"
        wait_for(lambda: b"ready." in log.read_bytes(), 60, f"the {name}", proc)
        return proc

    def redis(self) -> str:
        """A private Redis on a free port, for a machine where none is running."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no Redis reachable and no redis-server on PATH: install Redis "
                               "or set PROMPTQ_REDIS_URL")
        port = free_port()
        proc = self.start("redis", [binary, "--port", str(port), "--bind", "127.0.0.1",
                                    "--save", "", "--appendonly", "no"])
        url = f"redis://127.0.0.1:{port}/0"
        wait_for(lambda: redis_reachable(url), 15, "redis-server", proc)
        return url

    def stop(self) -> None:
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in reversed(self.children):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.children.clear()


@contextmanager
def throwaway_postgres(admin_url: str, prefix: str = "promptq_tmp") -> Iterator[str]:
    """A fresh PostgreSQL database created through `admin_url`, dropped afterwards;
    yields a plain postgresql:// URL to it (tests and benchmarks)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
