"""A worker process collects garbage less often and lets threads hold the GIL longer
than CPython's defaults, and still frees cyclic garbage on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from support import fresh_database

# argv: "tune GC SWITCH" calls tune_interpreter(GC, SWITCH); "worker-start" sends Celery's
# worker_init, as a starting worker does, with the settings' defaults. Then: make 200,000
# reference cycles, never calling gc.collect(), and print the thresholds, the switch
# interval and how many of the cycles the collector freed on its own.
TUNED_PROCESS = textwrap.dedent("""
    import gc, json, sys, weakref
    if sys.argv[1] == "tune":
        from promptq.workers.interpreter import tune_interpreter
        tune_interpreter(int(sys.argv[2]), float(sys.argv[3]))
    else:
        from celery.signals import worker_init
        import promptq.workers.celery_app
        worker_init.send(sender=None)
    freed = [0]
    class Node:
        pass
    def counted(_):
        freed[0] += 1
    refs = []
    for _ in range(200_000):
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs.append(weakref.ref(a, counted))
        del a, b
    print(json.dumps({"threshold": gc.get_threshold(), "switch_s": sys.getswitchinterval(),
                      "freed": freed[0], "enabled": gc.isenabled()}))
""")


def tuned(*how: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", TUNED_PROCESS, *how], capture_output=True, text=True,
                         timeout=60, check=True, env=env)
    return json.loads(out.stdout)


def test_a_starting_worker_takes_the_settings_gc_threshold_and_switch_interval(tmp_path) -> None:
    with fresh_database("sqlite", tmp_path) as url:  # a starting worker checks its database
        seen = tuned("worker-start", env={**os.environ, "PROMPTQ_DATABASE_URL": url})
    assert seen["threshold"] == [50_000, 10, 10]  # PROMPTQ_WORKER_GC_THRESHOLD; CPython's 10, 10 kept
    assert seen["switch_s"] == pytest.approx(0.05)  # PROMPTQ_WORKER_SWITCH_INTERVAL_S


def test_a_tuned_process_still_frees_reference_cycles_without_being_asked() -> None:
    seen = tuned("tune", "50000", "0.05")
    assert seen["enabled"]
    # 200,000 cycles of 2 objects: at least 150,000 freed by collections every 50,000
    # allocations (the last few thousand may still wait for the next one)
    assert seen["freed"] >= 150_000


def test_a_gc_threshold_of_zero_leaves_cpython_s_and_keeps_collecting() -> None:
    seen = tuned("tune", "0", "0.05")
    assert seen["threshold"] == [700, 10, 10]
    assert seen["enabled"] and seen["freed"] >= 150_000  # gc.set_threshold(0) would stop collection


def test_a_switch_interval_of_zero_leaves_cpython_s() -> None:
    assert tuned("tune", "50000", "0")["switch_s"] == pytest.approx(0.005)
