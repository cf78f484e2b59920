"""What the simulated model answers, independent of the provider's wire format.

A request is reduced to a :class:`Task` (tool call, structured output, prompt
asking for JSON, or prose) with a seed derived from its content; :func:`compose`
turns it into an :class:`Answer`, applying ``max_tokens`` truncation and the
output faults (``malformed_output``, ``refusal``).

For a task the simulator knows (:mod:`promptq.sim.extract`, found by :func:`read_document`)
the answer is read from the document, then degraded by the configured field error
rates (:mod:`promptq.sim.accuracy`); for any other task the schema is filled at random.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

from . import extract
from .accuracy import degrade, prompt_fingerprint, rates_for
from .config import SimConfig
from .partial_json import close_partial
from .schema_fill import SENTENCES, WORDS, break_instance, fill
from .tokens import CHARS_PER_TOKEN, output_tokens, user_texts

TOOL = "tool"
STRUCTURED = "structured"  # provider-enforced schema (output_config / response_format)
JSON = "json"  # the prompt asks for JSON; nothing enforces it
TEXT = "text"

_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)

_OPENERS = (
    "Here is a short summary of the document.",
    "Thanks for the details.",
    "Based on the text provided, here is what stands out.",
    "I reviewed the material you shared.",
)


@dataclass(slots=True)
class Task:
    mode: str
    """One of ``tool``, ``structured``, ``json``, ``text``."""
    seed: int
    schema: Any = None
    tool_name: str | None = None
    max_tokens: int | None = None
    """Output cap in tokens; None = no cap."""
    known: str | None = None
    """The built-in task whose answer is read from the document, if any."""
    document: str = ""
    """The document of a known task (the text between the ``<document>`` tags)."""
    error_rates: dict[str, float] | None = None
    """Field → probability that the field is wrong (see :mod:`promptq.sim.accuracy`)."""
    error_seed: int = 0


def read_document(task: Task, *, name: str | None, model: str, system_text: str, messages: Any,
                  config: SimConfig) -> Task:
    """Mark ``task`` as a known task (answered from its document) when the simulator knows it.

    ``name`` is a name the wire gives besides the tool's (OpenAI's response format name).
    The document is in the last user turn that frames one (a repair re-ask adds turns after it).
    """
    if task.mode == TEXT or task.schema is None:
        return task
    task.known = extract.identify(name or task.tool_name, task.schema)
    if task.known is not None:
        texts = user_texts(messages)
        framed = next((t for t in texts if extract.OPEN in t), texts[0] if texts else "")
        task.document = extract.document_of(framed)
        task.error_rates = rates_for(config.error_rates, model, prompt_fingerprint(system_text),
                                     config.prompt_versions)
        task.error_seed = config.seed
    return task


def _read(task: Task) -> Any:
    """The known task's answer read from the document, with its field errors; None if it does not fit."""
    if task.known is None:
        return None
    value = extract.extract(task.known, task.schema, task.document)
    if value is None or not task.error_rates:
        return value
    degraded = degrade(value, task.schema, task.error_rates, task.document, task.error_seed)
    return degraded if extract.fits(task.schema, degraded) else value


@dataclass(slots=True)
class Answer:
    mode: str
    text: str
    """The prose, the JSON text, or (tool mode) the tool input as JSON text."""
    tool_input: Any
    output_tokens: int
    truncated: bool
    """True when ``max_tokens`` cut the answer short."""
    refusal: bool = False


def content_seed(*parts: Any) -> int:
    """A 64-bit seed from the parts of a request that decide its answer."""
    payload = json.dumps(parts, separators=(",", ":"), sort_keys=False, default=str).encode()
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "big")


def _looks_like_schema(value: Any) -> bool:
    return isinstance(value, dict) and (
        "properties" in value or "$schema" in value or value.get("type") in ("object", "array")
    )


@functools.lru_cache(maxsize=512)
def find_schema(text: str) -> dict | None:
    """A JSON Schema found in ``text``: a fenced ```json block first, else a bare object.

    Cached because system prompts repeat across requests.
    """
    if not text or "{" not in text:
        return None
    for block in _FENCE.findall(text):
        try:
            value = json.loads(block)
        except ValueError:
            continue
        if _looks_like_schema(value):
            return value
    if '"properties"' not in text and '"type"' not in text:
        return None
    decoder = json.JSONDecoder()
    start = text.find("{")
    attempts = 0
    while start != -1 and attempts < 25:
        attempts += 1
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if _looks_like_schema(value):
            return value
        start = text.find("{", start + 1)
    return None


def prompt_json_task(system_text: str, user_text: str, seed: int, max_tokens: int | None) -> Task:
    """The task for a prompt with no tool or enforced format: JSON if it says "JSON", else prose."""
    if "JSON" in user_text or "JSON" in system_text:
        schema = find_schema(user_text) if "```" in user_text else None
        if schema is None:
            schema = find_schema(system_text)
        return Task(JSON, seed, schema=schema, max_tokens=max_tokens)
    return Task(TEXT, seed, max_tokens=max_tokens)


def _prose(rng: random.Random) -> str:
    sentences = [rng.choice(_OPENERS)]
    sentences += rng.sample(SENTENCES, rng.randint(2, 4))
    return " ".join(sentences)


def _generic_json(rng: random.Random) -> dict[str, Any]:
    return {
        "answer": rng.choice(SENTENCES),
        "confidence": round(rng.uniform(0.6, 0.99), 2),
        "keywords": rng.sample(WORDS, 3),
    }


def compose(task: Task, fault: str | None = None, refusal_text: str = "") -> Answer:
    """The answer to ``task``, deterministic in ``task.seed``.

    ``fault`` may be ``malformed_output`` (schema-invalid tool input or
    structured output; fenced or broken JSON text) or ``refusal`` (the
    ``refusal_text`` instead of any output).
    """
    rng = random.Random(task.seed)
    if fault == "refusal":
        return Answer(TEXT, refusal_text, None, output_tokens(refusal_text), False, refusal=True)
    malformed = fault == "malformed_output"
    value: Any = None
    read = _read(task)
    if task.mode in (TOOL, STRUCTURED):
        value = read if read is not None else fill(task.schema if task.schema is not None else {"type": "object"},
                                                   task.seed)
        if malformed:
            value = break_instance(task.schema, value, task.seed)
        text = json.dumps(value)
    elif task.mode == JSON:
        if read is not None:
            value = read
        else:
            value = fill(task.schema, task.seed) if task.schema is not None else _generic_json(rng)
        text = json.dumps(value, indent=2)
        if malformed:
            if rng.random() < 0.5:
                text = f"```json\n{text}\n```\nLet me know if you need anything else."
            else:
                text = text[: max(1, len(text) // 2)]
    else:
        text = _prose(rng)
    tokens = output_tokens(text)
    truncated = task.max_tokens is not None and tokens > task.max_tokens
    if truncated:
        text = text[: task.max_tokens * CHARS_PER_TOKEN]
        tokens = task.max_tokens
        if task.mode == TOOL:
            value = close_partial(text)
    return Answer(task.mode, text, value if task.mode == TOOL else None, tokens, truncated)
