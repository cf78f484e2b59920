"""A/B: two promptq stacks from this tree, differing only in environment variables,
measured in alternating runs — for changes too small for `make bench` to tell apart.

    python -m bench.ab --b PROMPTQ_WEBHOOK_INLINE_TIMEOUT_S=0            # a setting
    python -m bench.ab --b MY_EXPERIMENT=1 --latency 1 --runs 7          # a code path behind a variable

Both stacks run side by side as in the throughput benchmark (API + 2 workers × 200
threads, PostgreSQL, the simulator, a webhook receiver), each on its own database, and
take turns (A B, B A, A B, …) so that drift in the machine's load hits both alike. Each
run is one batch of `--jobs` documents; per run: jobs/s and CPU ms per job of API +
workers (as bench/throughput.py measures them), and the median number of jobs running
at once (sampled every 0.2 s). The summary gives the medians and
B / A. On the machine this was written on, an A/A comparison (the same settings twice,
five runs of 1,500 jobs at 0 s) came out 1 % apart while single runs spread ±5 %:
differences of a few percent need five or more runs.
"""

from __future__ import annotations

import argparse
import statistics

from bench import harness as h
from bench.throughput import promptq_run


def _assignments(values: list[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name:
            raise SystemExit(f"expected NAME=VALUE, got {value!r}")
        pairs[name] = setting
    return pairs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", action="append", default=[], metavar="NAME=VALUE", help="variable of stack A")
    parser.add_argument("--b", action="append", default=[], metavar="NAME=VALUE", help="variable of stack B")
    parser.add_argument("--latency", type=float, default=0.0, help="simulator latency per call, seconds")
    parser.add_argument("--jobs", type=int, default=1500, help="documents per run")
    parser.add_argument("--runs", type=int, default=5, help="runs per stack")
    args = parser.parse_args(argv)
    envs = {"A": _assignments(args.a), "B": _assignments(args.b)}

    sim = h.Sim("ab-sim")
    hooks = h.WebhookReceiver()
    stacks: dict[str, h.Promptq] = {}
    try:
        for name, env in envs.items():
            stacks[name] = h.Promptq(sim.url, workers=2, concurrency=200, name=f"ab-{name}", extra_env=env)
        for name, pq in stacks.items():
            promptq_run(pq, sim, hooks, 200, f"warm{name}", args.latency)
        results: dict[str, list[dict]] = {name: [] for name in stacks}
        for r in range(args.runs):
            for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
                res = promptq_run(stacks[name], sim, hooks, args.jobs, f"{name}{r}", args.latency)
                results[name].append(res)
                h.log(f"run {r + 1}/{args.runs} {name}: {res['jobs_per_s']:.1f} jobs/s, "
                      f"{res['cpu_ms']:.2f} ms CPU/job, median {res['running']:.0f} jobs running")
    finally:
        hooks.stop()
        for stack in (*stacks.values(), sim):
            stack.stop()
    medians = {name: tuple(statistics.median(x[key] for x in xs) for key in ("jobs_per_s", "cpu_ms", "running"))
               for name, xs in results.items()}
    for name, (jps, cpu, running) in medians.items():
        print(f"{name} {envs[name] or '(defaults)'}: median {jps:.1f} jobs/s, {cpu:.2f} ms CPU/job, "
              f"{running:.0f} jobs running at once (the median of each run's samples)")
    (a_jps, a_cpu, _), (b_jps, b_cpu, _) = medians["A"], medians["B"]
    print(f"B / A: jobs/s {b_jps / a_jps:.3f}, CPU per job {b_cpu / a_cpu:.3f} "
          f"({args.runs} runs of {args.jobs} jobs each, {args.latency:g} s latency)")


if __name__ == "__main__":
    main()
