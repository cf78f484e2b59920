"""Running one job: claim → render → call → validate → record → finish or reschedule.

The decisions (retry, fall back, repair, review, fail) come from workers/policy.py;
this module carries them out against the store and the broker.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from collections.abc import Callable
from datetime import timedelta
from time import monotonic
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from promptq import dispatch
from promptq.prompts.registry import OutputMode, Task, get_task
from promptq.safe_log import exception_summary
from promptq.store import jobs, ledger
from promptq.store.models import LedgerLine, utcnow
from promptq.store.status import JobStatus
from promptq.workers.context import fits, merge_outputs, plan_shrink, request_tokens, worth_counting
from promptq.workers.llm import pricing, structured
from promptq.workers.llm.errors import FailureKind, ProviderFailure
from promptq.workers.llm.types import CallRequest, CallResponse, StopKind, Turn, Usage
from promptq.workers.policy import Action, decide
from promptq.workers.ratelimit import CapacityWait
from promptq.workers.runtime import Runtime
from promptq.workers.webhooks.delivery import deliver_now_or_queue

log = logging.getLogger(__name__)
INFRASTRUCTURE_ERRORS = (DBAPIError, RedisError)
MAX_SHRINKS = 4  # attempts to make one input fit before the job fails
TOO_MANY_ATTEMPTS = "too_many_attempts"  # the job's error once its budget is spent before a call
# The error of a job none of whose task's models has a provider with credentials.
NO_PROVIDER_CONFIGURED = "no_provider_configured"


@dataclass(frozen=True)
class Outcome:
    """What became of a delivery of "run job X"."""

    status: JobStatus | None = None   # the terminal status reached, if any
    retry_in_s: float | None = None   # rescheduled to run again after this many seconds
    skipped: bool = False             # not claimable: finished, cancelled, early, or another's


@dataclass
class _State:
    """Where one job stands within this run; model_index, overloads and attempts are
    persisted on the job when it is rescheduled, the rest is rebuilt from the input."""

    model_index: int
    overloads: int
    attempts: int
    text: str                                   # the whole input (shortened, if it had to be)
    conversation: list[dict[str, str]] | None   # the input's messages, for a conversation
    truncated: bool
    # The pieces to extract, as [start, end) of `text`, in order (one: the whole text),
    # and the extractions of the first len(partials) of them.
    spans: list[tuple[int, int]] = field(default_factory=list)
    partials: list[dict[str, Any]] = field(default_factory=list)
    shrinks: int = 0
    repairs: int = 0
    messages: tuple[Turn, ...] = ()

    def __post_init__(self) -> None:
        self.spans = self.spans or [(0, len(self.text))]

    @classmethod
    def of(cls, job: Any) -> _State:
        """Where a claimed job stands: from its first piece, or — a split document that
        was rescheduled between pieces — from the piece after the last one extracted."""
        state = cls(job.model_index, job.consecutive_overloads, job.attempts, job.input_text,
                    job.input_messages, truncated=False)
        progress = job.progress if isinstance(job.progress, dict) else {}
        spans = [(int(start), int(end)) for start, end in progress.get("spans", [])]
        partials = progress.get("partials", [])
        if len(spans) > 1 and 0 < len(partials) < len(spans) and spans[-1][1] <= len(state.text):
            state.spans, state.partials, state.shrinks = spans, list(partials), int(progress.get("shrinks", 0))
        return state

    @property
    def current_piece(self) -> str:
        start, end = self.spans[len(self.partials)]
        return self.text[start:end]

    @property
    def progress(self) -> dict[str, Any] | None:
        """What a rescheduled job keeps to go on where it stopped (None: nothing)."""
        if len(self.spans) < 2 or not self.partials:
            return None
        return {"spans": self.spans, "partials": self.partials, "shrinks": self.shrinks}

    @property
    def spent_attempts(self) -> int:
        """Provider calls that count against the job's attempt budget: all but those
        that yielded a piece kept in `partials` (a document of many pieces is not
        failed for being long)."""
        return self.attempts - len(self.partials)


class JobRunner:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def run(self, job_id: str) -> Outcome:
        claim = self.rt.claimer(job_id)
        if claim is None:
            return Outcome(skipped=True)
        with self.rt.leases.hold(claim.token):
            self._event(job_id, "status", {"status": JobStatus.RUNNING})
            try:
                if claim.job.runs > self.rt.settings.max_runs:  # a backstop: no job runs forever
                    state = _State(claim.job.model_index, 0, claim.job.attempts, "", None, False)
                    return self._finish(claim, state, JobStatus.FAILED, lenient_webhook=True, error=(
                        jobs.TOO_MANY_RUNS, f"the job was run {claim.job.runs} times, more than "
                                            f"{self.rt.settings.max_runs} (PROMPTQ_MAX_RUNS)"))
                return self._run(claim)
            except INFRASTRUCTURE_ERRORS:
                # The store or Redis is away: leave the job running; its lease lapses
                # and the relay re-queues it once they are back.
                raise
            except Exception as exc:
                # A defect must not leave the job running forever (or retried forever):
                # fail it visibly. The job's error and the log name the type only: the
                # exception's message may quote the input. Its webhook is lenient: what
                # failed may be the webhook's body (e.g. metadata nested too deep), and
                # this finish must commit, or the job would run (and be billed) again.
                log.error("job %s failed on an internal error:\n%s", job_id, exception_summary(exc))
                state = _State(claim.job.model_index, 0, claim.job.attempts, "", None, False)
                return self._finish(claim, state, JobStatus.FAILED, lenient_webhook=True,
                                    error=("internal_error", f"{type(exc).__name__} while running the job"))

    # -- the attempt loop -------------------------------------------------

    def _run(self, claim: jobs.Claim) -> Outcome:
        job = claim.job
        task = get_task(job.task, job.prompt_version)
        state = _State.of(job)
        if not any(self.rt.llm.is_configured(model) for model in task.models):
            return self._finish(claim, state, JobStatus.FAILED, error=(
                NO_PROVIDER_CONFIGURED, "no provider of the task's models has credentials: "
                                        "set ANTHROPIC_API_KEY or OPENAI_API_KEY"))
        while True:
            if state.model_index >= len(task.models):
                return self._finish(claim, state, JobStatus.FAILED, error=(
                    "no_model_available", "every model of the task's chain failed or is not configured"))
            if state.spent_attempts >= self.rt.policy.max_attempts:
                # Calls of runs that ended without deciding (a dead worker, a failed
                # finish) count too: however a job fails, it costs at most its budget.
                return self._finish(claim, state, JobStatus.FAILED, error=(
                    TOO_MANY_ATTEMPTS, f"the job's {self.rt.policy.max_attempts} provider calls "
                                       "(PROMPTQ_MAX_ATTEMPTS) were spent without a result"))
            model = task.models[state.model_index]
            try:
                attempt = self._try_model(claim, task, model, state)
            except CapacityWait as wait:
                # Not a failure: nothing was sent, so no attempt is spent. Spread the
                # waiters out so they do not all come back in the same instant.
                spread = random.uniform(0, self.rt.settings.capacity_wait_s)
                return self._reschedule(claim, state, wait.wait_s + spread, reason=f"capacity:{wait.reason}")
            failure, response = attempt.failure, attempt.response
            if failure is None:
                assert attempt.output is not None
                state.partials.append(attempt.output)
                if len(state.partials) < len(state.spans):
                    jobs.keep_progress(self.rt.engine, claim, state.progress)
                    state.messages, state.repairs = (), 0  # on to the next piece
                    continue
                result = attempt.output
                # a single piece was validated as it arrived; a merge of pieces is checked whole
                problems: list[str] = []
                if len(state.partials) > 1:
                    result = merge_outputs(state.partials)
                    problems = structured.validation_errors(task.validator(), result)
                if problems:
                    return self._finish(claim, state, JobStatus.NEEDS_REVIEW, model=model, error=(
                        FailureKind.INVALID_OUTPUT, "merged extraction is invalid: " + "; ".join(problems[:5])))
                return self._finish(claim, state, JobStatus.SUCCEEDED, result=result, model=model,
                                    cache_hit=bool(response and response.usage.cache_read_input_tokens))
            decision = decide(
                failure.kind, attempts_made=state.spent_attempts, retry_after_s=failure.retry_after_s,
                consecutive_overloads=state.overloads + (failure.kind is FailureKind.OVERLOADED),
                repairs_made=state.repairs, has_fallback=state.model_index + 1 < len(task.models),
                policy=self.rt.policy)
            state.overloads = state.overloads + 1 if failure.kind is FailureKind.OVERLOADED else 0
            log.info("job %s %s on %s: %s (%s)", job.id, failure.kind, model, decision.action,
                     decision.reason)
            match decision.action:
                case Action.RETRY:
                    return self._reschedule(claim, state, decision.wait_s, reason=str(failure.kind),
                                            failure=failure)
                case Action.FALLBACK:
                    self._count("promptq_fallbacks_total", task=task.name, model=model)
                    state.model_index += 1
                    state.overloads = 0
                    state.messages = ()
                case Action.REPAIR:
                    assert response is not None
                    state.repairs += 1
                    rules = (structured.json_only_instructions(task.schema)
                             if task.output is OutputMode.JSON else "")
                    state.messages = (*state.messages,
                                      *structured.repair_turns(response, failure.message, rules))
                case Action.SHRINK:
                    if not self._shrink(task, model, state):
                        return self._finish(claim, state, JobStatus.FAILED,
                                            error=(FailureKind.CONTEXT_TOO_LONG, failure.message))
                case Action.REVIEW:
                    return self._finish(claim, state, JobStatus.NEEDS_REVIEW,
                                        error=(failure.kind, failure.message), model=model)
                case Action.FAIL:
                    return self._finish(claim, state, JobStatus.FAILED,
                                        error=(failure.kind, failure.message), model=model)

    def _try_model(self, claim: jobs.Claim, task: Task, model: str, state: _State) -> _Attempt:
        """One provider call (or none, when it cannot be made), recorded in the ledger
        before it is sent and settled after it, each in its own commit (store/ledger.py)."""
        llm = self.rt.llm
        if not llm.is_configured(model):
            return _Attempt(ProviderFailure(FailureKind.NOT_CONFIGURED, f"no credentials for {model}"))
        if not state.messages:
            # The input is data in one user turn (a conversation too, as a framed
            # transcript); the instructions are the system prompt.
            prompt = (task.prompt.render_conversation(state.conversation) if state.conversation is not None
                      else task.prompt.render(state.current_piece))
            state.messages = (Turn("user", prompt),)
        request = CallRequest(model=model, messages=state.messages, schema=task.schema,
                              tool_name=task.tool_name, tool_description=task.description,
                              output=task.output, max_tokens=task.max_output_tokens,
                              system=task.system_prompt, stream=task.stream)
        window = llm.catalog.info(model).context_window
        if not fits(request, window, self._counted_tokens(request, window)):
            return _Attempt(ProviderFailure(FailureKind.CONTEXT_TOO_LONG,
                                            f"input exceeds the {window}-token window of {model}"))
        response: CallResponse | None = None
        output: dict[str, Any] | None = None
        failure: ProviderFailure | None = None
        pending: list[int] = []  # the call's ledger row, once reserved

        def reserve() -> None:
            state.attempts += 1
            pending.append(self.rt.ledger.reserve(self._pending_entry(claim, task, request, state.attempts)))

        try:
            response = self._limited_call(request, claim.job.id, reserve)
            output = self._checked_output(response, task)
        except ProviderFailure as exc:
            failure = exc
        except Exception:
            # A defect after the call: settle what it is known to have spent; with no
            # answer the row stays pending, and the sweep keeps its estimate (unknown).
            if pending and response is not None:
                self.rt.ledger.settle(pending[0], self._ledger_entry(
                    claim, task, model, state.attempts, response, None, outcome="internal_error"))
            raise
        if not pending:  # nothing was sent
            return _Attempt(failure, response, output)
        entry = self._ledger_entry(claim, task, model, state.attempts, response, failure)
        self.rt.ledger.settle(pending[0], entry)
        return _Attempt(failure, response, output, entry)

    def _counted_tokens(self, request: CallRequest, window: int) -> int | None:
        """The provider's exact input count when the estimate is near the window, else None."""
        if not worth_counting(request, window):
            return None
        try:
            return self.rt.llm.count_tokens(request)
        except ProviderFailure as exc:  # counting is an aid: the estimate still stands
            log.info("token counting for %s failed (%s); using the estimate", request.model, exc.kind)
            return None

    def _limited_call(self, request: CallRequest, job_id: str, before_send: Callable[[], None]) -> CallResponse:
        """The provider call inside a reservation of the shared rate limiter;
        `before_send()` runs once capacity is granted, right before the call.

        Raises CapacityWait (nothing sent) or ProviderFailure (sent, failed).
        """
        limiter, llm = self.rt.limiter, self.rt.llm
        provider, model = str(llm.provider_of(request.model)), request.model
        with limiter.acquire(provider, model, input_tokens=request_tokens(request),
                             output_tokens=request.max_tokens,
                             max_wait_s=self.rt.settings.capacity_wait_s) as reservation:
            deltas = _DeltaEvents(lambda piece: self._event(job_id, "token", {"delta": piece}))
            try:
                before_send()
            except BaseException:
                reservation.release()  # nothing was sent
                raise
            try:
                response = llm.call(request, deltas if request.stream else None)
                deltas.flush()
            except ProviderFailure as exc:
                if exc.kind in (FailureKind.CONNECTION, FailureKind.NO_RESPONSE):
                    reservation.release()  # (most likely) never reached the provider
                elif exc.usage is not None:
                    reservation.settle(exc.usage.total_input_tokens, exc.usage.output_tokens)
                if exc.kind is FailureKind.RATE_LIMITED:
                    # Every worker stops for this model, not only the one that was told.
                    limiter.cooldown(provider, model, seconds=exc.retry_after_s or 1.0)
                raise
            limiter.settle_with_headers(reservation, input_tokens=response.usage.total_input_tokens,
                                        output_tokens=response.usage.output_tokens, headers=response.headers)
            return response

    @staticmethod
    def _checked_output(response: CallResponse, task: Task) -> dict[str, Any]:
        if response.stop is StopKind.REFUSAL:
            raise ProviderFailure(FailureKind.REFUSAL, response.refusal or "refused",
                                  request_id=response.request_id, usage=response.usage)
        if response.stop is StopKind.CONTEXT_EXCEEDED:
            raise ProviderFailure(FailureKind.CONTEXT_TOO_LONG, "model_context_window_exceeded",
                                  request_id=response.request_id, usage=response.usage)
        return structured.extract(response, task.validator())

    def _shrink(self, task: Task, model: str, state: _State) -> bool:
        """Make the input fit, as the task says. False: it cannot be made to fit."""
        if state.shrinks >= MAX_SHRINKS:
            return False
        windows = [self.rt.llm.catalog.info(m).context_window for m in task.models]
        plan = plan_shrink(task, windows, state.model_index, state.text, state.conversation,
                           tightening=state.shrinks)
        state.shrinks += 1
        state.messages, state.repairs, state.partials = (), 0, []
        if plan.model_index is not None:
            state.model_index = plan.model_index
        elif plan.spans is not None:
            state.spans = plan.spans
        elif plan.text is not None and len(plan.text) < len(state.text):
            state.text, state.spans, state.truncated = plan.text, [(0, len(plan.text))], True
            state.conversation = plan.messages
        else:
            return False
        log.info("job input over the window of %s: %s", model,
                 f"model {task.models[state.model_index]}" if plan.model_index is not None
                 else f"{len(state.spans)} pieces" if plan.spans else "shortened")
        return True

    # -- recording --------------------------------------------------------

    def _pending_entry(self, claim: jobs.Claim, task: Task, request: CallRequest, attempt: int) -> LedgerLine:
        """A call's ledger row before it is sent: what it may cost at most (the estimated
        input and every output token it may produce, priced), until it is settled."""
        job, model = claim.job, request.model
        estimate = Usage(input_tokens=request_tokens(request), output_tokens=request.max_tokens)
        return LedgerLine(
            tenant_id=job.tenant_id, job_id=job.id, batch_id=job.batch_id, task=task.name,
            provider=str(self.rt.llm.provider_of(model)), model=model, prompt_version=task.version,
            attempt=attempt, input_tokens=estimate.input_tokens, output_tokens=estimate.output_tokens,
            cost_usd=pricing.cost_usd(model, estimate), outcome=ledger.PENDING)

    def _ledger_entry(self, claim: jobs.Claim, task: Task, model: str, attempt: int,
                      response: CallResponse | None, failure: ProviderFailure | None,
                      outcome: str | None = None) -> LedgerLine:
        usage = (response.usage if response else None) or (failure.usage if failure else None) or Usage()
        job = claim.job
        entry = LedgerLine(
            tenant_id=job.tenant_id, job_id=job.id, batch_id=job.batch_id, task=task.name,
            provider=str(self.rt.llm.provider_of(model)), model=model, prompt_version=task.version,
            attempt=attempt, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
            cost_usd=pricing.cost_usd(model, usage),
            latency_ms=int(response.latency_s * 1000) if response else 0,
            outcome=outcome or ("ok" if failure is None else str(failure.kind)),
            request_id=(response.request_id if response else None) or (failure.request_id if failure else None),
        )
        self._count("promptq_provider_calls_total", provider=entry.provider, model=model, outcome=entry.outcome)
        if failure is not None and failure.kind is FailureKind.REFUSAL:
            # The input is logged only as a hash: documents never reach the logs.
            digest = hashlib.sha256(job.input_text.encode()).hexdigest()
            log.warning("job %s refused by %s (task %s): input sha256=%s", job.id, model, task.name, digest)
            self._count("promptq_refusals_total", task=task.name, model=model)
        return entry

    # -- transitions ------------------------------------------------------

    def _reschedule(self, claim: jobs.Claim, state: _State, wait_s: float, *, reason: str,
                    failure: ProviderFailure | None = None) -> Outcome:
        settings = self.rt.settings
        in_message = wait_s <= settings.max_countdown_s
        moved = jobs.requeue(self.rt.engine, claim, not_before=utcnow() + timedelta(seconds=wait_s),
                             dispatched=in_message, model_index=state.model_index,
                             consecutive_overloads=state.overloads,
                             input_truncated=state.truncated, progress=state.progress,
                             error_type=str(failure.kind) if failure else None,
                             error_message=failure.message if failure else None)
        if not moved:
            return Outcome(skipped=True)
        if in_message:
            dispatch.publish_jobs(settings.redis_url, [(claim.job.id, str(claim.job.priority))],
                                  countdown=wait_s)
        self._event(claim.job.id, "status", {"status": JobStatus.QUEUED, "retry_in_s": round(wait_s, 3),
                                             "reason": reason})
        self._count("promptq_retries_total", reason=reason.split(":")[0])
        return Outcome(retry_in_s=wait_s)

    def _finish(self, claim: jobs.Claim, state: _State, status: JobStatus, *,
                result: dict[str, Any] | None = None, error: tuple[str, str] | None = None,
                **fields: Any) -> Outcome:
        made = self.rt.finisher.finish(jobs.Finish(
            claim, status, result=result, error_type=str(error[0]) if error else None,
            error_message=error[1][:1000] if error else None, input_truncated=state.truncated,
            model_index=state.model_index, **fields))
        if made is None:  # cancelled meanwhile, or the lease lapsed and another worker took over
            return Outcome(skipped=True)
        self._event(claim.job.id, "status", {"status": status})
        self._count("promptq_jobs_finished_total", task=claim.job.task, status=str(status))
        for delivery in made:  # the job's webhook, and its batch's when it completed it
            deliver_now_or_queue(self.rt.webhooks, self.rt.settings, delivery)
        return Outcome(status=status)

    def _count(self, name: str, **labels: str) -> None:
        self.rt.events.count(name, labels)

    def _event(self, job_id: str, event: str, data: dict[str, Any]) -> None:
        self.rt.events.event(job_id, event, data)


@dataclass(frozen=True)
class _Attempt:
    """What one try of a model gave: a failure or an output, and the call's settled
    ledger row (None when no call was made)."""

    failure: ProviderFailure | None
    response: CallResponse | None = None
    output: dict[str, Any] | None = None
    entry: LedgerLine | None = None


class _DeltaEvents:
    """Batches streamed pieces into one event per ~100 ms: one Redis write per token
    would cost more than the token."""

    FLUSH_S = 0.1

    def __init__(self, publish: Callable[[str], None]) -> None:
        self._publish = publish
        self._pieces: list[str] = []
        self._last = monotonic()

    def __call__(self, piece: str) -> None:
        self._pieces.append(piece)
        if monotonic() - self._last >= self.FLUSH_S:
            self.flush()

    def flush(self) -> None:
        if self._pieces:
            self._publish("".join(self._pieces))
            self._pieces.clear()
        self._last = monotonic()
