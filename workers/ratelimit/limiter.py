"""The rate limiter the worker calls: reserve before a provider call, settle after.

    limiter = RateLimiter(RedisBackend(client, prefix="promptq"), load_limits(settings.rate_limits_file))
    with limiter.acquire("anthropic", model, input_tokens=1200, output_tokens=1024) as r:
        response = call_provider()                  # on a connection refusal: limiter.release(r)
        limiter.settle_with_headers(r, input_tokens=usage.input_tokens,
                                    output_tokens=usage.output_tokens, headers=response.headers)
    # a 429: limiter.cooldown("anthropic", model, seconds=retry_after)

(`settle_with_headers` is `r.settle(...)` then `observe_headers(...)` in one backend call.)

With ``lease_s`` > 0 (the worker's default: ``Settings.rate_limit_lease_s``) a process
reserves in the shared backend for its calls of the next ``lease_s`` seconds at once
and settles them locally (``lease.py``): under load, most calls then cost no backend
round trip.

Token counts are what the provider counts against its limits: the estimate
before the call (input tokens, and ``max_tokens`` for output), the usage after.

Which limits: those the table configures, and for every dimension it does not
configure, the limit the provider advertises in its rate-limit headers (learned
by ``observe_headers``, shared through the backend, forgotten after
``learned_ttl_s`` without a response that says it). So a deployment with no
table paces itself to its organisation's real tier from its first response on,
and a configured limit always beats an advertised one. Both go through the
table's ``BucketPolicy`` (target fraction, burst).
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from .backend import BucketKey, RateLimitBackend
from .bucket import BucketSpec, Charge, Decision, bucket_specs, charges_for
from .errors import CapacityWait
from .headers import Observation, parse_rate_limit_headers
from .lease import Lease, lease_size
from .limits import Dimension, Limits
from .table import LimitTable

# A learned limit is forgotten this long (seconds) after the last response that
# advertised it: a deployment that stopped calling the model starts fresh.
LEARNED_TTL_S = 600.0
# Each process re-reads a bucket's learned limits from the backend at most this
# often (seconds): learned limits change (another worker's first response, a
# tier upgrade), yet the reserve path must stay one backend call.
LEARNED_REFRESH_S = 1.0

_NONE_LEARNED: Mapping[Dimension, int] = {}  # never mutated


class Reservation:
    """Capacity taken for one call, on every limited dimension at once.

    ``input_tokens``/``output_tokens``: what was reserved (tokens);
    ``granted_at_s``: the backend's clock when granted (seconds; Redis server
    time for the Redis backend). Closed by the first ``settle`` or ``release``;
    later ones do nothing and return False.
    """

    def __init__(self, limiter: RateLimiter, provider: str, model: str, key: BucketKey,
                 charges: tuple[Charge, ...], input_tokens: int, output_tokens: int,
                 granted_at_s: float, lease: Lease | None = None) -> None:
        self.provider = provider
        self.model = model
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.granted_at_s = granted_at_s
        self.closed = False
        self._limiter = limiter
        self._key = key
        self._charges = charges
        self._lease = lease  # handed out of this lease; None: reserved in the backend alone

    def settle(self, input_tokens: int, output_tokens: int) -> bool:
        """Correct the reservation by the actual usage (tokens)."""
        return self._limiter.settle(self, input_tokens=input_tokens, output_tokens=output_tokens)

    def release(self) -> bool:
        """The call never reached the provider: give everything back."""
        return self._limiter.release(self)

    def __repr__(self) -> str:
        return (f"Reservation({self.provider}/{self.model}, in={self.input_tokens}, "
                f"out={self.output_tokens}, closed={self.closed})")


class RateLimiter:
    """Per provider and model, requests and tokens per minute, shared through ``backend``.

    See ``bucket.py`` for the algorithm and ``BucketPolicy`` for the burst.
    ``learned_ttl_s``: how long a learned limit outlives the last response that
    advertised it; ``learned_refresh_s``: how stale this process's copy of the
    learned limits may be (seconds both), on ``clock`` (seconds, monotonic;
    default ``time.monotonic``; a simulation may pass its own). ``lease_s``: how long a
    lease of this process's calls lasts (seconds; 0: every call reserves in the backend
    alone; see ``lease.py``).
    """

    def __init__(self, backend: RateLimitBackend, limits: LimitTable, *,
                 learned_ttl_s: float = LEARNED_TTL_S, learned_refresh_s: float = LEARNED_REFRESH_S,
                 lease_s: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._backend = backend
        self._clock = clock
        self._limits = limits
        self._learned_ttl_s = learned_ttl_s
        self._learned_refresh_s = learned_refresh_s
        # (provider, model) -> its bucket and configured limits per minute; static
        self._configured: dict[tuple[str, str], tuple[BucketKey, dict[Dimension, int]]] = {}
        # bucket -> (when read, monotonic s; learned limits per minute), replaced, never mutated
        self._learned: dict[BucketKey, tuple[float, Mapping[Dimension, int]]] = {}
        # bucket -> (when this process last wrote learned limits, monotonic s; what it wrote)
        self._learn_written: dict[BucketKey, tuple[float, Mapping[Dimension, int]]] = {}
        # (provider, model) -> (the learned limits they were built from, the buckets)
        self._specs: dict[tuple[str, str], tuple[Mapping[Dimension, int], tuple[BucketSpec, ...]]] = {}
        self._lease_s = lease_s
        self._leases: dict[BucketKey, Lease] = {}  # the current lease of each bucket
        self._renewing: set[BucketKey] = set()  # buckets whose next lease a thread is taking
        self._lease_lock = threading.Lock()  # held over `_leases`, `_renewing` and the leases

    @property
    def lease_s(self) -> float:
        """How long a lease of this process's calls lasts (seconds; 0: no leases)."""
        return self._lease_s

    def reserve(self, provider: str, model: str, *, input_tokens: int, output_tokens: int) -> Reservation:
        """Take one request and the estimated tokens now, or raise ``CapacityWait``."""
        _check_tokens(input_tokens, output_tokens)
        key = self._key(provider, model)
        specs = self._specs_for(provider, model)
        charges = charges_for(specs, input_tokens, output_tokens)
        if self._lease_s > 0:
            return self._reserve_leased(provider, model, key, specs, charges, input_tokens, output_tokens)
        return self._reserve_alone(provider, model, key, charges, input_tokens, output_tokens)

    @contextmanager
    def acquire(self, provider: str, model: str, *, input_tokens: int, output_tokens: int,
                max_wait_s: float = 2.0) -> Iterator[Reservation]:
        """Reserve, sleeping up to ``max_wait_s`` seconds for capacity.

        A wait longer than what is left of ``max_wait_s`` raises ``CapacityWait``
        at once, without sleeping, so that the worker slot is freed. Leaving the
        block refunds nothing (the call was presumably sent): settle or release.
        """
        deadline = time.monotonic() + max_wait_s
        while True:
            try:
                reservation = self.reserve(provider, model, input_tokens=input_tokens, output_tokens=output_tokens)
                break
            except CapacityWait as wait:
                left = deadline - time.monotonic()
                if wait.wait_s > left:
                    raise
                # a little jitter so that waiters woken together do not all collide
                time.sleep(min(left, wait.wait_s + random.uniform(0, min(0.05, 0.1 * wait.wait_s))))
        yield reservation

    def _reserve_leased(self, provider: str, model: str, key: BucketKey, specs: tuple[BucketSpec, ...],
                        charges: tuple[Charge, ...], input_tokens: int, output_tokens: int) -> Reservation:
        """Hand the call out of the bucket's lease, or take the next lease for it.

        No thread waits for another here: 200 threads queueing on one lock, each
        needing the GIL to go on, cost more than the round trip the lease saves (a
        convoy, seen in a py-spy dump: 180 of 200 threads waiting on the lock). A
        thread that finds the lease busy, or another thread taking the next one,
        reserves its call in the backend alone, as without leases."""
        now = self._clock()
        previous: Lease | None = None
        if not self._lease_lock.acquire(blocking=False):
            return self._reserve_alone(provider, model, key, charges, input_tokens, output_tokens)
        try:
            lease = self._leases.get(key)
            if (lease is not None and lease.specs is specs and now - lease.taken_s < self._lease_s
                    and lease.take(charges)):
                return Reservation(self, provider, model, key, charges, input_tokens, output_tokens,
                                   lease.at_s + (now - lease.taken_s), lease)
            renewing = key not in self._renewing
            if renewing:
                self._renewing.add(key)
                previous = self._leases.pop(key, None)
        finally:
            self._lease_lock.release()
        if not renewing:
            return self._reserve_alone(provider, model, key, charges, input_tokens, output_tokens)
        try:
            if previous is not None:
                self._give_back_lease(key, previous)
            size = (lease_size(charges, previous.handed_out, now - previous.taken_s, self._lease_s)
                    if previous is not None else charges)
            decision = self._backend.reserve(key, size)
            if not decision.granted and size != charges:  # no room for more than this call
                size = charges
                decision = self._backend.reserve(key, size)
            _raise_unless_granted(decision)
            lease = Lease.of(now, decision.at_s, specs, size)
            lease.take(charges)
            with self._lease_lock:
                self._leases[key] = lease
            return Reservation(self, provider, model, key, charges, input_tokens, output_tokens,
                               decision.at_s, lease)
        finally:
            with self._lease_lock:
                self._renewing.discard(key)

    def _reserve_alone(self, provider: str, model: str, key: BucketKey, charges: tuple[Charge, ...],
                       input_tokens: int, output_tokens: int) -> Reservation:
        """The call reserved in the backend by itself (no lease)."""
        decision = self._backend.reserve(key, charges)
        _raise_unless_granted(decision)
        return Reservation(self, provider, model, key, charges, input_tokens, output_tokens, decision.at_s)

    def _give_back_lease(self, key: BucketKey, lease: Lease) -> None:
        """What is left of an ended lease back to its bucket, with the latest ceilings."""
        remainder = lease.remainder()
        if remainder or lease.ceilings:
            self._backend.settle(key, remainder, lease.ceilings)

    def _into_lease(self, reservation: Reservation, corrections: Sequence[Charge],
                    ceilings: Sequence[Charge] = ()) -> bool:
        """Keep a reservation's corrections (and the latest ceilings) in the lease it was
        handed out of, while that lease lasts; False: the backend takes them (the lease
        ended, or another thread is in it: no thread waits for another)."""
        if reservation._lease is None:
            return False
        if not corrections and not ceilings:
            return True  # nothing to keep
        if not self._lease_lock.acquire(blocking=False):
            return False
        try:
            if self._leases.get(reservation._key) is not reservation._lease:
                return False
            reservation._lease.keep(corrections, ceilings)
            return True
        finally:
            self._lease_lock.release()

    def settle(self, reservation: Reservation, *, input_tokens: int, output_tokens: int) -> bool:
        """Refund what was reserved beyond the actual usage, or charge what it exceeded."""
        _check_tokens(input_tokens, output_tokens)
        if reservation.closed:
            return False
        reservation.closed = True
        corrections = _corrections(reservation, input_tokens, output_tokens)
        if not self._into_lease(reservation, corrections):
            self._backend.give_back(reservation._key, corrections)
        return True

    def settle_with_headers(self, reservation: Reservation, *, input_tokens: int, output_tokens: int,
                            headers: Mapping[str, str], now: dt.datetime | None = None,
                            ) -> dict[Dimension, Observation]:
        """``settle`` and ``observe_headers`` for the response of the reservation's call,
        with one backend call for both (learning a limit and a cooldown, when the
        headers call for them, cost their own). Returns what was parsed."""
        _check_tokens(input_tokens, output_tokens)
        if reservation.closed:
            return self.observe_headers(reservation.provider, reservation.model, headers, now=now)
        reservation.closed = True
        observations, ceilings = self._follow(reservation.provider, reservation.model, headers, now)
        corrections = _corrections(reservation, input_tokens, output_tokens)
        if not self._into_lease(reservation, corrections, ceilings):
            self._backend.settle(reservation._key, corrections, ceilings)
        return observations

    def release(self, reservation: Reservation) -> bool:
        """The call never reached the provider: refund the request and every token."""
        if reservation.closed:
            return False
        reservation.closed = True
        if not self._into_lease(reservation, reservation._charges):
            self._backend.give_back(reservation._key, reservation._charges)
        return True

    def cooldown(self, provider: str, model: str, *, seconds: float) -> None:
        """Stop every worker's reservations for the model for ``seconds`` (e.g. a
        429's retry-after); a longer cooldown already running is kept. This process
        stops at once; the others when their lease ends (``lease_s`` at most)."""
        self._cooldown(self._key(provider, model), seconds)

    def _cooldown(self, key: BucketKey, seconds: float) -> None:
        self._backend.cooldown(key, seconds)
        if self._lease_s > 0:
            with self._lease_lock:
                lease = self._leases.pop(key, None)
            if lease is not None:
                self._give_back_lease(key, lease)

    def cooldown_remaining(self, provider: str, model: str) -> float:
        """Seconds left of the model's cooldown, 0 when none."""
        return self._backend.cooldown_remaining(self._key(provider, model))

    def observe_headers(self, provider: str, model: str, headers: Mapping[str, str], *,
                        now: dt.datetime | None = None) -> dict[Dimension, Observation]:
        """Follow the provider's rate-limit headers (either provider's naming).

        Learn: every advertised ``limit`` is recorded for the model's bucket, for
        every worker (refreshing the ones recorded before), and limits each
        dimension the table does not configure from then on. Anthropic's
        ``tokens-*`` pair is left out when its input/output pairs are there: it
        repeats the tighter of them, it is no limit on their sum.

        Lower: a limited dimension (configured or learned) whose ``remaining`` is
        below our bucket's level is lowered to it (never raised: our own
        accounting stays the ceiling).

        Cool down: a dimension with 0 remaining stops the model for every worker,
        at most until its reset, and at most for the time the provider takes to
        refill ONE unit (60 / limit per minute seconds) when the limit is known
        (advertised, else ours). The reset both providers send is when their
        bucket is FULL again, up to a minute away: waiting for it would stop
        the fleet for up to a minute where one unit, enough for the next call,
        comes back in 60 / limit seconds; the buckets (lowered to 0 just above)
        then pace what follows. ``now``: reference time when the response has no
        ``date`` header (default: this host's clock). Returns what was parsed.
        """
        observations, ceilings = self._follow(provider, model, headers, now)
        key = self._key(provider, model)
        if ceilings and self._lease_s > 0:
            # What this process leased is no more than the provider has left. The bucket
            # is lowered below, now: the lease does not keep the ceilings to lower it again.
            with self._lease_lock:
                lease = self._leases.get(key)
                if lease is not None:
                    lease.lower_to(ceilings)
        self._backend.lower_to(key, ceilings)
        return observations

    def _follow(self, provider: str, model: str, headers: Mapping[str, str], now: dt.datetime | None,
                ) -> tuple[dict[Dimension, Observation], list[Charge]]:
        """Parse, learn, cool down (see ``observe_headers``); returns what was parsed and
        the ceilings to lower the buckets to."""
        observations = parse_rate_limit_headers(headers, now or dt.datetime.now(dt.UTC))
        if not observations:  # nothing advertised: no round trip to the backend
            return observations, []
        key, configured = self._configured_for(provider, model)
        advertised = _advertised_limits(observations)
        if advertised:
            self._learn(key, advertised)
        specs = {s.dimension: s for s in self._specs_for(provider, model)}
        ceilings = [Charge(specs[d], o.remaining) for d, o in observations.items()
                    if d in specs and o.remaining is not None]
        cooldowns = []
        for d, o in observations.items():
            if o.remaining == 0 and o.reset_s:
                per_minute = o.limit or configured.get(d) or self._learned_for(key).get(d)
                cooldowns.append(min(o.reset_s, 60.0 / per_minute) if per_minute else o.reset_s)
        if cooldowns:
            self._cooldown(key, max(cooldowns))
        return observations, ceilings

    def _learn(self, key: BucketKey, advertised: Mapping[Dimension, int]) -> None:
        """Record advertised limits for every worker. The same limits this process wrote
        less than a tenth of ``learned_ttl_s`` ago are not written again: every response
        carries them, and one write in that time keeps them from being forgotten."""
        now = self._clock()
        written = self._learn_written.get(key)
        if written is not None and written[1] == advertised and now - written[0] < self._learned_ttl_s / 10:
            return
        self._backend.learn(key, advertised, self._learned_ttl_s)
        self._learn_written[key] = (now, dict(advertised))
        self._remember_learned(key, advertised)

    def _key(self, provider: str, model: str) -> BucketKey:
        return self._configured_for(provider, model)[0]

    def _configured_for(self, provider: str, model: str) -> tuple[BucketKey, dict[Dimension, int]]:
        found = self._configured.get((provider, model))
        if found is None:
            found = (BucketKey(provider, self._limits.bucket_for(provider, model)),
                     self._limits.for_model(provider, model).per_minute())
            self._configured[provider, model] = found
        return found

    def _learned_for(self, key: BucketKey) -> Mapping[Dimension, int]:
        """The bucket's learned limits, read from the backend at most once per
        ``learned_refresh_s``; the same object while they do not change."""
        now = self._clock()
        cached = self._learned.get(key)
        if cached is not None and now - cached[0] < self._learned_refresh_s:
            return cached[1]
        learned: Mapping[Dimension, int] = self._backend.learned(key)
        if cached is not None and learned == cached[1]:
            learned = cached[1]
        self._learned[key] = (now, learned)
        return learned

    def _remember_learned(self, key: BucketKey, advertised: Mapping[Dimension, int]) -> None:
        """This process applies what it just learned at once, without a read; the
        others within ``learned_refresh_s``."""
        cached = self._learned.get(key)
        if cached is None:
            self._learned[key] = (self._clock(), dict(advertised))
        elif any(cached[1].get(d) != v for d, v in advertised.items()):
            self._learned[key] = (cached[0], {**cached[1], **advertised})

    def _specs_for(self, provider: str, model: str) -> tuple[BucketSpec, ...]:
        key, configured = self._configured_for(provider, model)
        # with every dimension configured nothing can be learned: no backend read
        learned = _NONE_LEARNED if len(configured) == len(Dimension) else self._learned_for(key)
        cached = self._specs.get((provider, model))
        if cached is not None and cached[0] is learned:
            return cached[1]
        specs = bucket_specs(Limits.of({**learned, **configured}), self._limits.policy)
        self._specs[provider, model] = (learned, specs)
        return specs


def _raise_unless_granted(decision: Decision) -> None:
    if not decision.granted:
        raise CapacityWait(decision.wait_s, decision.reason)


def _corrections(reservation: Reservation, input_tokens: int, output_tokens: int) -> list[Charge]:
    """What to give back (negative: charge more) so that the reservation matches the usage."""
    actual = charges_for([c.spec for c in reservation._charges], input_tokens, output_tokens)
    return [Charge(r.spec, r.amount - a.amount) for r, a in zip(reservation._charges, actual, strict=True)
            if r.amount != a.amount]


def _advertised_limits(observations: Mapping[Dimension, Observation]) -> dict[Dimension, int]:
    """The limits per minute a response advertises, by dimension."""
    limits = {d: o.limit for d, o in observations.items() if o.limit}
    if Dimension.INPUT_TOKENS in observations or Dimension.OUTPUT_TOKENS in observations:
        # Anthropic: tokens-* is the tighter of input-tokens-* and output-tokens-*
        limits.pop(Dimension.TOKENS, None)
    return limits


def _check_tokens(input_tokens: int, output_tokens: int) -> None:
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError(f"token counts must be >= 0, not {input_tokens}, {output_tokens}")
