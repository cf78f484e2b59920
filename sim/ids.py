"""Random identifiers in the providers' shapes (``req_011C…``, ``msg_01…``, ``chatcmpl-…``)."""

from __future__ import annotations

import os

_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Maps every byte to a base-62 character; the slight bias is irrelevant for ids.
_BASE62 = bytes(_ALPHABET[i % 62] for i in range(256))


def base62(length: int) -> str:
    return os.urandom(length).translate(_BASE62).decode("ascii")


def anthropic_request_id() -> str:
    return "req_011C" + base62(20)


def anthropic_message_id() -> str:
    return "msg_01" + base62(22)


def anthropic_tool_use_id() -> str:
    return "toolu_01" + base62(22)


def openai_request_id() -> str:
    return "req_" + os.urandom(16).hex()


def openai_completion_id() -> str:
    return "chatcmpl-" + base62(29)


def openai_call_id() -> str:
    return "call_" + base62(24)
