"""Webhook attempts per destination and per tenant: at most the limit at once, the rest wait."""

from __future__ import annotations

import asyncio

import pytest

from promptq.workers.webhooks.delivery import destination
from promptq.workers.webhooks.limits import KeyedLimit


@pytest.mark.parametrize(("url", "expected"), [
    ("https://Hooks.Example/in", "hooks.example:443"),
    ("http://hooks.example/in", "hooks.example:80"),
    ("http://hooks.example:8080/in?x=1", "hooks.example:8080"),
    ("https://hooks.example:443/other", "hooks.example:443"),  # the same destination as the first
    ("http://[::1]:9000/in", "::1:9000"),
    ("http://hooks.example:notaport/in", "hooks.example:80"),
])
def test_destination(url, expected):
    assert destination(url) == expected


def test_a_key_never_has_more_holders_than_its_limit_and_other_keys_do_not_wait():
    async def scenario() -> tuple[dict[str, int], list[str], int]:
        limit = KeyedLimit(2)
        now: dict[str, int] = {"a": 0, "b": 0}
        most: dict[str, int] = {"a": 0, "b": 0}
        finished: list[str] = []
        release = asyncio.Event()

        async def hold(key: str, name: str) -> None:
            async with limit.slot(key):
                now[key] += 1
                most[key] = max(most[key], now[key])
                if key == "a":
                    await release.wait()
                await asyncio.sleep(0)
                now[key] -= 1
            finished.append(name)

        tasks = [asyncio.create_task(hold("a", f"a{i}")) for i in range(5)]
        tasks.append(asyncio.create_task(hold("b", "b0")))
        await asyncio.sleep(0.05)
        assert finished == ["b0"], "b is not held up by a's waiters"
        release.set()
        await asyncio.gather(*tasks)
        return most, finished, len(limit)

    most, finished, keys_left = asyncio.run(scenario())
    assert most == {"a": 2, "b": 1}
    assert finished[1:] == [f"a{i}" for i in range(5)], "waiters go in arrival order"
    assert keys_left == 0, "a key nobody holds or waits for is forgotten"
