"""Answers read from the document, for the tasks the simulator knows.

A request names its task on the wire: the tool's name (tool use), the response
format's name (OpenAI structured output) or the schema's ``title`` (a JSON-only
prompt); failing those, a schema whose top-level properties are exactly a known
task's. The document is the text between ``<document>`` and ``</document>`` in the
last user turn (our own tags inside it arrive as ``&lt;document``…, and are restored).
An extraction that does not validate against the schema sent is not used: the caller
falls back to random schema filling, as for a task the simulator does not know.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

from . import enrichment, invoice, job_posting

Extractor = Callable[[str], dict[str, Any]]

EXTRACTORS: dict[str, tuple[frozenset[str], Extractor]] = {
    "invoice_extraction": (invoice.FIELDS, invoice.extract),
    "job_posting_extraction": (job_posting.FIELDS, job_posting.extract),
    "document_enrichment": (enrichment.FIELDS, enrichment.extract),
}

OPEN = "<document>"
_FRAME = re.compile(r"<document>\n?(.*)\n?</document>", re.DOTALL)
_ESCAPED_TAG = re.compile(r"&lt;(?=\s*/?\s*(?:document|message)\b)", re.IGNORECASE)
_MARKER = re.compile(r"\[\[sim:[a-z_]+(?::\d+)?\]\]")


def document_of(user_text: str) -> str:
    """The document framed in a user turn (the whole turn if it has no frame), unescaped."""
    match = _FRAME.search(user_text)
    body = match.group(1) if match else user_text
    return _MARKER.sub("", _ESCAPED_TAG.sub("<", body)).strip()


def identify(name: str | None, schema: Any) -> str | None:
    """The known task a request is for, or None."""
    if name in EXTRACTORS:
        return name
    if isinstance(schema, dict):
        title = schema.get("title")
        if title in EXTRACTORS:
            return title
        props = schema.get("properties")
        if isinstance(props, dict):
            for task, (fields, _) in EXTRACTORS.items():
                if set(props) == fields:
                    return task
    return None


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json), format_checker=Draft202012Validator.FORMAT_CHECKER)


def fits(schema: Any, value: Any) -> bool:
    """True when ``value`` validates against ``schema`` (anything fits a missing schema)."""
    return not isinstance(schema, dict) or _validator(json.dumps(schema, sort_keys=True)).is_valid(value)


@functools.lru_cache(maxsize=1024)
def _extracted_json(task: str, document: str) -> str:
    """Cached as JSON text (a fresh copy per caller): retries and benchmarks resend documents."""
    _, extractor = EXTRACTORS[task]
    return json.dumps(extractor(document))


def extract(task: str, schema: Any, document: str) -> dict[str, Any] | None:
    """The extraction of ``document`` for ``task``, or None if it does not fit ``schema``."""
    value = json.loads(_extracted_json(task, document))
    return value if fits(schema, value) else None
