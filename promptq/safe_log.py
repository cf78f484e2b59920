"""Logging an unexpected exception without its message.

A defect's exception message may quote what it was working on — a document, an
extraction, a secret (`ValueError: invalid literal …: 'Invoice INV-…'`). Where any
exception can arrive (a job's internal error, the API's 500), the log gets where it
happened — each frame's file, line and code, for the exception and the ones it was
raised from — and the exception types, never the messages.
"""

from __future__ import annotations

import traceback

WITHHELD = "(message withheld: it may quote a document)"


def exception_summary(exc: BaseException) -> str:
    """`exc`'s traceback as Python prints it, chained exceptions first, with each
    exception's message replaced by WITHHELD."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts = [
        "Traceback (most recent call last):\n" + "".join(traceback.format_tb(e.__traceback__))
        + f"{type(e).__module__}.{type(e).__qualname__} {WITHHELD}\n"
        for e in reversed(chain)
    ]
    return "\nRaised while handling or from the above:\n\n".join(parts)
