"""What the API accepts it can store and send: text without NUL or lone surrogates,
JSON values of bounded depth with finite numbers.

PostgreSQL refuses a NUL (\\u0000) in text and jsonb; a lone surrogate ("\\ud800", valid
as a JSON escape) is not UTF-8, so no database, encoder or webhook can carry it; a NaN
or Infinity (which Python's json module reads) is not JSON; and deep nesting outruns
the serialisers' recursion limits. Every string a request carries (body fields, path
and query parameters, headers stored with a job) passes `storable_text`; metadata
passes `json_problem`. Messages never quote the value: it may be a document or a secret.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored and sent as text, or None."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000)"
    if not value.isascii() and _SURROGATE.search(value):
        return "contains a lone surrogate (\\ud800-\\udfff), which is not UTF-8 text"
    return None


def storable_text(value: str) -> str:
    """A pydantic after-validator: `value`, or ValueError naming the problem."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# A str that can be stored and sent: for request fields, path, query and header parameters.
StorableStr = Annotated[str, AfterValidator(storable_text)]


def json_problem(value: Any, max_depth: int) -> str | None:
    """Why a JSON value (as json.loads builds it) cannot be stored and sent, or None:
    nesting over `max_depth` levels (the outer object or array is level 1), a key or
    string `text_problem` refuses, or a number that is not finite. Iterative: a deep
    value must not exhaust the stack that is checking it."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return f"a string {problem}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "a number is not finite (NaN or Infinity is not JSON)"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return f"nests deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key in item:
                    problem = text_problem(key) if isinstance(key, str) else None
                    if problem is not None:
                        return f"a key {problem}"
                pending.extend((v, depth + 1) for v in item.values())
            else:
                pending.extend((v, depth + 1) for v in item)
    return None
