"""Scoring an output against the expected one, field by field, with scorers chosen from the schema.

:func:`plan` picks a scorer per top-level field of a task's output schema:

- ``enum``, a ``pattern``, or a string whose name reads as an identifier or a code
  (``*_id``, ``*_number``, ``*code``, ``currency``, ``language``, ``sku``) → :class:`Exact`
- ``format: date`` or a name ``date`` / ``*_date`` → :class:`DateEqual` (ISO 8601)
- any other string → :class:`Text` (casefolded, punctuation and spacing ignored)
- ``number`` / ``integer`` → :class:`Number` (relative tolerance, 0.5 % by default)
- ``boolean`` → :class:`Exact`
- an array → :class:`ListF1` (F1 over items; items of objects are matched on their key fields)
- an object → :class:`Fields` (the mean over its own fields)

Every scorer gives 1.0 when the expected value is null and the output is null too,
and 0.0 when exactly one of them is null. :data:`TASK_OVERRIDES` replaces the choice
for named fields of a task. Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_ID_NAME = re.compile(r"(^|_)(id|number|no|code|sku|currency|language|iso)$")


class Scorer(Protocol):
    def __call__(self, expected: Any, actual: Any) -> float: ...


def normalise_text(value: Any) -> str:
    """Casefolded, accents kept, punctuation dropped, runs of whitespace made one space."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def _nulls(expected: Any, actual: Any) -> float | None:
    """The score when either side is null, else None (the scorer decides)."""
    if expected is None or actual is None:
        return 1.0 if expected is None and actual is None else 0.0
    return None


@dataclass(frozen=True)
class Exact:
    """Equal values (strings compared without surrounding spaces; True is not 1)."""

    def __call__(self, expected: Any, actual: Any) -> float:
        null = _nulls(expected, actual)
        if null is not None:
            return null
        if isinstance(expected, str) and isinstance(actual, str):
            return float(expected.strip() == actual.strip())
        return float(type(expected) is type(actual) and expected == actual)


@dataclass(frozen=True)
class Text:
    """Equal after :func:`normalise_text`."""

    def __call__(self, expected: Any, actual: Any) -> float:
        null = _nulls(expected, actual)
        return null if null is not None else float(normalise_text(expected) == normalise_text(actual))


@dataclass(frozen=True)
class TokenF1:
    """F1 over the normalised words: partial credit for free text such as a summary."""

    def __call__(self, expected: Any, actual: Any) -> float:
        null = _nulls(expected, actual)
        if null is not None:
            return null
        return _f1(normalise_text(expected).split(), normalise_text(actual).split(), Exact())


@dataclass(frozen=True)
class Number:
    """Within ``rel_tol`` of the expected value (``abs_tol`` near zero); a bool is not a number."""

    rel_tol: float = 0.005
    abs_tol: float = 0.005

    def __call__(self, expected: Any, actual: Any) -> float:
        null = _nulls(expected, actual)
        if null is not None:
            return null
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return 0.0
        return float(abs(actual - expected) <= max(self.abs_tol, self.rel_tol * abs(expected)))


def _as_date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class DateEqual:
    """The same calendar day, both read as ISO 8601 (a time part is ignored)."""

    def __call__(self, expected: Any, actual: Any) -> float:
        null = _nulls(expected, actual)
        if null is not None:
            return null
        wanted, got = _as_date(expected), _as_date(actual)
        return float(wanted is not None and wanted == got)


@dataclass(frozen=True)
class Fields:
    """The mean of per-field scores of an object; an expected empty object needs an empty one."""

    scorers: Mapping[str, Scorer]

    def __call__(self, expected: Any, actual: Any) -> float:
        null = _nulls(expected, actual)
        if null is not None:
            return null
        if not isinstance(actual, dict):
            return 0.0
        scores = field_scores(expected, actual, self.scorers)
        return sum(scores.values()) / len(scores) if scores else float(expected == actual)


@dataclass(frozen=True)
class Matches:
    """Two items match when every key field scores 1 (all fields when ``keys`` is empty)."""

    scorers: Mapping[str, Scorer]
    keys: tuple[str, ...] = ()

    def __call__(self, expected: Any, actual: Any) -> float:
        if not isinstance(expected, dict) or not isinstance(actual, dict):
            return float(expected == actual)
        keys = self.keys or tuple(self.scorers) or tuple(expected)
        return float(all(self.scorers.get(k, Exact())(expected.get(k), actual.get(k)) == 1.0 for k in keys))


def _f1(expected: list[Any], actual: list[Any], match: Scorer) -> float:
    """F1 of a one-to-one greedy matching; two empty lists agree."""
    if not expected and not actual:
        return 1.0
    if not expected or not actual:
        return 0.0
    unused = list(range(len(actual)))
    hits = 0
    for wanted in expected:
        for j in unused:
            if match(wanted, actual[j]) == 1.0:
                unused.remove(j)
                hits += 1
                break
    if hits == 0:
        return 0.0
    precision, recall = hits / len(actual), hits / len(expected)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class ListF1:
    """F1 over the items: precision and recall of a one-to-one matching by ``item``."""

    item: Scorer = field(default_factory=Exact)

    def __call__(self, expected: Any, actual: Any) -> float:
        null = _nulls(expected, actual)
        if null is not None:
            return null
        if not isinstance(actual, list):
            return 0.0
        return _f1(list(expected), actual, self.item)


def _kind(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        concrete = [k for k in kind if k != "null"]
        return concrete[0] if concrete else None
    if kind is None and "properties" in schema:
        return "object"
    return kind


def scorer_for(name: str, schema: Mapping[str, Any]) -> Scorer:
    """The scorer the schema of a field calls for (see the module's table)."""
    kind = _kind(schema)
    if "enum" in schema or "const" in schema or kind == "boolean":
        return Exact()
    if kind in ("number", "integer"):
        return Number()
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        if _kind(items) == "object":
            return ListF1(Matches(plan(items)))
        return ListF1(_scalar_match(name, items))
    if kind == "object":
        return Fields(plan(schema))
    if schema.get("format") == "date" or name == "date" or name.endswith("_date"):
        return DateEqual()
    if "pattern" in schema or _ID_NAME.search(name):
        return Exact()
    return Text()


def _scalar_match(name: str, items: Mapping[str, Any]) -> Scorer:
    chosen = scorer_for(name, items) if items else Text()
    return chosen if not isinstance(chosen, Exact) or "enum" in items else Text()


def plan(schema: Mapping[str, Any], overrides: Mapping[str, Scorer] | None = None) -> dict[str, Scorer]:
    """A scorer per top-level property of ``schema``, ``overrides`` winning."""
    props = schema.get("properties") or {}
    chosen = {name: scorer_for(name, sub if isinstance(sub, dict) else {}) for name, sub in props.items()}
    chosen.update(overrides or {})
    return chosen


def field_scores(expected: Mapping[str, Any], actual: Mapping[str, Any], scorers: Mapping[str, Scorer]) -> dict[str, float]:
    """A score in [0, 1] per field the expected output has (a field missing from ``actual`` is null)."""
    return {name: scorer(expected.get(name), actual.get(name)) for name, scorer in scorers.items() if name in expected}


@dataclass(frozen=True)
class Score:
    fields: dict[str, float]
    """Field name → score in [0, 1]."""
    overall: float
    """The mean of the field scores."""


def score(expected: Mapping[str, Any], actual: Any, scorers: Mapping[str, Scorer]) -> Score:
    """Field scores and their mean; an output that is not an object scores 0 on every field."""
    if not isinstance(actual, Mapping):
        fields = {name: 0.0 for name in scorers if name in expected}
    else:
        fields = field_scores(expected, actual, scorers)
    return Score(fields, sum(fields.values()) / len(fields) if fields else 0.0)


_LINE_ITEM_FIELDS: dict[str, Scorer] = {"description": Text(), "quantity": Number(), "unit_price": Number(),
                                        "total": Number()}

# Per task: field → scorer, where the schema alone would choose less well.
TASK_OVERRIDES: dict[str, dict[str, Scorer]] = {
    # a line item is found when its description and amount agree; quantity and unit price may be absent
    "invoice_extraction": {"line_items": ListF1(Matches(_LINE_ITEM_FIELDS, keys=("description", "total")))},
    "document_enrichment": {"summary": TokenF1(), "tags": ListF1(Text())},
}


def task_plan(task: str, schema: Mapping[str, Any]) -> dict[str, Scorer]:
    """The scorers of a task's output schema, with the task's overrides."""
    return plan(schema, TASK_OVERRIDES.get(task))
