"""How a conversation input is stored as text (the API and the workers agree on it)."""

from __future__ import annotations


def transcript(messages: list[dict[str, str]]) -> str:
    """A conversation, oldest first, as the text that fills a prompt's {text}."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)
