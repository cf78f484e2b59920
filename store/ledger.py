"""Ledger rows of provider calls, written apart from the job's transitions.

A call is recorded before it is made (`pending`, with the reserved estimate as its
usage and cost, and one more attempt on the job) and settled after it (the actual
usage, cost and outcome, added to the job's totals), each in a commit of its own: a
finish or re-queue that rolls back afterwards loses no call a provider may bill. A
row a dead worker left `pending` is marked `unknown` by the relay's sweep, its
estimate kept (and added to the job's totals) as what the call may have cost.

Invariant: a job's `attempts` counts its rows; its token and cost totals are the sums
over its settled and unknown rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Float, Integer, String, bindparam, exists, insert, select, update
from sqlalchemy.engine import Engine

from promptq.store.models import Job, LedgerEntry, LedgerLine, utcnow

PENDING = "pending"
UNKNOWN = "unknown"

JOBS = Job.__table__
LEDGER = LedgerEntry.__table__
_FIELDS = tuple(c.name for c in LEDGER.c if c.name != "id")
_USAGE = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _p(name: str, type_: Any = None) -> Any:
    # `p_*`: a parameter named like a column would join the SET clause (store/jobs.py)
    return bindparam(f"p_{name}", type_=type_)


# Built once, reused: see store/jobs.py on the hot path's statements.
_RESERVE = insert(LEDGER).returning(LEDGER.c.id, sort_by_parameter_order=True)
_COUNT_ATTEMPT = update(JOBS).where(JOBS.c.id == _p("job_id")).values(attempts=JOBS.c.attempts + 1)
_TOTALS = {**{name: JOBS.c[name] + _p(name, Integer) for name in _USAGE},
           "cost_usd": JOBS.c.cost_usd + _p("cost_usd", Float)}  # NULL (no price) stays NULL
_ADD_USAGE = update(JOBS).where(JOBS.c.id == _p("job_id")).values(**_TOTALS)
# Settling adds to the job only what is still pending: a row the sweep took is counted.
_ADD_SETTLED = update(JOBS).where(
    JOBS.c.id == _p("job_id"),
    exists().where(LEDGER.c.id == _p("ledger_id", Integer), LEDGER.c.outcome == PENDING),
).values(**_TOTALS)
_SETTLE = update(LEDGER).where(LEDGER.c.id == _p("ledger_id", Integer), LEDGER.c.outcome == PENDING).values(
    **{name: _p(name, Integer) for name in (*_USAGE, "latency_ms")},
    cost_usd=_p("cost_usd", Float), outcome=_p("outcome", String), request_id=_p("request_id", String))


@dataclass(frozen=True)
class Reserve:
    """A call about to be made: `line` with outcome `pending` and the estimate."""

    line: LedgerLine


@dataclass(frozen=True)
class Settle:
    """The call of row `ledger_id`, made: `line` holds what it actually spent."""

    ledger_id: int
    line: LedgerLine


def write(engine: Engine, ops: Sequence[Reserve | Settle]) -> list[int | None]:
    """Reserve and settle rows, all in one transaction (a worker's group commit);
    per op, in order: the new row's id (Reserve) or None (Settle)."""
    reserves = [op.line for op in ops if isinstance(op, Reserve)]
    settles = [op for op in ops if isinstance(op, Settle)]
    ids: list[int] = []
    with engine.begin() as conn:
        if reserves:
            ids = list(conn.execute(_RESERVE, [{n: getattr(line, n) for n in _FIELDS} for line in reserves])
                       .scalars())
            conn.execute(_COUNT_ATTEMPT, [{"p_job_id": line.job_id} for line in reserves])
        if settles:
            params = [_settle_params(op) for op in settles]
            conn.execute(_ADD_SETTLED, params)
            conn.execute(_SETTLE, params)
    made = iter(ids)
    return [next(made) if isinstance(op, Reserve) else None for op in ops]


def _settle_params(op: Settle) -> dict[str, Any]:
    line = op.line
    return {"p_ledger_id": op.ledger_id, "p_job_id": line.job_id, "p_cost_usd": line.cost_usd,
            "p_latency_ms": line.latency_ms, "p_outcome": line.outcome, "p_request_id": line.request_id,
            **{f"p_{name}": getattr(line, name) for name in _USAGE}}


def sweep_unsettled(engine: Engine, older_than_s: float, limit: int = 1000) -> int:
    """Mark rows pending for more than `older_than_s` seconds `unknown` (their worker
    died during or after the call), adding their estimate to their jobs' totals; returns
    how many."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    oldest = select(LEDGER.c.id).where(LEDGER.c.outcome == PENDING, LEDGER.c.created_at < cutoff).limit(limit)
    with engine.begin() as conn:
        rows = conn.execute(
            update(LEDGER).where(LEDGER.c.id.in_(oldest), LEDGER.c.outcome == PENDING).values(outcome=UNKNOWN)
            .returning(LEDGER.c.job_id, LEDGER.c.cost_usd, *(LEDGER.c[name] for name in _USAGE))
        ).mappings().all()
        if rows:
            conn.execute(_ADD_USAGE, [{"p_job_id": r["job_id"], "p_cost_usd": r["cost_usd"],
                                       **{f"p_{name}": r[name] for name in _USAGE}} for r in rows])
    return len(rows)
