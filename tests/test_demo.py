"""`promptq demo` (the quick start's `make demo`): the whole system against the simulator,
on SQLite and the local Redis, ends well and takes its Redis keys with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from support import REDIS_URL


def _demo_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter("promptq-demo-*", count=1000))


def test_the_demo_runs_every_job_to_the_end_and_leaves_no_keys_in_redis(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTQ_")}
    env["PROMPTQ_REDIS_URL"] = REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    before = _demo_keys(client)
    done = subprocess.run([sys.executable, "-m", "promptq.cli", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    # 0: every job terminal, every webhook received and verified (promptq/demo.py _report)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = " ".join(done.stdout.split())  # rich wraps lines
    assert "60 jobs in" in out and "needs_review" in out, "the refused document is set aside for a person"
    assert ", 0 rejected." in out
    assert (tmp_path / ".demo" / "promptq.db").exists(), "SQLite, in the directory it was run from"
    assert _demo_keys(client) - before == set(), "the run's queues, events and counters are deleted"
