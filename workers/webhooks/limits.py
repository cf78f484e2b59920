"""Concurrency per key (a destination, a tenant) on one event loop: at most `limit`
holders of a key at once, the others waiting in arrival order; a key nobody holds or
waits for is forgotten."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLimit:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots: dict[Hashable, tuple[asyncio.Semaphore, int]] = {}  # key: (its semaphore, users)

    @asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        semaphore, users = self._slots.get(key) or (asyncio.Semaphore(self.limit), 0)
        self._slots[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[key]
            if users == 1:
                del self._slots[key]
            else:
                self._slots[key] = (semaphore, users - 1)

    def __len__(self) -> int:
        """Keys held or waited for."""
        return len(self._slots)
