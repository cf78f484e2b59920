"""Crash: a worker SIGKILLed mid-run loses nothing and finishes nothing twice
(issue 3, figure 3).

200 `invoice_extraction` jobs (streamed, Claude Sonnet; quick: 60) with webhooks,
simulator ttft 1 s so that jobs are in flight, 2 worker processes × 20 threads. Once a
third of the jobs are terminal, the first worker's process tree is SIGKILLed (with
the threads pool: the Celery main process, nothing else) and a replacement worker is
started. PROMPTQ_JOB_LEASE_S=10 (default 30) so that the relay re-queues the dead
worker's jobs ~10 s after their last lease renewal.

Figures (median or worst over 3 runs in full mode, 1 quick): jobs terminal, jobs
without a terminal webhook (lost), jobs with > 1 distinct terminal type or any
duplicate webhook delivery, and the recovery time: from the SIGKILL until the last job
that was running at that moment is terminal.

    .venv/bin/python -c "from bench import crash; print(crash.run(quick=True))"
"""

from __future__ import annotations

import time
from typing import Any

from bench.report import Row, median
from bench.resilience_harness import STATUS, audit_webhooks, log, stack

TASK = "invoice_extraction"
TTFT_S = 1.0
WORKERS = 2
CONCURRENCY = 20
LEASE_S = 10


def _once(jobs: int) -> dict[str, Any]:
    from promptq.samples import invoice

    with stack("crash", extra_env={"PROMPTQ_JOB_LEASE_S": str(LEASE_S)}) as st:
        st.start_sim("--ttft", str(TTFT_S), config={"ttft_s": TTFT_S})
        st.start_api()
        for i in range(WORKERS):
            st.start_worker(f"worker{i + 1}", CONCURRENCY)
        started = time.monotonic()
        st.submit_batch(TASK, [invoice(i) for i in range(jobs)])
        while True:
            counts = st.status_counts()
            done = sum(n for s, n in counts.items() if s not in ("queued", "running"))
            if done >= jobs // 3:
                break
            if time.monotonic() - started > 300:
                raise RuntimeError(f"crash: no progress before the kill: {counts}")
            time.sleep(0.1)
        in_flight = [j for (j,) in st.q(f"SELECT id FROM jobs WHERE {STATUS} = 'running'")]
        requests_before = st.sim_stats()["requests"]
        killed_at_wall = time.time()
        killed_at = time.monotonic()
        pids = st.kill_worker("worker1")
        log(f"crash: SIGKILLed worker1 {pids} at {done}/{jobs} terminal, {len(in_flight)} running "
            f"({counts})")
        st.start_worker("replacement", CONCURRENCY)
        replacement_ready_s = time.monotonic() - killed_at
        counts = st.wait_terminal(jobs, timeout_s=300, every_s=0.5)
        all_terminal_s = time.monotonic() - killed_at
        statuses = st.job_statuses()
        # A webhook message lost with the killed worker is re-published by the relay after
        # PROMPTQ_RELAY_STALE_S (60 s): wait until 80 s after the kill at most.
        st.wait_webhooks(list(statuses), timeout_s=max(5.0, 80.0 - (time.monotonic() - killed_at)),
                         settle_s=3.0)
        deliveries = st.receiver.deliveries
        hooks = audit_webhooks(deliveries, statuses)
        last_hook_s = max((d.received_at for d in deliveries if d.event_type.startswith("job.")),
                          default=float("nan")) - killed_at_wall
        no_outbox_row = st.q(
            "SELECT count(*) FROM jobs j WHERE j.webhook_url IS NOT NULL AND lower(j.status::text) <> "
            "'queued' AND lower(j.status::text) <> 'running' AND NOT EXISTS (SELECT 1 FROM "
            "webhook_deliveries d WHERE d.event_type LIKE 'job.%%' AND d.payload LIKE '%%' || j.id || '%%')")[0][0]
        paid_twice = st.q("SELECT count(*) FROM (SELECT job_id FROM ledger WHERE outcome = 'ok' "
                          "GROUP BY job_id HAVING count(*) > 1) t")[0][0]
        last = st.q("SELECT extract(epoch FROM max(finished_at)) FROM jobs WHERE id = ANY(%s)", in_flight)[0][0]
        recovery_s = float(last) - killed_at_wall if last is not None else float("nan")
        stats = st.sim_stats()
        ledger = st.ledger_count()
        rerun = st.q("SELECT count(*) FROM jobs WHERE id = ANY(%s) AND finished_at > "
                     "to_timestamp(%s) + make_interval(secs => %s)", in_flight, killed_at_wall, 3 * TTFT_S)[0][0]
        relay_lines = st.log_grep("relay published")
        late_claims = st.q("SELECT count(*) FROM jobs WHERE started_at > to_timestamp(%s) + "
                           "make_interval(secs => 30)", killed_at_wall)[0][0]
    r = {
        "jobs": jobs, "counts": counts, "terminal": sum(n for s, n in counts.items()
                                                       if s not in ("queued", "running")),
        "succeeded": counts.get("succeeded", 0), "in_flight": len(in_flight), "rerun": rerun,
        "recovery_s": recovery_s, "all_terminal_s": all_terminal_s,
        "replacement_ready_s": replacement_ready_s, "hooks": hooks, "cut_short": st.receiver.cut_short,
        "sim_requests": stats["requests"], "requests_before_kill": requests_before, "ledger": ledger,
        "relay_lines": relay_lines, "last_hook_s": last_hook_s, "no_outbox_row": no_outbox_row,
        "paid_twice": paid_twice, "late_claims": late_claims,
    }
    log(f"crash: {r}")
    return r


def run(quick: bool) -> list[Row]:
    jobs = 60 if quick else 200
    repeats = 1 if quick else 3
    runs = [_once(jobs) for _ in range(repeats)]
    scenario = f"crash, {jobs} jobs, 1 of {WORKERS} workers SIGKILLed"
    n = len(runs)
    base = (f"{'quick' if quick else 'full'}; sim ttft {TTFT_S} s, {WORKERS} workers × {CONCURRENCY} "
            f"threads, killed at 1/3 terminal, replacement started at once; PROMPTQ_JOB_LEASE_S={LEASE_S} "
            f"(default 30)")
    worst_terminal = min(r["terminal"] for r in runs)
    lost = max(r["jobs"] - r["terminal"] + r["hooks"].jobs_missing for r in runs)
    conflicting = max(r["hooks"].jobs_conflicting for r in runs)
    duplicated = max(r["hooks"].jobs_duplicated for r in runs)
    per_run = "; ".join(
        f"run {i + 1}: {r['in_flight']} running at kill, {r['rerun']} of them finished > 3 s after it, "
        f"provider calls not in the ledger {r['sim_requests'] - r['ledger']}, "
        f"recovery {r['recovery_s']:.1f} s, all terminal {r['all_terminal_s']:.1f} s, "
        f"replacement ready {r['replacement_ready_s']:.1f} s"
        for i, r in enumerate(runs))
    missing_hooks = max(r["hooks"].jobs_missing for r in runs)
    return [
        Row(scenario, "jobs terminal (worst run)", worst_terminal, f"of {jobs}", target=f"= {jobs}",
            met=worst_terminal == jobs, runs=n, note=base),
        Row(scenario, "jobs lost: not terminal, or no terminal webhook (worst run)", lost, "jobs",
            target="= 0", met=lost == 0, runs=n,
            note=("per run (not terminal / no webhook received / terminal with webhook_url but no "
                  "webhook_deliveries row): " + "; ".join(
                      f"{r['jobs'] - r['terminal']} / {r['hooks'].jobs_missing} / {r['no_outbox_row']}"
                      for r in runs))),
        Row(scenario, "jobs with > 1 distinct terminal outcome (worst run)", conflicting, "jobs",
            target="= 0", met=conflicting == 0, runs=n,
            note="from the webhook receiver, grouped by job id; statuses: "
                 + "; ".join(str(r["counts"]) for r in runs)),
        Row(scenario, "jobs with duplicate webhook deliveries (worst run)", duplicated, "jobs",
            target="= 0", met=duplicated == 0, runs=n,
            note="; ".join(f"run {i + 1}: {r['hooks'].deliveries} job webhooks for "
                           f"{r['hooks'].jobs_notified} jobs, {r['hooks'].jobs_two_events} jobs with 2+ "
                           f"webhook-ids, {r['hooks'].unverified} bad signatures, {r['cut_short']} POSTs "
                           f"cut short by the kill, "
                           f"{r['paid_twice']} jobs with 2 successful provider calls"
                           for i, r in enumerate(runs))),
        Row(scenario, "recovery: SIGKILL → every job terminal", median([r["all_terminal_s"] for r in runs]),
            "s", runs=n, note=f"{per_run}"),
        Row(scenario, "recovery: SIGKILL → last job running at the kill terminal",
            median([r["recovery_s"] for r in runs]), "s", baseline=float(LEASE_S), runs=n,
            note="baseline = PROMPTQ_JOB_LEASE_S, the floor of lease-based recovery"),
        Row(scenario, "SIGKILL → last job webhook received", median([r["last_hook_s"] for r in runs]),
            "s", runs=n, note=(f"{missing_hooks} jobs (worst run) never got one; jobs claimed > 30 s after "
                               "the kill (message lost with the worker, re-published by the relay after "
                               "PROMPTQ_RELAY_STALE_S=60 s): " + ", ".join(str(r["late_claims"]) for r in runs))),
    ]


if __name__ == "__main__":
    import sys

    from bench.report import print_table

    print_table(run(quick="--full" not in sys.argv))
