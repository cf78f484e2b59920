"""The output rules a JSON-only task's system prompt states (models used without tool use)."""

from __future__ import annotations

import json
from typing import Any


def json_only_instructions(schema: dict[str, Any]) -> str:
    """The seed's two rules and the schema; static for a task, so part of its system prompt."""
    return (
        "\n\nReturn JSON only. No explanation, no markdown fences. "
        "Use null, not None, for missing values. The JSON must match this JSON Schema:\n"
        "```json\n" + json.dumps(schema, separators=(",", ":")) + "\n```"
    )
