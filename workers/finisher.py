"""Job finishes from all of a process's threads, committed together by one thread.

Making a job terminal is one transaction (ledger row, terminal state, webhook outbox
row: store/jobs.py `finish_many`). Paid per job it costs five round trips and ~1 ms
of CPU; a group of ten costs under half that per job. So a job's thread hands its
finish to this thread and waits for the commit: nothing is acknowledged, counted or
sent before its transaction committed, exactly as when it committed alone. The
thread commits as soon as a finish arrives; what arrives during a commit forms the
next group (group commit): at rest a finish waits for nothing, under load many
share one transaction. (Lingering up to 20 ms for the finishes of the process's
other running jobs, as PostgreSQL's commit_delay does, made no difference to CPU
per job within the runs' noise and took provider → terminal at saturation from
28 to 52 ms, p50 of full benchmark runs.)

After the commit the thread also counts the group's jobs down on their batches, in
one round trip (promptq/batch_progress.py), and completes a batch whose countdown
reached zero, its `batch.completed` webhook joining the deliveries of the job that
finished it. A countdown or completion that fails is logged and left to the relay,
which completes batches with no open job; the jobs' own results stand.

A group that fails is committed again one finish at a time, so that one finish the
store refuses fails only its own job, and every waiter gets its own answer (a
result, or the store's exception) — none is left waiting.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy.engine import Engine

from promptq.store import batches, jobs
from promptq.store.deliveries import NewDelivery

log = logging.getLogger(__name__)
MAX_GROUP = 100  # finishes per transaction
_STOP = object()


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
        self._max_group = max_group
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.groups = 0  # transactions committed or attempted, for tests and curiosity
        self._accepting = threading.Lock()  # held to check `_stopped` and queue, or to stop
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="promptq-finisher", daemon=True)
        self._thread.start()

    def finish(self, finish: jobs.Finish) -> list[NewDelivery] | None:
        """Commit `finish` (see store/jobs.py `finish_many`) and return its deliveries;
        None: the claim was lost. Raises what the store raised for it."""
        waiter: Future[list[NewDelivery] | None] = Future()
        with self._accepting:
            queued = not self._stopped
            if queued:
                self._queue.put((finish, waiter))
        if not queued:  # shutting down: commit it here, alone
            results = jobs.finish_many(self._engine, [finish])
            self._complete_batches([finish], results)
            return results[0]
        return waiter.result()

    def _loop(self) -> None:
        while True:
            items = self._group()
            work = [item for item in items if item is not _STOP]
            if work:
                self._commit(work)
            if len(work) < len(items):
                return

    def _group(self) -> list[Any]:
        """The next group: the first finish to come, and what is queued behind it."""
        items = [self._queue.get()]
        while len(items) < self._max_group and items[-1] is not _STOP:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _commit(self, items: list[tuple[jobs.Finish, Future[Any]]]) -> None:
        self.groups += 1
        try:
            results = jobs.finish_many(self._engine, [finish for finish, _ in items])
        except BaseException as exc:
            if len(items) == 1:
                items[0][1].set_exception(exc)
                return
            log.warning("a group of %d job finishes failed (%s); committing them one by one",
                        len(items), type(exc).__name__)
            for item in items:
                self._commit([item])
            return
        self._complete_batches([finish for finish, _ in items], results)
        for (_, waiter), result in zip(items, results):
            waiter.set_result(result)

    def _complete_batches(self, finishes: list[jobs.Finish], results: list[Any]) -> None:
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
        with self._accepting:
            self._stopped = True
            self._queue.put(_STOP)
        self._thread.join(timeout=timeout_s)
