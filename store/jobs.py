"""Job state transitions. Every transition is one conditional UPDATE, so two
workers (or a redelivered message) can never both move the same job."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, Boolean, Float, Integer, String, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from promptq.store import clock, deliveries
from promptq.store.direct import DirectStatement
from promptq.store.models import Job, JobRow, LedgerEntry, LedgerLine, utcnow
from promptq.store.status import TERMINAL, JobStatus, Priority

_OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)
# A message may arrive a little before its job's not_before (host clocks differ by
# milliseconds); refusing it would leave the job to the relay's stale sweep.
CLOCK_TOLERANCE = timedelta(seconds=1)


JOBS = Job.__table__
LEDGER = LedgerEntry.__table__


def _p(name: str, type_: Any = None) -> Any:
    # Parameters are named `p_*`: a name equal to a column's would make SQLAlchemy
    # add that column to the SET clause.
    return bindparam(f"p_{name}", type_=type_)


# What a run reads of its job, and what its terminal webhook needs (JobPublic, and the
# tenant and URL to send it to): each statement returns only those columns; the input
# is never sent back after the claim.
RUN_COLUMNS = tuple(JOBS.c[name] for name in (
    "id", "tenant_id", "task", "prompt_version", "batch_id", "priority", "input_text", "input_messages",
    "attempts", "model_index", "consecutive_overloads", "progress", "runs"))
_NOT_IN_WEBHOOK = {"input_text", "input_messages", "idempotency_key", "claim_token", "lease_until",
                   "not_before", "dispatched_at", "model_index", "consecutive_overloads", "progress",
                   "runs", "lapsed_runs"}
WEBHOOK_COLUMNS = tuple(c for c in JOBS.c if c.name not in _NOT_IN_WEBHOOK)

# The hot path (claim, record, finish, requeue) runs these statements, built once: a
# statement object that is reused keeps its compiled form and cache key, where one
# built per call costs more CPU than its round trip to the database.
# Leases are written and judged on the database's clock (store/clock.py).
_LEASE_UNTIL = clock.db_time(clock.seconds_param("p_lease_s"))
_OWNED = and_(JOBS.c.id == _p("job_id"), JOBS.c.status == JobStatus.RUNNING,
              JOBS.c.claim_token == _p("token"))
_CLAIM = (
    update(JOBS)
    .where(JOBS.c.id == _p("job_id"), JOBS.c.status == JobStatus.QUEUED,
           or_(JOBS.c.not_before.is_(None), JOBS.c.not_before <= _p("due_by", JOBS.c.not_before.type)))
    .values(status=JobStatus.RUNNING, claim_token=_p("token"),
            lease_until=_LEASE_UNTIL, runs=JOBS.c.runs + 1,
            started_at=func.coalesce(JOBS.c.started_at, _p("now", JOBS.c.started_at.type)))
    .returning(*RUN_COLUMNS)
)
_CLAIM_DIRECT = DirectStatement(_CLAIM, RUN_COLUMNS)  # once per job: on the driver's cursor (store/direct.py)
# PostgreSQL: the claims of a group as one statement, ids and tokens as arrays unnested
# into rows `c`; RETURNING says which token won a job whose id came twice.
_C = (func.unnest(bindparam("c_job_id", type_=ARRAY(String)), bindparam("c_token", type_=ARRAY(String)))
      .table_valued("job_id", "token").render_derived(name="c").c)
_CLAIM_GROUP = (
    update(JOBS)
    .where(JOBS.c.id == _C.job_id, JOBS.c.status == JobStatus.QUEUED,
           or_(JOBS.c.not_before.is_(None), JOBS.c.not_before <= _p("due_by", JOBS.c.not_before.type)))
    .values(status=JobStatus.RUNNING, claim_token=_C.token,
            lease_until=_LEASE_UNTIL, runs=JOBS.c.runs + 1,
            started_at=func.coalesce(JOBS.c.started_at, _p("now", JOBS.c.started_at.type)))
    .returning(*RUN_COLUMNS, JOBS.c.claim_token)
)
_CLAIM_GROUP_DIRECT = DirectStatement(_CLAIM_GROUP, (*RUN_COLUMNS, JOBS.c.claim_token))
# A call's usage added to the job's running totals (job column → parameter, type); an
# unknown price (NULL) makes the job's cost unknown too: NULL propagates through `+`.
_USAGE = {
    "attempts": ("calls", Integer), "input_tokens": ("input_tokens", Integer),
    "output_tokens": ("output_tokens", Integer), "cache_creation_input_tokens": ("cache_creation", Integer),
    "cache_read_input_tokens": ("cache_read", Integer), "cost_usd": ("cost_usd", Float),
}
# What a finish sets from its parameters (name → type); `model` only when given (the
# model that answered).
_FINISHED = {
    "status": JOBS.c.status.type, "result": JOBS.c.result.type, "error_type": String,
    "error_message": String, "model": String, "model_index": Integer, "cache_hit": Boolean,
    "input_truncated": Boolean,
}


def _totals(value: Callable[[str, Any], Any]) -> dict[str, Any]:
    """The SET clause adding a call's usage, each amount `value(parameter, type)`."""
    return {column: JOBS.c[column] + value(name, type_) for column, (name, type_) in _USAGE.items()}


def _finished(value: Callable[[str, Any], Any]) -> dict[str, Any]:
    """The SET clause of a finish, each value `value(parameter, type)`: a bound
    parameter (one job) or a column of the unnested arrays (a group)."""
    values = {column: value(column, type_) for column, type_ in _FINISHED.items()}
    return {**values, "model": func.coalesce(values["model"], JOBS.c.model),
            "finished_at": _p("now", JOBS.c.finished_at.type), "lease_until": None, "progress": None,
            **_totals(value)}


_TOTALS = _totals(_p)
_ADD_USAGE = update(JOBS).where(JOBS.c.id == _p("job_id")).values(**_TOTALS)
_INSERT_LEDGER = insert(LEDGER)
_FINISH = update(JOBS).where(_OWNED).values(**_finished(_p)).returning(*WEBHOOK_COLUMNS)
# PostgreSQL: the terminal UPDATEs of a whole finish group as one statement, each
# parameter of _FINISH one array, unnested into rows `v` and joined on the job id.
# Cheaper per finish in groups of three or more, dearer alone, hence GROUP_STATEMENT_MIN
# (docs/decisions/0001-group-commit-claims-and-finishes.md). SQLite (no arrays) runs one
# _FINISH per job.
GROUP_STATEMENT_MIN = 3
CLAIM_GROUP_MIN = 2  # two claims in one statement already cost less than apart (workers/claimer.py)
_GROUP_COLUMNS: dict[str, Any] = {"job_id": String, "token": String, **_FINISHED, **dict(_USAGE.values())}
_V = (func.unnest(*(bindparam(f"v_{name}", type_=ARRAY(type_)) for name, type_ in _GROUP_COLUMNS.items()))
      .table_valued(*_GROUP_COLUMNS).render_derived(name="v").c)
_FINISH_GROUP = (
    update(JOBS)
    .where(JOBS.c.id == _V.job_id, JOBS.c.status == JobStatus.RUNNING, JOBS.c.claim_token == _V.token)
    .values(**_finished(lambda name, _type: _V[name]))
    .returning(*WEBHOOK_COLUMNS)
)
_REQUEUE = update(JOBS).where(_OWNED).values(
    status=JobStatus.QUEUED, not_before=_p("not_before", JOBS.c.not_before.type), claim_token=None,
    lease_until=None, dispatched_at=_p("dispatched_at", JOBS.c.dispatched_at.type),
    model_index=_p("model_index", Integer), consecutive_overloads=_p("consecutive_overloads", Integer),
    input_truncated=_p("input_truncated", Boolean), error_type=_p("error_type", String),
    error_message=_p("error_message", String), progress=_p("progress", JOBS.c.progress.type), **_TOTALS)
_KEEP_PROGRESS = update(JOBS).where(_OWNED).values(progress=_p("progress", JOBS.c.progress.type))


@dataclass(frozen=True)
class Claim:
    job: JobRow
    token: str


def claim(engine: Engine, job_id: str, lease_s: float) -> Claim | None:
    """queued → running, if the job is queued and due. None: someone else's, finished, or early."""
    now = utcnow()
    token = uuid.uuid4().hex
    row = _CLAIM_DIRECT.first(engine, {"p_job_id": job_id, "p_due_by": now + CLOCK_TOLERANCE, "p_token": token,
                                       "p_lease_s": lease_s, "p_now": now})
    return Claim(JobRow(row), token) if row is not None else None


def claim_many(engine: Engine, job_ids: Sequence[str], lease_s: float) -> list[Claim | None]:
    """`claim` for several jobs (a worker's claims grouped), in order; on PostgreSQL one
    statement for CLAIM_GROUP_MIN or more. A job asked for twice is claimed once."""
    if engine.dialect.name != "postgresql" or len(job_ids) < CLAIM_GROUP_MIN:
        return [claim(engine, job_id, lease_s) for job_id in job_ids]
    now = utcnow()
    tokens = [uuid.uuid4().hex for _ in job_ids]
    rows = _CLAIM_GROUP_DIRECT.all(engine, {"c_job_id": list(job_ids), "c_token": tokens,
                                            "p_due_by": now + CLOCK_TOLERANCE, "p_now": now,
                                            "p_lease_s": lease_s})
    won = {row.pop("claim_token"): row for row in rows}
    return [Claim(JobRow(won[token]), token) if token in won else None for token in tokens]


def renew_leases(engine: Engine, tokens: list[str], lease_s: float) -> int:
    """Extend the lease of the jobs this process runs; returns how many were still ours."""
    if not tokens:
        return 0
    with Session(engine, expire_on_commit=False) as s:
        result = s.execute(
            update(Job).where(Job.claim_token.in_(tokens), Job.status == JobStatus.RUNNING)
            .values(lease_until=clock.db_time(lease_s)))
        s.commit()
        return result.rowcount


_NO_USAGE = {"p_calls": 0, "p_input_tokens": 0, "p_output_tokens": 0, "p_cache_creation": 0,
             "p_cache_read": 0, "p_cost_usd": 0.0}


_LEDGER_FIELDS = tuple(c.name for c in LEDGER.c if c.name != "id")


def _ledger_values(entry: LedgerLine) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _LEDGER_FIELDS}


def _add_usage(conn: Connection, job_id: str, entry: LedgerLine | None) -> dict[str, Any]:
    """INSERT the ledger row (if any); return the parameters of the job-total increments."""
    if entry is not None:
        conn.execute(_INSERT_LEDGER, _ledger_values(entry))
    return _usage(job_id, entry)


def _usage(job_id: str, entry: LedgerLine | None) -> dict[str, Any]:
    """The parameters of the job-total increments for one call's ledger row (or none)."""
    if entry is None:
        return dict(_NO_USAGE, p_job_id=job_id)
    return {"p_job_id": job_id, "p_calls": 1, "p_input_tokens": entry.input_tokens,
            "p_output_tokens": entry.output_tokens,
            "p_cache_creation": entry.cache_creation_input_tokens,
            "p_cache_read": entry.cache_read_input_tokens, "p_cost_usd": entry.cost_usd}


def keep_progress(engine: Engine, claim_: Claim, progress: dict[str, Any]) -> None:
    """The job's progress through its pieces, while the claim holds (the calls' ledger
    rows are written apart: store/ledger.py)."""
    with engine.begin() as conn:
        conn.execute(_KEEP_PROGRESS, {"p_job_id": claim_.job.id, "p_token": claim_.token, "p_progress": progress})


@dataclass(frozen=True)
class Finish:
    """running → `status` for the holder of `claim`, with the last call's ledger row
    (`entry`). `model`: the model that answered (None keeps the job's)."""

    claim: Claim
    status: JobStatus
    result: dict[str, Any] | None = None
    error_type: str | None = None
    error_message: str | None = None
    entry: LedgerLine | None = None
    model: str | None = None
    model_index: int = 0
    cache_hit: bool = False
    input_truncated: bool = False
    # The webhook's body must be built, or the finish raises; lenient: a body that cannot
    # be built is sent without the job's metadata and result, or not at all (a job failed
    # on an internal error must become terminal whatever broke).
    lenient_webhook: bool = False


def finish_many(engine: Engine, finishes: Sequence[Finish]) -> list[list[deliveries.NewDelivery] | None]:
    """Several jobs made terminal in one transaction (a worker's group commit).

    Per job, atomically: the last call's ledger row, the terminal state, and the job's
    webhook (`job.<status>`) — an outbox: a worker that dies right after the commit
    loses no webhook. Returns, per finish and in order, the deliveries to make; None
    when the claim was lost (cancelled meanwhile, or the lease lapsed and another
    worker took the job) — the ledger row is kept then too: the call was made and billed.
    """
    assert all(f.status in TERMINAL for f in finishes)
    now = utcnow()
    with engine.begin() as conn:
        entries = [f.entry for f in finishes if f.entry is not None]
        if entries:
            conn.execute(_INSERT_LEDGER, [_ledger_values(e) for e in entries])
        usages = [_usage(f.claim.job.id, f.entry) for f in finishes]
        grouped = conn.dialect.name == "postgresql" and len(finishes) >= GROUP_STATEMENT_MIN
        rows = (_finish_group if grouped else _finish_each)(conn, finishes, usages, now)
        lost = [usage for f, usage, row in zip(finishes, usages, rows) if row is None and f.entry is not None]
        if lost:
            conn.execute(_ADD_USAGE, lost)
        made = deliveries.enqueue_job_events(
            conn, [row for row in rows if row is not None],
            lenient={f.claim.job.id for f, row in zip(finishes, rows) if row is not None and f.lenient_webhook})
    return [None if row is None else made.get(row.id, []) for row in rows]


def _finish_params(f: Finish, usage: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The parameters of _FINISH for one finish (`usage`: its `_usage`)."""
    return {**usage, "p_token": f.claim.token, "p_status": f.status, "p_result": f.result,
            "p_error_type": f.error_type, "p_error_message": f.error_message, "p_now": now,
            "p_model": f.model, "p_model_index": f.model_index, "p_cache_hit": f.cache_hit,
            "p_input_truncated": f.input_truncated}


def _finish_each(conn: Connection, finishes: Sequence[Finish], usages: list[dict[str, Any]],
                 now: datetime) -> list[JobRow | None]:
    """One terminal UPDATE per finish; a finish whose claim was lost gets None."""
    rows: list[JobRow | None] = []
    for f, usage in zip(finishes, usages):
        row = conn.execute(_FINISH, _finish_params(f, usage, now)).mappings().first()
        rows.append(JobRow(row) if row is not None else None)
    return rows


def _finish_group(conn: Connection, finishes: Sequence[Finish], usages: list[dict[str, Any]],
                  now: datetime) -> list[JobRow | None]:
    """_finish_each's rows from one statement (PostgreSQL): _FINISH's parameters as
    arrays. RETURNING comes in no set order: rows are matched to finishes by job id."""
    each = [_finish_params(f, usage, now) for f, usage in zip(finishes, usages)]
    params = {f"v_{name}": [p[f"p_{name}"] for p in each] for name in _GROUP_COLUMNS}
    by_id = {row["id"]: JobRow(row) for row in conn.execute(_FINISH_GROUP, {**params, "p_now": now}).mappings()}
    return [by_id.get(f.claim.job.id) for f in finishes]


def requeue(engine: Engine, claim_: Claim, *, not_before: datetime | None, dispatched: bool,
            entry: LedgerLine | None = None, model_index: int = 0, consecutive_overloads: int = 0,
            input_truncated: bool = False, error_type: str | None = None,
            error_message: str | None = None, progress: dict[str, Any] | None = None) -> bool:
    """running → queued, to run again after `not_before`, with the failed call's ledger row
    (`entry`) in the same transaction. `dispatched`: a broker message carries it (a
    countdown); otherwise it is parked and the relay publishes it when due. The error
    fields say why it waits (the last failure; None after a capacity wait); `progress`,
    where a split document goes on from (see Job.progress)."""
    with engine.begin() as conn:
        usage = _add_usage(conn, claim_.job.id, entry)
        moved = conn.execute(_REQUEUE, {
            **usage, "p_token": claim_.token, "p_not_before": not_before,
            "p_dispatched_at": utcnow() if dispatched else None, "p_model_index": model_index,
            "p_consecutive_overloads": consecutive_overloads, "p_input_truncated": input_truncated,
            "p_error_type": error_type, "p_error_message": error_message, "p_progress": progress,
        }).rowcount
        if moved != 1 and entry is not None:
            conn.execute(_ADD_USAGE, usage)
        return moved == 1


def requeue_lapsed(engine: Engine) -> int:
    """Running jobs whose lease lapsed on the database's clock (their worker died or
    stopped renewing) back to queued, parked for the relay to publish, counted in
    `lapsed_runs` (`fail_lapsed` fails those that lapsed too often first); how many."""
    with engine.begin() as conn:
        return conn.execute(
            update(JOBS).where(JOBS.c.status == JobStatus.RUNNING, JOBS.c.lease_until < clock.db_time(0))
            .values(status=JobStatus.QUEUED, claim_token=None, lease_until=None, dispatched_at=None,
                    not_before=None, lapsed_runs=JOBS.c.lapsed_runs + 1)).rowcount


def dispatched_at_of(engine: Engine, job_id: str) -> datetime | None:
    """When the job's latest message was published (None: unknown job, or none)."""
    with engine.connect() as conn:
        return conn.execute(select(JOBS.c.dispatched_at).where(JOBS.c.id == job_id)).scalar()


def dispatch_times(engine: Engine, ids: Sequence[str],
                   each_ids: Sequence[str]) -> tuple[datetime | None, dict[str, datetime | None]]:
    """The lowest dispatch among the jobs `ids` (None: none known), and the dispatch of
    each of `each_ids` (absent: unknown job); one connection, two indexed reads."""
    with engine.connect() as conn:
        lowest = (conn.execute(select(func.min(JOBS.c.dispatched_at)).where(JOBS.c.id.in_(ids))).scalar()
                  if ids else None)
        each = dict(conn.execute(select(JOBS.c.id, JOBS.c.dispatched_at).where(JOBS.c.id.in_(each_ids))).all()
                    if each_ids else [])
    return lowest, each


def due_for_relay(engine: Engine, *, now: datetime, stale_s: float, lost_before: Mapping[str, datetime | None],
                  limit: int = 1000) -> list[tuple[str, str, str]]:
    """(job id, priority, tenant) of queued jobs to publish again, marking them dispatched at `now`
    (the database's time, store/clock.py).

    - parked jobs (no message) whose not_before has passed;
    - jobs whose message is evidently lost: published before `lost_before[queue]`
      (workers/frontier.py: the message left Redis long ago, yet the job was never
      claimed), and more than `stale_s` past their not_before. A job whose message
      still waits in a long queue is not published again.
    """
    stale = now - timedelta(seconds=stale_s)
    lost = [and_(JOBS.c.priority == Priority(queue), JOBS.c.dispatched_at < before)
            for queue, before in lost_before.items() if before is not None]
    due = [and_(JOBS.c.dispatched_at.is_(None), or_(JOBS.c.not_before.is_(None), JOBS.c.not_before <= now))]
    if lost:
        due.append(and_(or_(*lost), or_(JOBS.c.not_before.is_(None), JOBS.c.not_before < stale)))
    with engine.begin() as conn:
        rows = conn.execute(select(JOBS.c.id, JOBS.c.priority, JOBS.c.tenant_id)
                            .where(JOBS.c.status == JobStatus.QUEUED, or_(*due)).limit(limit)).all()
        if rows:
            conn.execute(update(JOBS).where(JOBS.c.id.in_([r[0] for r in rows])).values(dispatched_at=now))
        return [(r[0], str(r[1]), r[2]) for r in rows]


TOO_MANY_RUNS = "too_many_runs"


def fail_lapsed(engine: Engine, *, max_lapsed_runs: int, limit: int = 1000) -> list[str]:
    """Fail, instead of re-queuing, the running jobs whose lease lapsed once more after
    `max_lapsed_runs` lapses (`too_many_runs`: whatever ends their runs would end the
    next one too), with their webhooks, left for the relay to publish (lenient: see
    Finish); returns their ids."""
    now = utcnow()
    lapsed_by = clock.db_time(0)  # leases are judged on the database's clock
    lapsed = select(JOBS.c.id).where(JOBS.c.status == JobStatus.RUNNING, JOBS.c.lease_until < lapsed_by,
                                     JOBS.c.lapsed_runs >= max_lapsed_runs).limit(limit)
    with engine.begin() as conn:
        rows = [JobRow(row) for row in conn.execute(
            update(JOBS).where(JOBS.c.id.in_(lapsed), JOBS.c.status == JobStatus.RUNNING,
                               JOBS.c.lease_until < lapsed_by)
            .values(status=JobStatus.FAILED, error_type=TOO_MANY_RUNS, finished_at=now, claim_token=None,
                    lease_until=None, progress=None, lapsed_runs=JOBS.c.lapsed_runs + 1,
                    error_message=f"the job's run ended without a result {max_lapsed_runs + 1} times "
                                  "(its worker died or could not record it)")
            .returning(*WEBHOOK_COLUMNS)).mappings()]
        deliveries.enqueue_job_events(conn, rows, lenient={row.id for row in rows}, dispatched=False)
    return [row.id for row in rows]
