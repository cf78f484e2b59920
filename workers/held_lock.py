"""A Redis lock held for as long as its work runs: taken with a token of its own and
renewed from a thread, owner-checked, so that a pass longer than the lock's time never
runs beside a second one."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Extend the lock only while it is still this holder's (compare-and-set).
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def run_held(client: redis.Redis, key: str, ttl_ms: int,
             work: Callable[[Callable[[], bool]], T]) -> tuple[bool, T | None]:
    """Run `work(still_held)` if the lock `key` is free, holding it (renewed every third
    of `ttl_ms`) until `work` returns; (False, None) if another holds it. When done, the
    lock is left to lapse `ttl_ms` later (one holder per period, not one after another).
    `still_held()` turns False if a renewal found the lock gone or another's: the work
    should stop at its next step."""
    token = uuid.uuid4().hex
    if not client.set(key, token, nx=True, px=ttl_ms):
        return False, None
    lost = threading.Event()
    done = threading.Event()
    extend = client.register_script(_EXTEND)

    def renew() -> None:
        while not done.wait(ttl_ms / 3000):
            try:
                if not extend(keys=[key], args=[token, ttl_ms]):
                    lost.set()
                    log.warning("lock %s was lost while its work ran", key)
                    return
            except RedisError as exc:  # the next renewal retries; the lock may lapse meanwhile
                log.warning("renewing lock %s: %s", key, type(exc).__name__)

    renewer = threading.Thread(target=renew, name="promptq-lock-renewal", daemon=True)
    renewer.start()
    try:
        return True, work(lambda: not lost.is_set())
    finally:
        done.set()
        renewer.join()
