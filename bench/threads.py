"""CPU time by thread: which of a worker's threads spend its CPU (Linux).

py-spy's GIL-held samples (bench/pyspy.py) say what Python code ran, but they also
count a thread that holds the GIL while the kernel has it descheduled (on 2 busy cores,
often), so they are wall time, not CPU. The kernel's own account per thread is CPU:
`/proc/<pid>/task/<tid>/schedstat`, nanoseconds on the CPU. (`stat`'s utime/stime are
clock ticks, and with 200 threads each one's rounding down loses a fifth of the total.)

Thread names come from `py-spy dump` (Python 3.11 does not name OS threads); without
py-spy every thread is "unnamed". Threads that ended during the measurement are not
counted; promptq's and Celery's threads live as long as the process.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Sequence

from bench import pyspy

_DUMP_THREAD = re.compile(r'^Thread (0x[0-9A-Fa-f]+|\d+) \([^)]*\): "(?P<name>[^"]*)"', re.MULTILINE)
# A numbered pool thread ("ThreadPoolExecutor-0_17", "Thread-3") → its pool.
_NUMBERED = re.compile(r"[-_ ]?\d+(_\d+)?$")


def cpu_s_by_thread(pid: int) -> dict[int, float]:
    """CPU seconds each live thread of `pid` has used, by thread id."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[0]) / 1e9
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
    return out


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


def per_job(before: dict[int, dict[int, float]], after: dict[int, dict[int, float]],
            names: dict[int, dict[int, str]], jobs: int,
            processes: dict[int, str] | None = None) -> list[tuple[str, float]]:
    """CPU ms per job by thread role over every process, largest first: `before` and
    `after` are {pid: cpu_s_by_thread(pid)}, `names` {pid: thread_names(pid)}. The
    threads of a process named in `processes` ({pid: "API"}) have roles of their own
    ("API: MainThread"); the others are taken for Celery workers."""
    processes = processes or {}
    by_role: dict[str, float] = defaultdict(float)
    for pid, threads in after.items():
        for tid, cpu_s in threads.items():
            name = names.get(pid, {}).get(tid)
            key = f"{processes[pid]}: {role_in_any(name)}" if pid in processes else role(name)
            by_role[key] += cpu_s - before.get(pid, {}).get(tid, 0.0)
    return sorted(((r, s / jobs * 1000) for r, s in by_role.items()), key=lambda item: -item[1])


class ThreadCPU:
    """`with ThreadCPU(pids) as t:` … `t.per_job(n)` afterwards; `processes` as in `per_job`."""

    def __init__(self, pids: Sequence[int], processes: dict[int, str] | None = None) -> None:
        self.pids = list(pids)
        self.processes = processes or {}
        self._before: dict[int, dict[int, float]] = {}
        self._after: dict[int, dict[int, float]] = {}
        self._names: dict[int, dict[int, str]] = {}

    def __enter__(self) -> ThreadCPU:
        self._before = {pid: cpu_s_by_thread(pid) for pid in self.pids}
        return self

    def __exit__(self, *exc: object) -> None:
        self._after = {pid: cpu_s_by_thread(pid) for pid in self.pids}
        self._names = {pid: thread_names(pid) for pid in self.pids}

    def per_job(self, jobs: int) -> list[tuple[str, float]]:
        return per_job(self._before, self._after, self._names, jobs, self.processes)


def describe(roles: list[tuple[str, float]]) -> str:
    total = sum(ms for _, ms in roles)
    return ", ".join(f"{name} {ms:.2f}" for name, ms in roles if ms >= 0.01) + f" (total {total:.2f})"
