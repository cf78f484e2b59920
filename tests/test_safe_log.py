"""An unexpected exception is logged with where it happened and what type it was, never
with its message (which may quote a document)."""

from __future__ import annotations

from promptq.safe_log import WITHHELD, exception_summary

DOCUMENT = "Invoice INV-4711 for ACME GmbH, total 1,234.00 EUR"


def parse_total(text: str) -> float:
    return float(text)  # raises, quoting the text


def extract(text: str) -> float:
    try:
        return parse_total(text)
    except ValueError as exc:
        raise RuntimeError(f"could not extract from {text!r}") from exc


def test_the_summary_names_frames_and_types_but_no_message():
    try:
        extract(DOCUMENT)
    except RuntimeError as exc:
        summary = exception_summary(exc)
    assert "INV-4711" not in summary and "ACME" not in summary
    # both exceptions of the chain, the cause first, each with its frames
    assert summary.index("builtins.ValueError") < summary.index("builtins.RuntimeError")
    assert "in parse_total" in summary and "in extract" in summary
    assert summary.count(WITHHELD) == 2


def test_an_exception_raised_while_handling_another_keeps_both_types():
    try:
        try:
            {}[DOCUMENT]
        except KeyError:
            raise TypeError(DOCUMENT)
    except TypeError as exc:
        summary = exception_summary(exc)
    assert "builtins.KeyError" in summary and "builtins.TypeError" in summary
    assert "INV-4711" not in summary
