"""The depth scan of a request body: brackets count outside strings only, however the
body is split into chunks (a split may fall inside a string or an escape)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptq.api.json_depth import DepthScanner


def deepest(text: bytes, chunk: int | list[int]) -> int:
    """The greatest depth the scanner sees in `text` fed `chunk` bytes at a time (or cut
    at the given offsets): the lowest cap it accepts."""
    cuts = sorted(set(chunk)) if isinstance(chunk, list) else range(chunk, len(text), chunk)
    parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    for cap in range(0, 100):
        scanner = DepthScanner(cap)
        if all(scanner.feed(part) for part in parts):
            return cap
    raise AssertionError("deeper than 100")


@pytest.mark.parametrize(("text", "depth"), [
    (b"", 0),
    (b"1", 0),
    (b"{}", 1),
    (b"[[],[[]]]", 3),
    (b'{"a":{"b":[1,{"c":2}]}}', 4),
    (b'{"[[[[":"{{{{"}', 1),  # brackets inside strings and keys do not count
    (b'["\\"[[[["]', 1),  # an escaped quote does not end the string
    (b'["\\\\",[[]]]', 3),  # an escaped backslash does not escape the closing quote
    (b'["\\\\\\"[[",[]]', 2),
    (b'["\\u005b[[",[]]', 2),  # a \u escape of a bracket is text
    (b'[{"x":"}}}}]]]]"}, [[[]]]]', 4),
    (b'["[", "]", "[[", ""]', 1),  # quotes side by side: strings that hold brackets
    (b'[""""]', 1),
    (b'{"a":"","b":[""],"c":"[\\"]"}', 2),
    (b'["\\\\\\\\", [[]]]', 3),  # a run of four backslashes: two escapes
    (b'["\\\\\\"[[", [[]]]', 3),
])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_depth_outside_strings_in_any_chunking(text, depth, chunk):
    assert deepest(text, chunk) == depth


def test_the_scan_refuses_as_soon_as_the_cap_is_passed():
    scanner = DepthScanner(3)
    assert scanner.feed(b"[[[") and not scanner.feed(b"[")


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


# Text rich in what the scanner must not be fooled by: quotes, backslashes, brackets.
TRICKY = st.text(st.sampled_from('"\\[]{}ab\n\u00e9') | st.characters(), max_size=12)
VALUES = st.recursive(st.none() | st.integers() | TRICKY,
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
                      max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(VALUES, st.booleans(), st.data())
def test_the_scan_agrees_with_the_parser_however_the_text_is_cut(value, ascii_only, data):
    text = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=8))
    assert deepest(text, cuts) == deepest(text, 1) == depth_of(value)
