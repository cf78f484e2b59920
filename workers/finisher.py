"""Job finishes from all of a process's threads, committed together by one thread.

Making a job terminal is one transaction (terminal state, webhook outbox row:
store/jobs.py `finish_many`; the calls' ledger rows are committed before it, apart,
by workers/ledger.py). Paid per job it costs five round trips and ~1 ms
of CPU; a group of ten costs under half that per job. So a job's thread hands its
finish to this thread and waits for the commit: nothing is acknowledged, counted or
sent before its transaction committed, exactly as when it committed alone. The
thread commits as soon as a finish arrives; what arrives during a commit forms the
next group (group commit, workers/group_commit.py): at rest a finish waits for
nothing, under load many share one transaction. (Lingering up to 20 ms for the
finishes of the process's other running jobs, as PostgreSQL's commit_delay does, made
no difference to CPU per job within the runs' noise and took provider → terminal at
saturation from 28 to 52 ms, p50 of full benchmark runs.)

After the commit the thread also counts the group's jobs down on their batches, in
one round trip (promptq/batch_progress.py), and completes a batch whose countdown
reached zero, its `batch.completed` webhook joining the deliveries of the job that
finished it. A countdown or completion that fails is logged and left to the relay,
which completes batches with no open job; the jobs' own results stand.

A group that fails is committed again one finish at a time (GroupCommit's rule), so
that one finish the store refuses fails only its own job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Engine

from promptq.store import batches, jobs
from promptq.store.deliveries import NewDelivery
from promptq.workers.group_commit import GroupCommit

log = logging.getLogger(__name__)
MAX_GROUP = 100  # finishes per transaction


def _all_may_be_done(batch_ids: Sequence[str]) -> set[str]:
    return set(batch_ids)


class Finisher:
    """`count_down(batch_ids)`: one more job of each finished (an id listed twice: two
    jobs); returns the batches that may be done (default: all of them, so the store is
    asked after every batch job)."""

    def __init__(self, engine: Engine, *, count_down: Callable[[Sequence[str]], set[str]] = _all_may_be_done,
                 max_group: int = MAX_GROUP) -> None:
        self._engine = engine
        self._count_down = count_down
        self._group = GroupCommit(self._commit, name="promptq-finisher", max_group=max_group)

    @property
    def groups(self) -> int:
        """Transactions committed or attempted, for tests and curiosity."""
        return self._group.groups

    def finish(self, finish: jobs.Finish) -> list[NewDelivery] | None:
        """Commit `finish` (see store/jobs.py `finish_many`) and return its deliveries;
        None: the claim was lost. Raises what the store raised for it."""
        return self._group(finish)

    def _commit(self, finishes: Sequence[jobs.Finish]) -> list[list[NewDelivery] | None]:
        results = jobs.finish_many(self._engine, finishes)
        self._complete_batches(finishes, results)
        return results

    def _complete_batches(self, finishes: Sequence[jobs.Finish], results: list[Any]) -> None:
        """Count the group's finished batch jobs down; complete the batches that may be
        done, adding their webhooks to the results of the jobs that finished them."""
        finished = [(i, f.claim.job.batch_id) for i, (f, made) in enumerate(zip(finishes, results))
                    if made is not None and f.claim.job.batch_id]
        if not finished:
            return
        batch_ids = [batch_id for _, batch_id in finished]
        try:
            maybe_done = self._count_down(batch_ids)
        except Exception:  # Redis away: ask the store, as without a countdown
            log.warning("could not count down %d batch jobs; asking the store", len(batch_ids), exc_info=True)
            maybe_done = set(batch_ids)
        for batch_id in maybe_done:
            last = max(i for i, b in finished if b == batch_id)
            try:
                results[last] = results[last] + batches.complete_if_done(self._engine, batch_id)
            except Exception:  # the relay completes batches with no open job
                log.warning("could not complete batch %s; left to the relay", batch_id, exc_info=True)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Commit what is queued, then stop the thread; later finishes commit alone."""
        self._group.stop(timeout_s)
