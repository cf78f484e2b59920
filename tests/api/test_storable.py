"""What can be stored and sent: text without NUL or lone surrogates; JSON values of
bounded depth with finite numbers."""

from __future__ import annotations

import pytest

from promptq.api.storable import json_problem, text_problem


@pytest.mark.parametrize(("value", "problem"), [
    ("", None), ("plain", None), ("é中文😀", None), ("\ufffd\uffff", None), ("\x01\x7f", None),
    ("a\x00b", "NUL"), ("\x00", "NUL"), ("a\ud800", "surrogate"), ("\udfff b", "surrogate"),
    ("😀\udc00", "surrogate"),
])
def test_text_problem(value, problem):
    found = text_problem(value)
    assert (found is None) if problem is None else (problem in found)


def nested(levels, leaf=1):
    for _ in range(levels):
        leaf = [leaf]
    return leaf


@pytest.mark.parametrize(("value", "problem"), [
    ({}, None),
    ({"a": [1, 2.5, None, True, "x", {"b": -0.0}]}, None),
    ({"a": nested(2)}, None),  # 3 levels: the object and two arrays
    ({"a": nested(3)}, "deeper than 3"),
    ({"a": {"b": {"c": "leaf"}}}, None),  # a string is no level
    ({"a": {"b": {"c": {}}}}, "deeper than 3"),
    ({"a\x00": 1}, "key contains a NUL"),
    ({"a": {"\ud800": 1}}, "key contains a lone surrogate"),
    ({"a": ["x", "y\x00"]}, "string contains a NUL"),
    ({"a": float("nan")}, "not finite"),
    ({"a": [float("-inf")]}, "not finite"),
    (nested(100_000), "deeper than 3"),  # iterative: no RecursionError
])
def test_json_problem(value, problem):
    found = json_problem(value, 3)
    assert (found is None) if problem is None else (problem in found), found
