"""Token estimates: about four characters per token.

A prompt is flattened into *segments* in the order the providers cache it
(tools, then system, then messages). Each segment is ``(text, chars, marker)``:
``text`` identifies the content for prefix caching, ``chars`` is what it costs,
``marker`` is the Anthropic ``cache_control`` dict or ``None``.
"""

from __future__ import annotations

import json
from typing import Any

CHARS_PER_TOKEN = 4
# Images are billed by size, not by the length of their base64 text.
IMAGE_TOKENS = 1_600

Segment = tuple[str, int, Any]


def tokens_for_chars(chars: int) -> int:
    """Tokens for ``chars`` characters, rounded up."""
    return -(-chars // CHARS_PER_TOKEN)


def output_tokens(text: str) -> int:
    """Output tokens of generated ``text``; never 0, as the real APIs bill at least one."""
    return max(1, tokens_for_chars(len(text)))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _media_segment(block: dict[str, Any]) -> Segment:
    source = block.get("source") or {}
    ident = str(source.get("data") or source.get("url") or source.get("file_id") or "")
    if block.get("type") == "image" or block.get("type") == "image_url":
        return ident, IMAGE_TOKENS * CHARS_PER_TOKEN, block.get("cache_control")
    text = source.get("data") if source.get("type") == "text" else ident
    return str(text), len(str(text)), block.get("cache_control")


def _anthropic_block(block: Any) -> Segment:
    if isinstance(block, str):
        return block, len(block), None
    if not isinstance(block, dict):
        text = _dump(block)
        return text, len(text), None
    kind = block.get("type")
    marker = block.get("cache_control")
    if kind == "text":
        text = str(block.get("text", ""))
    elif kind == "tool_use":
        text = str(block.get("name", "")) + _dump(block.get("input", {}))
    elif kind == "tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            text = "".join(_anthropic_block(part)[0] for part in content)
        else:
            text = str(content)
    elif kind in ("image", "document"):
        return _media_segment(block)
    else:
        text = _dump({k: v for k, v in block.items() if k != "cache_control"})
    return text, len(text), marker


def anthropic_segments(body: dict[str, Any]) -> list[Segment]:
    """Segments of a Messages API request body."""
    segments: list[Segment] = []
    for tool in body.get("tools") or ():
        if isinstance(tool, dict):
            text = str(tool.get("name", "")) + str(tool.get("description", "")) + _dump(tool.get("input_schema", {}))
            segments.append((text, len(text), tool.get("cache_control")))
    system = body.get("system")
    if isinstance(system, str):
        segments.append((system, len(system), None))
    elif isinstance(system, list):
        segments.extend(_anthropic_block(block) for block in system)
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            segments.extend(_anthropic_block(block) for block in content)
        elif content is not None:
            text = str(content)
            segments.append((text, len(text), None))
    return segments


def _openai_content(content: Any) -> tuple[str, int]:
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, len(content)
    if isinstance(content, list):
        texts: list[str] = []
        chars = 0
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                text = str(part.get("text", ""))
                chars += len(text)
            elif isinstance(part, dict) and part.get("type") == "image_url":
                text = str((part.get("image_url") or {}).get("url", ""))
                chars += IMAGE_TOKENS * CHARS_PER_TOKEN
            else:
                text = _dump(part)
                chars += len(text)
            texts.append(text)
        return "".join(texts), chars
    text = str(content)
    return text, len(text)


def openai_segments(body: dict[str, Any]) -> list[Segment]:
    """Segments of a Chat Completions request body, one per message (tools first)."""
    segments: list[Segment] = []
    tools = body.get("tools")
    if tools:
        text = _dump(tools)
        segments.append((text, len(text), None))
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", ""))
        text, chars = _openai_content(message.get("content"))
        text = role + text
        chars += len(role)
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict):
                function = call.get("function") or {}
                extra = str(function.get("name", "")) + str(function.get("arguments", ""))
                text += extra
                chars += len(extra)
        segments.append((text, chars, None))
    return segments


def total_tokens(segments: list[Segment]) -> int:
    """Input tokens of a whole prompt."""
    return tokens_for_chars(sum(chars for _, chars, _ in segments))


def user_texts(messages: Any) -> list[str]:
    """Texts of the user messages, last first (string content or its text blocks/parts)."""
    if not isinstance(messages, list):
        return []
    texts = []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.append("\n".join(
                    str(block.get("text", ""))
                    for block in content
                    if isinstance(block, dict) and block.get("type") == "text"
                ))
            else:
                texts.append("")
    return texts


def last_user_text(messages: Any) -> str:
    """Text of the last user message (string content or its text blocks/parts)."""
    texts = user_texts(messages)
    return texts[0] if texts else ""
