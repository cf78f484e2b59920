"""Closing a JSON document cut off mid-way, as a model's output is at ``max_tokens``."""

from __future__ import annotations

import json
from typing import Any

_CLOSER = {"{": "}", "[": "]"}


def close_partial(prefix: str) -> Any:
    """The value of the longest complete part of a truncated JSON ``prefix``.

    Incomplete trailing members are dropped and open containers closed, so
    ``'{"a": 1, "b": [2, 3'`` gives ``{"a": 1, "b": [2]}``. Returns ``{}`` when
    nothing usable remains.
    """
    try:
        return json.loads(prefix)
    except ValueError:
        pass
    stack: list[str] = []
    in_string = escaped = False
    best: tuple[int, str] | None = None  # (cut position, closers) of the last safe point
    for i, char in enumerate(prefix):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
            best = (i + 1, "".join(_CLOSER[c] for c in reversed(stack)))
        elif char in "}]":
            if stack:
                stack.pop()
            if stack:
                best = (i + 1, "".join(_CLOSER[c] for c in reversed(stack)))
        elif char == "," and stack:
            best = (i, "".join(_CLOSER[c] for c in reversed(stack)))
    if best is None:
        return {}
    try:
        return json.loads(prefix[: best[0]] + best[1])
    except ValueError:
        return {}
