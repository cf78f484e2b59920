"""A worker process limits its glibc malloc arenas before its threads start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from support import fresh_database

from promptq.workers.malloc_arenas import limit_malloc_arenas

# 40 threads allocating at once (blocks of 2,000 bytes: malloc's, not Python's small-object
# allocator), then glibc's malloc_stats(), which prints one "Arena N:" per arena to stderr.
# argv: "limit N" calls limit_malloc_arenas(N) and prints its result; "worker-start" sends
# Celery's worker_init, as a starting worker does, with the settings' default.
THREADS_ALLOCATING = textwrap.dedent("""
    import ctypes, sys, threading
    if sys.argv[1] == "limit":
        from promptq.workers.malloc_arenas import limit_malloc_arenas
        print(limit_malloc_arenas(int(sys.argv[2])))
    else:
        from celery.signals import worker_init
        import promptq.workers.celery_app
        worker_init.send(sender=None)
    done = threading.Event()
    def work():
        kept = [bytearray(2000) for _ in range(200)]
        done.wait()
    threads = [threading.Thread(target=work) for _ in range(40)]
    for t in threads:
        t.start()
    ctypes.CDLL("libc.so.6").malloc_stats()
    done.set()
    for t in threads:
        t.join()
""")

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")


def arenas_after_threads(*how: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", THREADS_ALLOCATING, *how], capture_output=True,
                         text=True, timeout=60, check=True, env=env)
    return out.stdout.strip(), sum(line.startswith("Arena ") for line in out.stderr.splitlines())


@glibc
def test_a_limited_process_keeps_its_threads_in_that_many_arenas() -> None:
    assert arenas_after_threads("limit", "2") == ("True", 2)


@glibc
def test_without_a_limit_glibc_gives_busy_threads_arenas_of_their_own() -> None:
    applied, arenas = arenas_after_threads("limit", "0")
    assert applied == "False"
    assert arenas > 2  # glibc's default: up to 8 per core


@glibc
def test_a_starting_worker_limits_itself_to_the_settings_arenas(tmp_path) -> None:
    with fresh_database("sqlite", tmp_path) as url:  # a starting worker checks its database
        env = {**os.environ, "PROMPTQ_DATABASE_URL": url}
        assert arenas_after_threads("worker-start", env=env) == ("", 2)  # PROMPTQ_WORKER_MALLOC_ARENAS: 2


def test_zero_leaves_glibc_s_default() -> None:
    assert limit_malloc_arenas(0) is False
