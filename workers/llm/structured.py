"""Output structure: parse, strip fences, validate, and build the corrective re-ask."""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator

from promptq.prompts.output_rules import json_only_instructions
from promptq.workers.llm.errors import FailureKind, ProviderFailure
from promptq.workers.llm.types import CallResponse, StopKind, Turn

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?\s*```", re.DOTALL)
MAX_ERRORS_SHOWN = 5
__all__ = ["extract", "json_only_instructions", "repair_turns", "strip_fences", "validation_errors"]


def strip_fences(text: str) -> str:
    """The JSON inside a ```json fence when the model added one, else the text trimmed."""
    match = _FENCE.search(text)
    if match:
        return match.group(1).strip()
    text = text.strip()
    # Prose around a bare object: keep the outermost braces.
    start, end = text.find("{"), text.rfind("}")
    if start > 0 and end > start:
        return text[start:end + 1]
    return text


def validation_errors(validator: Draft202012Validator, value: Any) -> list[str]:
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    return [f"{'/'.join(str(p) for p in e.path) or '(root)'}: {e.message}" for e in errors]


def extract(response: CallResponse, validator: Draft202012Validator) -> dict[str, Any]:
    """The validated output of a completed call; ProviderFailure(INVALID_OUTPUT) otherwise."""
    if response.stop is StopKind.MAX_TOKENS:
        raise ProviderFailure(FailureKind.MAX_TOKENS, "output was cut by the max_tokens budget",
                              usage=response.usage)
    if response.tool_input is not None:
        value: Any = response.tool_input
    else:
        try:
            value = json.loads(strip_fences(response.text))
        except json.JSONDecodeError as exc:
            raise ProviderFailure(FailureKind.INVALID_OUTPUT, f"output is not JSON: {exc.msg}",
                                  usage=response.usage) from None
    errors = validation_errors(validator, value)
    if errors:
        raise ProviderFailure(FailureKind.INVALID_OUTPUT,
                              "; ".join(errors[:MAX_ERRORS_SHOWN]), usage=response.usage)
    return value


def repair_turns(response: CallResponse, problem: str, instructions: str = "") -> tuple[Turn, Turn]:
    """The assistant's invalid answer and the user's correction, appended for the re-ask.

    `instructions` restates the output rules (JSON-only mode: the schema), as the
    seed article's corrective retry does; with tool use the tool definition stands.
    """
    previous = json.dumps(response.tool_input) if response.tool_input is not None else response.text
    return (
        Turn("assistant", previous or "(empty)"),
        Turn("user", "That output does not match the required schema: "
                     f"{problem}. Answer again with corrected output only.{instructions}"),
    )
