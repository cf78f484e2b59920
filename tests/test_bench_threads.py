"""bench/threads.py: CPU and context switches per job by thread role, from the kernel's
per-thread account."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

# bench/ is run from the checkout (`python -m bench`), not installed: reach it from there,
# after the installed packages, so that the checkout's promptq/ folder shadows nothing.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from bench import threads  # noqa: E402

DUMP = '''Process 6009: /work/main/.venv/bin/python -m promptq.cli worker -c 200
Python v3.11.7 (/root/.pyenv/versions/3.11.7/bin/python3.11)

Thread 6009 (idle): "MainThread"
    _epoll.poll (kombu/utils/eventio.py:83)
Thread 6031 (idle): "promptq-finisher"
    get (queue.py:171)
Thread 0x7F3A (active+gil): "ThreadPoolExecutor-0_17"
    run (pipeline.py:90)
'''


def test_a_py_spy_dump_gives_each_thread_its_name_by_thread_id():
    assert threads.names_from_dump(DUMP) == {6009: "MainThread", 6031: "promptq-finisher",
                                             0x7F3A: "ThreadPoolExecutor-0_17"}


@pytest.mark.parametrize(("name", "role"), [
    ("ThreadPoolExecutor-0_17", "Celery pool threads (the jobs)"),
    ("ThreadPoolExecutor-0_0", "Celery pool threads (the jobs)"),
    ("MainThread", "main thread (Celery consumer)"),
    ("promptq-finisher", "promptq-finisher"),
    ("AnyIO worker thread", "AnyIO worker thread"),
    ("Thread-3", "Thread"),
    (None, "unnamed"),
])
def test_the_threads_of_one_pool_share_one_role(name, role):
    assert threads.role(name) == role


S = threads.Sched


def test_per_job_sums_each_roles_cpu_and_switches_over_processes_and_counts_new_threads_whole():
    before = {1: {10: S(1.0, 100), 11: S(0.5, 7)}, 2: {20: S(2.0, 50)}}
    after = {1: {10: S(1.3, 400), 11: S(0.6, 17), 12: S(0.2, 200)}, 2: {20: S(2.1, 150)}}
    names = {1: {10: "ThreadPoolExecutor-0_0", 11: "promptq-finisher", 12: "ThreadPoolExecutor-0_1"},
             2: {20: "ThreadPoolExecutor-0_0"}}
    roles = dict(threads.per_job(before, after, names, jobs=100))
    assert roles["Celery pool threads (the jobs)"] == pytest.approx((6.0, 6.0))  # (0.3+0.2+0.1) s, 600 sw
    assert roles["promptq-finisher"] == pytest.approx((1.0, 0.1))
    assert list(roles) == ["Celery pool threads (the jobs)", "promptq-finisher"]  # most CPU first


def test_the_threads_of_a_named_process_are_counted_apart_under_its_name():
    before = {1: {10: S(1.0, 0)}, 2: {20: S(1.0, 0), 21: S(0.0, 0)}}
    after = {1: {10: S(1.2, 10)}, 2: {20: S(1.1, 20), 21: S(0.3, 30)}}
    names = {1: {10: "MainThread"}, 2: {20: "MainThread", 21: "AnyIO worker thread"}}
    roles = dict(threads.per_job(before, after, names, jobs=100, processes={2: "API"}))
    assert {role: used.cpu_ms for role, used in roles.items()} == pytest.approx(
        {"main thread (Celery consumer)": 2.0, "API: MainThread": 1.0, "API: AnyIO worker thread": 3.0})
    assert roles["API: AnyIO worker thread"].switches == pytest.approx(0.3)


def test_a_description_gives_each_roles_cpu_and_switches_and_the_totals():
    roles = [("Celery pool threads (the jobs)", threads.PerJob(2.94, 58.8)),
             ("promptq-finisher", threads.PerJob(0.29, 4.0)), ("promptq-leases", threads.PerJob(0.001, 0.1))]
    assert threads.describe(roles) == ("Celery pool threads (the jobs) 2.94 ms / 59 sw, "
                                       "promptq-finisher 0.29 ms / 4 sw (total 3.23 ms / 63 sw)")


def test_the_kernel_charges_a_busy_thread_its_cpu_and_an_idle_one_almost_none():

    stop = threading.Event()
    ids: dict[str, int] = {}

    def busy() -> None:
        ids["busy"] = threading.get_native_id()
        end = time.process_time() + 10
        while not stop.is_set() and time.process_time() < end:
            sum(range(1000))

    def idle() -> None:
        ids["idle"] = threading.get_native_id()
        stop.wait()

    workers = [threading.Thread(target=busy), threading.Thread(target=idle)]
    for w in workers:
        w.start()
    while len(ids) < 2:
        time.sleep(0.01)
    before = threads.cpu_s_by_thread(os.getpid())
    time.sleep(0.3)
    after = threads.cpu_s_by_thread(os.getpid())
    stop.set()
    for w in workers:
        w.join()
    assert after[ids["busy"]] - before[ids["busy"]] > 0.1
    assert after[ids["idle"]] - before[ids["idle"]] < 0.01


def test_every_threads_context_switches_count_not_only_the_main_threads():
    """A thread that sleeps 200 times is switched out at least 200 times, and the
    process's count has them (psutil's reads the main thread's status only)."""
    ids: dict[str, int] = {}
    slept, finish = threading.Event(), threading.Event()

    def sleeper() -> None:
        ids["tid"] = threading.get_native_id()
        for _ in range(200):
            time.sleep(0.0005)
        slept.set()
        finish.wait(10)  # stays alive, so that its count can be read

    worker = threading.Thread(target=sleeper)
    total_before = threads.sched_by_thread(os.getpid())
    worker.start()
    assert slept.wait(10)
    after = threads.sched_by_thread(os.getpid())
    finish.set()
    worker.join()
    assert after[ids["tid"]].switches >= 200
    assert sum(s.switches for s in threads.spent(total_before, after).values()) >= 200


def test_what_was_spent_between_readings_counts_new_threads_whole_and_ended_ones_not_at_all():
    before = {(1, 10): S(1.0, 100), (1, 11): S(0.5, 50), (1, 12): S(0.1, 7)}   # thread 12 ends meanwhile
    after = {(1, 10): S(1.2, 130), (1, 11): S(0.5, 50), (1, 13): S(0.3, 20)}   # thread 13 starts meanwhile
    used = threads.spent(before, after)
    assert sum(s.switches for s in used.values()) == 30 + 0 + 20
    assert list(used) == [(1, 10), (1, 11), (1, 13)]
    assert used[(1, 10)] == pytest.approx((0.2, 30)) and used[(1, 13)] == pytest.approx((0.3, 20))
