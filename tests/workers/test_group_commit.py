"""Group commit: calls from many threads run together by one thread, each caller gets
its own answer, one call that fails fails alone, and calls after stop run alone."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from promptq.workers.group_commit import GroupCommit


class Doubler:
    """Doubles numbers; refuses 13, and fails a whole group that holds it."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.threads: set[str] = set()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.groups.append(list(items))
        self.threads.add(threading.current_thread().name)
        if 13 in items:
            raise ValueError("13")
        return [2 * i for i in items]


def together(group: GroupCommit[int, int], items: list[int]):
    """Each item submitted from its own thread, all released at once; their futures."""
    start = threading.Barrier(len(items))

    def call(i: int) -> int:
        start.wait()
        return group(i)
    with ThreadPoolExecutor(len(items)) as pool:
        return [pool.submit(call, i) for i in items]


def test_calls_arriving_together_share_groups_and_each_gets_its_own_answer():
    run = Doubler()
    group = GroupCommit(run, name="test-group", max_group=100)
    try:
        futures = together(group, list(range(20, 60)))
        assert [f.result() for f in futures] == [2 * i for i in range(20, 60)]
    finally:
        group.stop()
    assert len(run.groups) < 40 and sorted(sum(run.groups, [])) == list(range(20, 60))
    assert run.threads == {"test-group"}


def test_a_group_is_never_larger_than_max_group():
    run = Doubler()
    group = GroupCommit(run, name="test-group", max_group=3)
    try:
        assert [f.result() for f in together(group, list(range(20, 40)))] == [2 * i for i in range(20, 40)]
    finally:
        group.stop()
    assert max(len(g) for g in run.groups) <= 3


def test_a_call_that_fails_fails_alone():
    run = Doubler()
    group = GroupCommit(run, name="test-group", max_group=100)
    try:
        futures = together(group, [1, 2, 13, 4, 5])
        with pytest.raises(ValueError, match="13"):
            futures[2].result()
        assert [f.result() for i, f in enumerate(futures) if i != 2] == [2, 4, 8, 10]
    finally:
        group.stop()


def test_after_stop_a_call_runs_alone_on_the_callers_thread():
    run = Doubler()
    group = GroupCommit(run, name="test-group", max_group=100)
    group.stop()
    assert group(21) == 42
    assert run.groups == [[21]] and run.threads == {threading.current_thread().name}


def test_a_run_that_answers_the_wrong_number_of_calls_leaves_no_caller_waiting():
    group = GroupCommit(lambda items: [], name="test-group", max_group=100)
    try:
        with pytest.raises(RuntimeError, match="0 results for 1 calls"):
            group(1)
        assert group._thread.is_alive()  # and the thread goes on
    finally:
        group.stop()
