"""Per-tenant windows of batch-queue messages (store/window.py): the pure plan, and the
store's top-up on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from promptq.store import jobs, window
from promptq.store.engine import engine_for
from promptq.store.models import Job, utcnow
from promptq.store.status import JobStatus, Priority
from support import fresh_database, queued_jobs


@pytest.mark.parametrize(("window_", "out", "held", "expected"), [
    (10, 0, 0, 0),      # nothing held
    (10, 0, 3, 3),      # fewer held than room
    (10, 0, 30, 10),    # a full window
    (10, 4, 30, 6),     # refilled by what ran
    (10, 10, 30, 0),    # full
    (10, 15, 30, 0),    # over (an overlapping submit): nothing, never negative
])
def test_room(window_: int, out: int, held: int, expected: int) -> None:
    assert window.room(window_, out, held) == expected


@pytest.mark.parametrize(("counts", "expected"), [
    ({}, {}),
    ({"a": (0, 25)}, {"a": 10}),
    ({"a": (10, 9000), "b": (0, 3)}, {"b": 3}),            # a's window full: b still gets its own
    ({"a": (7, 9000), "b": (2, 40), "c": (5, 0)}, {"a": 3, "b": 8}),  # c has nothing held
])
def test_plan(counts: dict[str, tuple[int, int]], expected: dict[str, int]) -> None:
    assert window.plan(10, counts) == expected


@pytest.mark.parametrize(("groups", "expected"), [
    ([], []),
    ([["a1", "a2"]], ["a1", "a2"]),
    ([["a1", "a2", "a3", "a4"], ["b1", "b2"]], ["a1", "b1", "a2", "b2", "a3", "a4"]),
    ([["a1"], [], ["c1", "c2"]], ["a1", "c1", "c2"]),
])
def test_interleave(groups: list[list[str]], expected: list[str]) -> None:
    assert window.interleave(groups) == expected


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A database of its own: no worker's relay of the session publishes its jobs."""
    with fresh_database(request.param, tmp_path) as url:
        engine = engine_for(url)
        yield engine
        engine.dispose()


def held(engine, n: int, tenant: str, **fields) -> list[str]:
    """`n` batch-queue jobs of `tenant` stored without a message, as the API stores those
    beyond the window."""
    return queued_jobs(engine, n, tenant_id=tenant, dispatched_at=None, **fields)


def dispatched(engine, ids: list[str]) -> set[str]:
    with Session(engine) as s:
        return set(s.exec(select(Job.id).where(Job.id.in_(ids), Job.dispatched_at.is_not(None))))


def test_top_up_fills_each_tenants_window_interleaved_and_refills_what_ran(engine) -> None:
    a, b = held(engine, 30, "ta"), held(engine, 3, "tb")

    first = window.top_up(engine, 10)

    assert first == [(i, "batch") for i in [a[0], b[0], a[1], b[1], a[2], b[2], *a[3:10]]]
    assert dispatched(engine, a + b) == set(a[:10] + b)
    assert window.top_up(engine, 10) == []  # windows full: nothing until some run
    with Session(engine) as s:  # four of a's messages were taken and run
        s.execute(update(Job).where(Job.id.in_(a[:4])).values(status=JobStatus.RUNNING))
        s.commit()
    assert window.top_up(engine, 10) == [(i, "batch") for i in a[10:14]]


def test_top_up_leaves_parked_cancelled_and_interactive_jobs(engine) -> None:
    parked = held(engine, 2, "ta", not_before=utcnow() + timedelta(minutes=5))
    cancelled = held(engine, 2, "ta", status=JobStatus.CANCELLED)
    single = held(engine, 2, "ta", priority=Priority.INTERACTIVE)
    waiting = held(engine, 2, "ta")

    assert window.top_up(engine, 10) == [(i, "batch") for i in waiting]
    assert not dispatched(engine, parked + cancelled + single)


def test_a_countdown_message_does_not_take_a_place_in_the_window(engine) -> None:
    queued_jobs(engine, 3, tenant_id="ta", not_before=utcnow() + timedelta(minutes=5))  # retries, message out
    a = held(engine, 5, "ta")
    assert [i for i, _ in window.top_up(engine, 5)] == a


def test_room_at_submit_is_the_window_less_the_messages_out(engine) -> None:
    queued_jobs(engine, 4, tenant_id="ta")  # published at submit
    queued_jobs(engine, 7, tenant_id="tb")
    held(engine, 50, "ta")
    with Session(engine) as s:
        assert window.room_at_submit(s, "ta", 10) == 6
        assert window.room_at_submit(s, "tb", 5) == 0
        assert window.room_at_submit(s, "tc", 10) == 10


def test_the_stale_sweep_leaves_held_batch_jobs_to_the_window(engine) -> None:
    """due_for_relay publishes a parked interactive job whose wait is over, but a batch-queue
    job without a message is its tenant's window's to publish."""
    batch = held(engine, 3, "ta")
    single = held(engine, 1, "ta", priority=Priority.INTERACTIVE)

    due = jobs.due_for_relay(engine, stale_s=60)

    assert due == [(single[0], "interactive")]
    assert not dispatched(engine, batch)
