"""Calls from many threads, run together by one thread (group commit).

A worker's 200 threads each need the same short statement now and then (a claim, a
finish). Run one at a time, each pays a round trip and the statement's fixed CPU; run
by one thread for everything that arrived together, a group pays them once. The
thread runs a group as soon as its first call arrives; what arrives meanwhile forms
the next group: at rest a call waits for nothing, under load many share a statement.
Each caller waits for its own answer, so nothing it does next happens before its
call took effect, exactly as if it had run the call itself.

A group that fails is run again one call at a time, so that one call the store
refuses fails only its own caller, and every caller gets its own answer (a result,
or the exception) — none is left waiting. After `stop`, calls run alone on the
caller's thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_STOP = object()


class _Waiter(Generic[R]):
    """One caller's answer: a result or an exception, set once by the group's thread.

    A lock taken at birth and released by `set`: the caller's `wait` blocks on it
    without holding the GIL. Cheaper than a Future (a Condition, its lock and a waiter
    lock per wait, a notify_all), which a worker pays twice per job (claim and finish;
    docs/decisions/0001-group-commit-claims-and-finishes.md)."""

    __slots__ = ("_done", "_result", "_error")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._result: R | None = None
        self._error: BaseException | None = None

    def set(self, result: R | None = None, error: BaseException | None = None) -> None:
        self._result, self._error = result, error
        self._done.release()

    def wait(self) -> R:
        self._done.acquire()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


class GroupCommit(Generic[T, R]):
    """`run(items)` returns one result per item, in order; it runs on this object's
    thread, named `name`, for at most `max_group` items at once."""

    def __init__(self, run: Callable[[Sequence[T]], Sequence[R]], *, name: str, max_group: int) -> None:
        self._run = run
        self._name = name
        self._max_group = max_group
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.groups = 0  # groups run or attempted, for tests and curiosity
        self._accepting = threading.Lock()  # held to check `_stopped` and queue, or to stop
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def __call__(self, item: T) -> R:
        """`item`'s result, once its group ran; raises what running it raised."""
        waiter: _Waiter[R] = _Waiter()
        with self._accepting:
            queued = not self._stopped
            if queued:
                self._queue.put((item, waiter))
        if not queued:  # shutting down: run it here, alone
            return self._run([item])[0]
        return waiter.wait()

    def _loop(self) -> None:
        while True:
            items = self._group()
            work = [item for item in items if item is not _STOP]
            if work:
                self._commit(work)
            if len(work) < len(items):
                return

    def _group(self) -> list[Any]:
        """The next group: the first call to come, and what is queued behind it."""
        items = [self._queue.get()]
        while len(items) < self._max_group and items[-1] is not _STOP:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items

    def _commit(self, items: list[tuple[T, _Waiter[R]]]) -> None:
        self.groups += 1
        try:
            results = self._run([item for item, _ in items])
        except BaseException as exc:
            if len(items) == 1:
                items[0][1].set(error=exc)
                return
            log.warning("%s: a group of %d failed (%s); running them one by one", self._name, len(items),
                        type(exc).__name__)
            for item in items:
                self._commit([item])
            return
        if len(results) != len(items):  # a defect in `run`: no caller may be left waiting
            error = RuntimeError(f"{self._name}: {len(results)} results for {len(items)} calls")
            for _, waiter in items:
                waiter.set(error=error)
            return
        for (_, waiter), result in zip(items, results):
            waiter.set(result)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Run what is queued, then stop the thread; later calls run alone."""
        with self._accepting:
            self._stopped = True
            self._queue.put(_STOP)
        self._thread.join(timeout=timeout_s)
