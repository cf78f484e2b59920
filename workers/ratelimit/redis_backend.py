"""Redis backend: one bucket state shared by every worker process on every host.

Each bucket operation is one Lua script (``*.lua`` beside this file, after
``_prelude.lua``), so it is atomic and runs on Redis server time; learning a
limit is one MULTI (HSET and PEXPIRE), reading them one HGETALL. Keys, for
bucket ``B`` of provider ``P`` (the hash tag keeps all three in one cluster slot)::

    {prefix}:ratelimit:{P/B}:buckets    hash: dimension -> full_at (ms, server time);
                                        expires once every bucket would be full
    {prefix}:ratelimit:{P/B}:cooldown   "1" with a PX expiry: the cooldown left
    {prefix}:ratelimit:{P/B}:learned    hash: dimension -> limit per minute the provider
                                        advertised; expires ``ttl_s`` after the last learn

Needs Redis >= 5 (scripts replicated by effects, so they may read ``TIME``
before writing). Redis errors are not caught here: whether to call a provider without the
limiter is the worker's decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources

import redis

from .backend import BucketKey
from .bucket import Charge, Decision
from .limits import Dimension

KEY_SPACE = "ratelimit"


def _script(name: str) -> str:
    here = resources.files(__package__)
    return here.joinpath("_prelude.lua").read_text() + "\n" + here.joinpath(f"{name}.lua").read_text()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _argv(charges: Sequence[Charge]) -> list[str | float]:
    """Per charge: dimension, rate (units per ms), capacity (units), amount (units)."""
    argv: list[str | float] = []
    for c in charges:
        argv += [str(c.spec.dimension), c.spec.rate_per_s / 1000.0, float(c.spec.capacity), float(c.amount)]
    return argv


class RedisBackend:
    """``client``: a ``redis.Redis`` (either ``decode_responses``); ``prefix``: the
    deployment's key prefix (``Settings.redis_prefix``)."""

    def __init__(self, client: redis.Redis, prefix: str = "promptq") -> None:
        self._client = client
        self._prefix = prefix
        self._reserve = client.register_script(_script("reserve"))
        self._give_back = client.register_script(_script("give_back"))
        self._lower_to = client.register_script(_script("lower_to"))
        self._settle = client.register_script(_script("settle"))
        self._cooldown = client.register_script(resources.files(__package__).joinpath("cooldown.lua").read_text())

    def _base(self, key: BucketKey) -> str:
        return f"{self._prefix}:{KEY_SPACE}:{{{key.provider}/{key.bucket}}}"

    def _keys(self, key: BucketKey) -> tuple[str, str]:
        base = self._base(key)
        return f"{base}:buckets", f"{base}:cooldown"

    def reserve(self, key: BucketKey, charges: Sequence[Charge]) -> Decision:
        granted, wait_ms, reason, now_ms = self._reserve(keys=list(self._keys(key)), args=_argv(charges))
        return Decision(
            granted=bool(granted),
            at_s=float(now_ms) / 1000.0,
            wait_s=float(wait_ms) / 1000.0,
            reason=_text(reason),
        )

    def give_back(self, key: BucketKey, charges: Sequence[Charge]) -> None:
        if charges:
            self._give_back(keys=[self._keys(key)[0]], args=_argv(charges))

    def lower_to(self, key: BucketKey, ceilings: Sequence[Charge]) -> None:
        if ceilings:
            self._lower_to(keys=[self._keys(key)[0]], args=_argv(ceilings))

    def settle(self, key: BucketKey, corrections: Sequence[Charge], ceilings: Sequence[Charge]) -> None:
        if corrections and ceilings:
            given = _argv(corrections)
            self._settle(keys=[self._keys(key)[0]], args=[len(given), *given, *_argv(ceilings)])
        else:
            self.give_back(key, corrections)
            self.lower_to(key, ceilings)

    def cooldown(self, key: BucketKey, seconds: float) -> None:
        ms = int(seconds * 1000 + 0.999)  # round up: never end a cooldown early
        if ms > 0:
            self._cooldown(keys=[self._keys(key)[1]], args=[ms])

    def cooldown_remaining(self, key: BucketKey) -> float:
        return max(0, int(self._client.pttl(self._keys(key)[1]))) / 1000.0

    def learn(self, key: BucketKey, per_minute: Mapping[Dimension, int], ttl_s: float) -> None:
        if not per_minute:
            return
        name = f"{self._base(key)}:learned"
        with self._client.pipeline(transaction=True) as pipe:  # one round trip, atomic
            pipe.hset(name, mapping={str(d): int(v) for d, v in per_minute.items()})
            pipe.pexpire(name, max(1, int(ttl_s * 1000)))
            pipe.execute()

    def learned(self, key: BucketKey) -> dict[Dimension, int]:
        found: dict[Dimension, int] = {}
        for field, value in self._client.hgetall(f"{self._base(key)}:learned").items():
            try:  # written by us, but skip what another version may have left
                dimension, limit = Dimension(_text(field)), int(_text(value))
            except ValueError:
                continue
            if limit > 0:
                found[dimension] = limit
        return found
