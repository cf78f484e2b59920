"""Ledger rows apart from the job's transitions: reserved before a call (pending, the
estimate, one more attempt), settled after it (the actual usage, added to the job's
totals), and swept to `unknown` when nobody settled them — never counted twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from promptq.store import ledger
from promptq.store.engine import engine_for
from promptq.store.models import Job, LedgerEntry, LedgerLine, utcnow
from store.test_finish import running_jobs
from support import fresh_database


@pytest.fixture
def engine(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    # the test's own database: a live worker's relay (the session's stack) would sweep it
    kind = "sqlite" if database_url.startswith("sqlite") else "postgres"
    with fresh_database(kind, tmp_path_factory.mktemp("ledger")) as url:
        yield engine_for(url)


def line(job_id: str, *, outcome: str, input_tokens: int, output_tokens: int, cost: float | None) -> LedgerLine:
    return LedgerLine(tenant_id="acme", job_id=job_id, task="job_posting_extraction", provider="anthropic",
                      model="claude-haiku-4-5", prompt_version="v1", attempt=1, input_tokens=input_tokens,
                      output_tokens=output_tokens, cost_usd=cost, latency_ms=0 if outcome == "pending" else 9,
                      outcome=outcome, request_id=None if outcome == "pending" else "req_9")


def estimate(job_id: str) -> LedgerLine:
    return line(job_id, outcome=ledger.PENDING, input_tokens=1000, output_tokens=4096, cost=0.05)


def job_and_rows(engine, job_id: str) -> tuple[Job, list[LedgerEntry]]:
    with Session(engine) as s:
        return s.get(Job, job_id), list(s.exec(select(LedgerEntry).where(LedgerEntry.job_id == job_id)
                                               .order_by(LedgerEntry.id)))


def totals(job: Job) -> tuple[int, int, int, float | None]:
    return job.attempts, job.input_tokens, job.output_tokens, job.cost_usd


def test_a_reserved_call_is_a_pending_row_and_an_attempt_and_its_settle_adds_what_it_spent(engine) -> None:
    [claim] = running_jobs(engine, 1)
    job_id = claim.job.id
    [row_id] = ledger.write(engine, [ledger.Reserve(estimate(job_id))])
    job, [row] = job_and_rows(engine, job_id)
    assert (row.id, row.outcome, row.input_tokens, row.output_tokens, row.cost_usd) == (
        row_id, "pending", 1000, 4096, 0.05)
    assert totals(job) == (1, 0, 0, 0.0)  # the attempt counts; the estimate is not spent yet

    actual = line(job_id, outcome="ok", input_tokens=800, output_tokens=120, cost=0.002)
    assert ledger.write(engine, [ledger.Settle(row_id, actual)]) == [None]
    job, [row] = job_and_rows(engine, job_id)
    assert (row.outcome, row.input_tokens, row.output_tokens, row.cost_usd, row.request_id) == (
        "ok", 800, 120, 0.002, "req_9")
    assert totals(job) == (1, 800, 120, 0.002)


def test_reserves_and_settles_of_a_group_share_a_transaction_each_with_its_own_answer(engine) -> None:
    claims = running_jobs(engine, 3)
    a, b, c = (claim.job.id for claim in claims)
    [first] = ledger.write(engine, [ledger.Reserve(estimate(a))])
    answers = ledger.write(engine, [
        ledger.Reserve(estimate(b)),
        ledger.Settle(first, line(a, outcome="rate_limited", input_tokens=0, output_tokens=0, cost=0.0)),
        ledger.Reserve(estimate(c))])
    assert answers[1] is None and answers[0] is not None and answers[2] is not None
    assert [job_and_rows(engine, j)[1][0].id for j in (b, c)] == [answers[0], answers[2]]
    assert [job_and_rows(engine, j)[1][0].outcome for j in (a, b, c)] == ["rate_limited", "pending", "pending"]
    assert [job_and_rows(engine, j)[0].attempts for j in (a, b, c)] == [1, 1, 1]


def age(engine, row_id: int, seconds: float) -> None:
    with Session(engine) as s:
        s.execute(update(LedgerEntry).where(LedgerEntry.id == row_id)
                  .values(created_at=utcnow() - timedelta(seconds=seconds)))
        s.commit()


def test_the_sweep_marks_old_pending_rows_unknown_keeping_the_estimate_once(engine) -> None:
    claims = running_jobs(engine, 2)
    dead, live = (claim.job.id for claim in claims)
    [old, recent] = ledger.write(engine, [ledger.Reserve(estimate(dead)), ledger.Reserve(estimate(live))])
    age(engine, old, 120)
    assert ledger.sweep_unsettled(engine, older_than_s=60) == 1
    assert ledger.sweep_unsettled(engine, older_than_s=60) == 0  # once
    job, [row] = job_and_rows(engine, dead)
    assert (row.outcome, row.input_tokens, row.output_tokens, row.cost_usd) == ("unknown", 1000, 4096, 0.05)
    assert totals(job) == (1, 1000, 4096, 0.05)  # what the call may have cost
    assert job_and_rows(engine, live)[1][0].outcome == "pending"  # a call may still be in flight

    # A settle arriving after the sweep changes nothing: the estimate stands, counted once.
    ledger.write(engine, [ledger.Settle(old, line(dead, outcome="ok", input_tokens=5, output_tokens=5,
                                                  cost=0.0001))])
    job, [row] = job_and_rows(engine, dead)
    assert (row.outcome, totals(job)) == ("unknown", (1, 1000, 4096, 0.05))


def test_an_unknown_price_stays_unknown_on_the_job(engine) -> None:
    [claim] = running_jobs(engine, 1)
    [row_id] = ledger.write(engine, [ledger.Reserve(line(claim.job.id, outcome="pending", input_tokens=10,
                                                         output_tokens=10, cost=None))])
    age(engine, row_id, 120)
    ledger.sweep_unsettled(engine, older_than_s=60)
    assert job_and_rows(engine, claim.job.id)[0].cost_usd is None
