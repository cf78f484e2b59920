"""Job claims from all of a process's threads, made together by one thread.

Every job starts with a claim (queued → running, with a lease and a token of its own:
store/jobs.py `claim`), one UPDATE … RETURNING in its own transaction. Made by each
job's thread, that is a database connection taken from the pool by up to 200 threads
at once and a statement's fixed CPU paid per job. Messages reach a busy worker in
bursts (a read takes up to half of what waits), so claims arrive together: one thread
makes them in one statement per group (`claim_many`, workers/group_commit.py), and
each job's thread waits for its own claim, as it waited for its own statement before.
At rest a claim is made at once, alone, as before
(docs/decisions/0001-group-commit-claims-and-finishes.md).
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.engine import Engine

from promptq.store import jobs
from promptq.workers.group_commit import GroupCommit

MAX_GROUP = 100  # claims per statement

Claimer = GroupCommit[str, "jobs.Claim | None"]


def new_claimer(engine: Engine, lease_s: float, *, max_group: int = MAX_GROUP) -> Claimer:
    """A claimer: `claimer(job_id)` is the job, now running and ours with a lease of
    `lease_s` seconds; None: someone else's, finished, or not due. Raises what the store
    raised for it. `claimer.stop()` at shutdown: later claims are made alone."""
    return GroupCommit(partial(jobs.claim_many, engine, lease_s=lease_s), name="promptq-claimer",
                       max_group=max_group)
