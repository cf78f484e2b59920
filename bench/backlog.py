"""Backlog: a queue longer than PROMPTQ_RELAY_STALE_S is not published twice (issue 24 M).

A batch of 160 `invoice_extraction` jobs (quick: 80) to one worker of 4 threads, simulator
ttft 0.5 s: the last jobs wait ~10-20 s in the queue, several times PROMPTQ_RELAY_STALE_S=3
(relay every 0.5 s). Before issue 24 the relay published every job waiting longer than the
stale time again, each stale period; now only a message that left its queue that long ago
without its job being claimed. Figures: messages the relay published (from the worker's
log) against the jobs, and provider calls against the jobs.

    .venv/bin/python -m bench --quick --only backlog
"""

from __future__ import annotations

import re
import time
from typing import Any

from bench.report import Row
from bench.resilience_harness import log, stack
from promptq.launch import wait_for

TASK = "invoice_extraction"
TTFT_S = 0.5
CONCURRENCY = 4
STALE_S = 3
_PUBLISHED = re.compile(rb"relay published (\d+) jobs")


def _once(jobs: int) -> dict[str, Any]:
    from promptq.samples import invoice

    env = {"PROMPTQ_RELAY_STALE_S": str(STALE_S), "PROMPTQ_RELAY_INTERVAL_S": "0.5"}
    with stack("backlog", extra_env=env) as st:
        st.start_sim("--ttft", str(TTFT_S), config={"ttft_s": TTFT_S})
        st.start_api()
        # INFO: the relay's "relay published N jobs" lines are what is counted
        proc = st.procs.promptq("worker", "worker", "-c", str(CONCURRENCY), "--hostname", "worker@%h",
                                "--loglevel", "INFO")
        log_path = st.procs.log_dir / "worker.log"
        wait_for(lambda: b"ready." in log_path.read_bytes(), 60, "the worker", proc)
        st.workers["worker"] = proc
        started = time.monotonic()
        st.submit_batch(TASK, [invoice(i) for i in range(jobs)], webhook=False)
        counts = st.wait_terminal(jobs, timeout_s=600, every_s=0.5)
        elapsed = time.monotonic() - started
        time.sleep(2 * STALE_S)  # room for late re-publishes to show up
        republished = sum(int(n) for n in _PUBLISHED.findall(log_path.read_bytes()))
        waited = st.q("SELECT count(*) FROM jobs WHERE started_at > created_at + make_interval(secs => %s)",
                      STALE_S)[0][0]
        r = {"jobs": jobs, "counts": counts, "elapsed_s": elapsed, "republished": republished,
             "waited_longer_than_stale": waited, "sim_requests": st.sim_stats()["requests"]}
    log(f"backlog: {r}")
    return r


def run(quick: bool) -> list[Row]:
    jobs = 80 if quick else 160
    r = _once(jobs)
    scenario = f"backlog, {jobs} jobs to 1 worker × {CONCURRENCY} threads"
    note = (f"{'quick' if quick else 'full'}; sim ttft {TTFT_S} s, PROMPTQ_RELAY_STALE_S={STALE_S}; "
            f"{r['waited_longer_than_stale']} jobs waited longer than the stale time; drained in "
            f"{r['elapsed_s']:.0f} s; statuses {r['counts']}")
    return [
        Row(scenario, "messages re-published by the relay (duplicates)", r["republished"], "messages",
            baseline=float(jobs), target="= 0", met=r["republished"] == 0,
            note=note + "; baseline = the jobs, each published once by the API"),
        Row(scenario, "provider calls per job", r["sim_requests"] / jobs, "calls", target="= 1",
            met=r["sim_requests"] == jobs, note="a duplicate message that ran would call twice"),
    ]


if __name__ == "__main__":
    from bench.report import print_table

    print_table(run(quick=True))
