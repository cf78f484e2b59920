"""CPU time and context switches by thread: which of a worker's threads spend its CPU,
and how often each blocks or is preempted (Linux).

py-spy's GIL-held samples (bench/pyspy.py) say what Python code ran, but they also
count a thread that holds the GIL while the kernel has it descheduled (on 2 busy cores,
often), so they are wall time, not CPU. The kernel's own account per thread is CPU:
`/proc/<pid>/task/<tid>/schedstat`, nanoseconds on the CPU. (`stat`'s utime/stime are
clock ticks, and with 200 threads each one's rounding down loses a fifth of the total.)

Context switches come from each thread's `status` (voluntary + involuntary). A
process's own `status`, which psutil reads, counts its main thread only: a worker's 200
pool threads' switches are not in it. With the GIL, a thread that makes a blocking call
(a socket read, a lock wait) gives the GIL up and must take it back, and on two busy
cores that is a switch each way, so switches per job count those hand-offs.

Thread names come from `py-spy dump` (Python 3.11 does not name OS threads); without
py-spy every thread is "unnamed". Threads that ended during the measurement are not
counted; promptq's and Celery's threads live as long as the process.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import NamedTuple, TypeVar

from bench import pyspy

_DUMP_THREAD = re.compile(r'^Thread (0x[0-9A-Fa-f]+|\d+) \([^)]*\): "(?P<name>[^"]*)"', re.MULTILINE)
# A numbered pool thread ("ThreadPoolExecutor-0_17", "Thread-3") → its pool.
_NUMBERED = re.compile(r"[-_ ]?\d+(_\d+)?$")


class Sched(NamedTuple):
    """What one thread has used so far: CPU seconds, and context switches."""

    cpu_s: float
    switches: int


_SWITCHES = re.compile(rb"^(?:non)?voluntary_ctxt_switches:\s+(\d+)", re.MULTILINE)


def sched_by_thread(pid: int) -> dict[int, Sched]:
    """CPU seconds and context switches of each live thread of `pid`, by thread id."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                cpu_ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/status", "rb") as f:
                switches = sum(int(n) for n in _SWITCHES.findall(f.read()))
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        out[int(tid)] = Sched(cpu_ns / 1e9, switches)
    return out


def cpu_s_by_thread(pid: int) -> dict[int, float]:
    """CPU seconds each live thread of `pid` has used, by thread id."""
    return {tid: s.cpu_s for tid, s in sched_by_thread(pid).items()}


K = TypeVar("K")
_NOTHING = Sched(0.0, 0)


def spent(before: Mapping[K, Sched], after: Mapping[K, Sched]) -> dict[K, Sched]:
    """What each thread used between two readings: a thread that started meanwhile
    counts whole, one that ended is not counted (its account is gone with it)."""
    used = {}
    for key, now in after.items():
        was = before.get(key, _NOTHING)
        used[key] = Sched(now.cpu_s - was.cpu_s, now.switches - was.switches)
    return used


def names_from_dump(text: str) -> dict[int, str]:
    """Thread id → Python thread name, from `py-spy dump` output."""
    return {int(m.group(1), 0): m.group("name") for m in _DUMP_THREAD.finditer(text)}


def thread_names(pid: int) -> dict[int, str]:
    exe = pyspy.binary()
    if exe is None:
        return {}
    done = subprocess.run([exe, "dump", "-p", str(pid)], check=False, capture_output=True, text=True, timeout=60)
    return names_from_dump(done.stdout)


_LABELS = {"ThreadPoolExecutor": "Celery pool threads (the jobs)", "MainThread": "main thread (Celery consumer)"}


def role_in_any(name: str | None) -> str:
    """A thread's name without its number: all the threads of a pool share one role."""
    if not name:
        return "unnamed"
    return _NUMBERED.sub("", name) or name


def role(name: str | None) -> str:
    """A Celery worker's thread's role: as `role_in_any`, with Celery's threads told apart."""
    bare = role_in_any(name)
    return _LABELS.get(bare, bare)


class PerJob(NamedTuple):
    """One thread role's use per job: CPU milliseconds, and context switches."""

    cpu_ms: float
    switches: float


def per_job(before: dict[int, dict[int, Sched]], after: dict[int, dict[int, Sched]],
            names: dict[int, dict[int, str]], jobs: int,
            processes: dict[int, str] | None = None) -> list[tuple[str, PerJob]]:
    """CPU ms and context switches per job by thread role over every process, largest
    CPU first: `before` and `after` are {pid: sched_by_thread(pid)}, `names` {pid:
    thread_names(pid)}. The threads of a process named in `processes` ({pid: "API"})
    have roles of their own ("API: MainThread"); the others are taken for Celery workers.
    Threads are counted as `spent` counts them."""
    processes = processes or {}
    by_role: dict[str, Sched] = defaultdict(lambda: _NOTHING)
    for pid, threads in after.items():
        for tid, used in spent(before.get(pid, {}), threads).items():
            name = names.get(pid, {}).get(tid)
            key = f"{processes[pid]}: {role_in_any(name)}" if pid in processes else role(name)
            so_far = by_role[key]
            by_role[key] = Sched(so_far.cpu_s + used.cpu_s, so_far.switches + used.switches)
    per = [(r, PerJob(s.cpu_s / jobs * 1000, s.switches / jobs)) for r, s in by_role.items()]
    return sorted(per, key=lambda item: -item[1].cpu_ms)


class ThreadUse:
    """`with ThreadUse(pids) as t:` … `t.per_job(n)` afterwards: CPU and context switches
    per job by thread role; `processes` as in `per_job`."""

    def __init__(self, pids: Sequence[int], processes: dict[int, str] | None = None) -> None:
        self.pids = list(pids)
        self.processes = processes or {}
        self._before: dict[int, dict[int, Sched]] = {}
        self._after: dict[int, dict[int, Sched]] = {}
        self._names: dict[int, dict[int, str]] = {}

    def __enter__(self) -> ThreadUse:
        self._before = {pid: sched_by_thread(pid) for pid in self.pids}
        return self

    def __exit__(self, *exc: object) -> None:
        self._after = {pid: sched_by_thread(pid) for pid in self.pids}
        self._names = {pid: thread_names(pid) for pid in self.pids}

    def per_job(self, jobs: int) -> list[tuple[str, PerJob]]:
        return per_job(self._before, self._after, self._names, jobs, self.processes)


def describe(roles: list[tuple[str, PerJob]]) -> str:
    """`name cpu_ms ms / switches sw, …`, the roles that used ≥ 0.01 ms per job, and totals."""
    shown = ", ".join(f"{name} {u.cpu_ms:.2f} ms / {u.switches:.0f} sw" for name, u in roles if u.cpu_ms >= 0.01)
    return (f"{shown} (total {sum(u.cpu_ms for _, u in roles):.2f} ms / "
            f"{sum(u.switches for _, u in roles):.0f} sw)")
