"""Where a process spends its CPU: py-spy samples of running processes, summarised.

Optional: py-spy is not a promptq dependency (`pip install py-spy` into the venv to get
profiles in the notes of missed targets). Samples are taken only while a thread holds
the GIL (`--gil`), so shares are shares of the Python CPU time of the processes.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

# Innermost library in a stack → the part of the work it stands for.
CATEGORIES = (
    ("sqlalchemy/", "SQLAlchemy"), ("sqlmodel/", "SQLAlchemy"), ("psycopg", "psycopg"),
    ("anthropic/", "Anthropic SDK"), ("httpx2/", "httpx2"), ("httpcore", "httpx2"), ("h11/", "httpx2"),
    ("pydantic", "pydantic"), ("jsonschema", "jsonschema"), ("referencing/", "jsonschema"),
    ("redis/", "redis-py"), ("kombu/", "kombu"), ("celery/", "Celery"), ("billiard/", "Celery"),
    ("requests/", "requests/urllib3"), ("urllib3/", "requests/urllib3"),
    ("standardwebhooks/", "webhook signing"),
    ("logging/", "logging"), ("fastapi/", "FastAPI/Starlette"), ("starlette/", "FastAPI/Starlette"),
    ("uvicorn/", "uvicorn"), ("json/", "json"), ("ssl.py", "ssl"), ("socket.py", "socket"),
    ("threading.py", "threading"), ("queue.py", "threading"),
    ("promptq/", "promptq code"),
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*)\)$")


def binary() -> str | None:
    found = shutil.which("py-spy")
    local = Path(sys.executable).parent / "py-spy"
    return found or (str(local) if local.exists() else None)


class Recording:
    """`with Recording(pids, out_dir, "name") as rec:` … `rec.stacks` afterwards (empty without py-spy)."""

    def __init__(self, pids: Sequence[int], out_dir: Path, name: str, rate: int = 100) -> None:
        self.pids, self.out_dir, self.name, self.rate = list(pids), out_dir, name, rate
        self.files: list[Path] = []
        self._procs: list[subprocess.Popen] = []
        self.stacks: Counter[tuple[str, ...]] = Counter()

    def __enter__(self) -> Recording:
        exe = binary()
        if exe is None:
            return self
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for pid in self.pids:
            out = self.out_dir / f"{self.name}-{pid}.txt"
            self.files.append(out)
            self._procs.append(subprocess.Popen(
                [exe, "record", "-p", str(pid), "-f", "raw", "-o", str(out), "--gil", "--nonblocking",
                 "--nolineno", "--full-filenames", "-r", str(self.rate)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self._procs:
            proc.send_signal(signal.SIGINT)
        for proc in self._procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for path in self.files:
            if path.exists():
                self.stacks.update(load(path))


_ROOT = str(Path(__file__).resolve().parents[1]) + "/"


def _short(frame: str) -> str:
    """`func (/abs/path.py)` → `func (package/path.py)`; promptq's own files as `promptq/…`."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(_ROOT):
        path = "promptq/" + path[len(_ROOT):].removeprefix("promptq/")
    elif "/lib/python3" in path:
        path = path.split("/lib/", 1)[1].split("/", 1)[-1]
    return f"{m.group('func')} ({path})"


def load(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(_short(f) for f in stack.split(";"))] += int(count)
    return stacks


def _category(frame: str) -> str | None:
    m = _FRAME.match(frame)
    path = m.group("file") if m else frame
    for needle, name in CATEGORIES:
        if needle in path:
            return name
    return None


def _promptq_function(frame: str) -> str | None:
    m = _FRAME.match(frame)
    if (not m or not m.group("file").startswith("promptq/") or "promptq/bench/" in m.group("file")
            or m.group("file") == "promptq/cli.py"):  # the entry point: everything runs under it
        return None
    module = m.group("file").removesuffix(".py").replace("/", ".")
    return f"{module}.{m.group('func')}"


NO_PROMPTQ_FRAME = "(Celery/kombu machinery, no promptq frame)"


def summarise(stacks: Counter[tuple[str, ...]], top: int = 8) -> dict:
    """Shares (0..1) of samples: `by_library` (innermost known library of each sample) and
    `functions` (innermost promptq function of each sample: what its library time was spent for)."""
    total = sum(stacks.values())
    libs: Counter[str] = Counter()
    funcs: Counter[str] = Counter()
    for stack, n in stacks.items():
        lib = next((c for c in (_category(f) for f in reversed(stack)) if c), "other")
        libs[lib] += n
        funcs[next((f for f in (_promptq_function(fr) for fr in reversed(stack)) if f), NO_PROMPTQ_FRAME)] += n
    return {
        "samples": total,
        "by_library": [(k, v / total) for k, v in libs.most_common(top)] if total else [],
        "functions": [(k, v / total) for k, v in funcs.most_common(top * 2)] if total else [],
    }


# What a sample's time was spent for: the provider call wherever an SDK frame is on the
# stack, else the part of promptq its innermost promptq frame belongs to.
SDK_FRAMES = ("(anthropic/", "(openai/")
ROLES = (
    ("promptq/store/", "store statements"), ("promptq/workers/finisher", "store statements"),
    ("promptq/workers/leases", "store statements"), ("promptq/workers/relay", "store statements"),
    ("promptq/workers/webhooks/", "webhook POSTs"), ("promptq/workers/ratelimit/", "rate limiter"),
    ("promptq/workers/event_writer", "live events"), ("promptq/dispatch", "publishing"),
    ("promptq/api/", "API"), ("promptq/bench/", "the baseline's own code"),
    # kombu and Celery taking the messages an extra pop brought run under promptq's transport
    ("promptq/broker", "Celery/kombu message intake (under promptq/broker.py)"),
)
NO_PROMPTQ = "Celery/kombu (no promptq frame)"


def _role(stack: tuple[str, ...]) -> str:
    if any(needle in frame for frame in stack for needle in SDK_FRAMES):
        return "SDK call"
    for frame in reversed(stack):
        m = _FRAME.match(frame)
        if m and m.group("file").startswith("promptq/") and m.group("file") != "promptq/cli.py":
            return next((name for prefix, name in ROLES if m.group("file").startswith(prefix)),
                        "job pipeline (validation, ledger line, counters)")
    return NO_PROMPTQ


def per_job_by_role(stacks: Counter[tuple[str, ...]], rate_hz: int, jobs: int) -> list[tuple[str, float]]:
    """GIL-held CPU milliseconds per job by what they were spent for, largest first
    (samples / rate / jobs: approximate, py-spy drops samples it cannot take in time)."""
    roles: Counter[str] = Counter()
    for stack, n in stacks.items():
        roles[_role(stack)] += n
    return [(name, n / rate_hz / jobs * 1000) for name, n in roles.most_common()]


def describe_roles(roles: list[tuple[str, float]]) -> str:
    total = sum(ms for _, ms in roles)
    return ", ".join(f"{name} {ms:.2f}" for name, ms in roles if ms >= 0.05) + f" (total {total:.1f})"


def describe(summary: dict, what: str) -> str:
    """One line for a note: the profile's top libraries and promptq functions, as shares of
    the GIL-held samples."""
    if not summary.get("samples"):
        return "no profile (py-spy not installed: pip install py-spy into the venv)"
    libs = ", ".join(f"{k} {v:.0%}" for k, v in summary["by_library"][:6])
    funcs = ", ".join(f"{_short_name(k)} {v:.0%}" for k, v in summary["functions"][:8])
    return (f"py-spy, {what}, {summary['samples']} GIL-held samples: by library {libs}; "
            f"by innermost promptq function {funcs}")


def _short_name(name: str) -> str:
    if name == NO_PROMPTQ_FRAME:
        return "no promptq frame (Celery/kombu)"
    parts = name.split(".")
    return ".".join(parts[-2:])
