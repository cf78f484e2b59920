"""Delivered webhook attempts are written as they come (together when they come
together), and kept, in order, while the store is away."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from promptq.store.deliveries import AttemptRecord, enqueue
from promptq.store.engine import engine_for
from promptq.store.models import WebhookAttempt, WebhookDelivery, utcnow
from promptq.store.status import DeliveryStatus
from promptq.workers.webhooks.records import DeliveredLog
from support import wait_until


def delivered(delivery_id: str) -> AttemptRecord:
    return AttemptRecord(delivery_id, 1, utcnow(), 204, None, 3, DeliveryStatus.DELIVERED, None)


def test_delivered_attempts_reach_the_store_together(database_url: str) -> None:
    engine = engine_for(database_url)
    with Session(engine) as s:
        made = enqueue(s, [("acme", "https://example.com/hook", "job.succeeded", {"n": i}) for i in range(5)])
        s.commit()
    log = DeliveredLog(engine)
    try:
        for d in made:
            log.add(delivered(d.id))

        def written() -> list[WebhookDelivery]:
            with Session(engine) as s:
                rows = list(s.exec(select(WebhookDelivery).where(
                    WebhookDelivery.id.in_([d.id for d in made]),
                    WebhookDelivery.status == DeliveryStatus.DELIVERED)))
            return rows if len(rows) == 5 else []

        rows = wait_until(written, timeout_s=5, what="the delivered attempts")
        assert all(r.attempts == 1 and r.delivered_at and r.lease_until is None for r in rows)
        with Session(engine) as s:
            attempts = list(s.exec(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id.in_([d.id for d in made]))))
        assert sorted((a.attempt, a.status_code) for a in attempts) == [(1, 204)] * 5
    finally:
        log.stop()


def test_a_lone_record_is_written_after_the_linger_not_at_the_next_tick(database_url: str) -> None:
    engine = engine_for(database_url)
    with Session(engine) as s:
        [made] = enqueue(s, [("acme", "https://example.com/hook", "job.succeeded", {"n": 1})])
        s.commit()
    log = DeliveredLog(engine, linger_s=0.05)  # the write comes the linger after the record, no fixed tick
    try:
        log.add(delivered(made.id))

        def written() -> bool:
            with Session(engine) as s:
                return s.get(WebhookDelivery, made.id).status == DeliveryStatus.DELIVERED

        wait_until(written, timeout_s=2, what="the delivered attempt")
    finally:
        log.stop()


def test_records_wait_while_the_store_is_away(tmp_path) -> None:
    away = create_engine(f"sqlite:///{tmp_path}/missing/dir/promptq.db")  # cannot be opened
    log = DeliveredLog(away, retry_s=3600)
    log.add(delivered("msg_1"))
    wait_until(lambda: log.failed_writes == 1, timeout_s=5, what="the thread's failed write")
    with pytest.raises(OperationalError):
        log.flush()
    log.add(delivered("msg_2"))  # the thread waits retry_s before its next write
    assert [r.delivery_id for r in log._pending] == ["msg_1", "msg_2"]  # none lost, order kept
    log.stop()  # cuts the retry wait short; its last write fails and is logged
    assert not log._thread.is_alive()
