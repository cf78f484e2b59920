"""Ledger rows of provider calls from all of a process's threads, written by one thread.

Every call is recorded twice in a commit of its own (store/ledger.py): reserved just
before it is sent, settled just after. Made by each thread, that would be two more
transactions per call; the threads' reserves and settles that arrive together share
one transaction instead (group commit, workers/group_commit.py, as claims and
finishes do). A call is sent only once its reserve committed.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.engine import Engine

from promptq.store import ledger
from promptq.store.models import LedgerLine
from promptq.workers.group_commit import GroupCommit

MAX_GROUP = 200  # reserves and settles per transaction


class LedgerWriter:
    def __init__(self, engine: Engine, *, max_group: int = MAX_GROUP) -> None:
        self._group: GroupCommit[ledger.Reserve | ledger.Settle, int | None] = GroupCommit(
            partial(ledger.write, engine), name="promptq-ledger", max_group=max_group)

    @property
    def groups(self) -> int:
        """Transactions committed or attempted, for tests and curiosity."""
        return self._group.groups

    def reserve(self, line: LedgerLine) -> int:
        """Store `line` (outcome `pending`, the estimate) and count the attempt on its
        job; returns the row's id. Raises what the store raised for it."""
        made = self._group(ledger.Reserve(line))
        assert made is not None
        return made

    def settle(self, ledger_id: int, line: LedgerLine) -> None:
        """Row `ledger_id` becomes `line` (what the call spent), added to its job's totals."""
        self._group(ledger.Settle(ledger_id, line))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Write what is queued, then stop the thread; later writes are made alone."""
        self._group.stop(timeout_s)
