"""Amounts and currencies as documents write them: ``1,234.56``, ``1.234,56 €``, ``CHF 1'200``."""

from __future__ import annotations

import re

# A number as written: digits with optional thousands separators (, . space ' or a thin
# space) and an optional decimal part; the sign is read separately.
NUMBER = r"\d{1,3}(?:[,.'\u00a0\u202f ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_NUMBER = re.compile(rf"(?<![\d.,])(?:{NUMBER})(?![\d])")

SYMBOLS = {
    "US$": "USD", "CA$": "CAD", "C$": "CAD", "A$": "AUD", "AU$": "AUD", "NZ$": "NZD",
    "HK$": "HKD", "R$": "BRL", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "₩": "KRW",
    "zł": "PLN", "Kč": "CZK", "$": "USD",
}
CODES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK", "DKK", "PLN",
         "CZK", "HUF", "INR", "CNY", "BRL", "MXN", "HKD", "SGD", "ZAR", "KRW", "TRY")
_CODE = re.compile(r"(?<![A-Za-z])(" + "|".join(CODES) + r")(?![A-Za-z])")
_SYMBOL = re.compile("|".join(re.escape(s) for s in sorted(SYMBOLS, key=len, reverse=True)))


def parse_number(raw: str) -> float | None:
    """``"1.234,56"`` → 1234.56, ``"1,234.56"`` → 1234.56, ``"1 234"`` → 1234.0; None if not a number.

    The last separator followed by one or two digits is the decimal point; every other
    separator groups thousands.
    """
    text = raw.strip().replace("\u00a0", " ").replace("\u202f", " ")
    if not text or not re.fullmatch(r"[\d,.' ]+", text) or not text[0].isdigit():
        return None
    match = re.search(r"[.,](\d{1,2})$", text)
    if match:
        whole, decimals = text[: match.start()], match.group(1)
    else:
        whole, decimals = text, ""
    if not re.fullmatch(r"\d+|\d{1,3}(?:([,.' ])\d{3})(?:\1\d{3})*", whole):
        return None  # thousands are grouped by threes, with one separator throughout
    digits = re.sub(r"[,.' ]", "", whole)
    return float(f"{digits}.{decimals}" if decimals else digits)


def numbers_in(text: str) -> list[tuple[float, int, int]]:
    """Every number in ``text`` as ``(value, start, end)``, left to right."""
    found = []
    for match in _NUMBER.finditer(text):
        value = parse_number(match.group(0))
        if value is not None:
            found.append((value, match.start(), match.end()))
    return found


def currencies_in(text: str) -> list[str]:
    """ISO codes of the currencies ``text`` names (codes or symbols), in order of appearance."""
    hits = [(m.start(), m.group(1)) for m in _CODE.finditer(text)]
    for m in _SYMBOL.finditer(text):
        if m.group(0) == "$" and m.start() > 0 and text[m.start() - 1].isalpha():
            continue  # the tail of "US$"/"C$" already counted, or a word such as "R$"
        hits.append((m.start(), SYMBOLS[m.group(0)]))
    return [code for _, code in sorted(hits)]
