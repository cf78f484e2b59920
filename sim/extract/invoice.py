"""An invoice's fields from its text: number, issue date, vendor, currency, total, line items.

Heuristics over labelled lines (English, German, French, Spanish, Dutch, Italian) and
item rows (``2 x Widget @ 19.99 = 39.98``, or a description followed by number columns).
"""

from __future__ import annotations

import re
from typing import Any

from .dates import dates_in
from .numbers import NUMBER, currencies_in, numbers_in, parse_number

FIELDS = frozenset({"invoice_number", "date", "vendor_name", "total_amount", "currency", "line_items"})
DEFAULT_CURRENCY = "USD"

_ID = r"(?=[A-Za-z0-9\-/_.]*\d)([A-Z0-9][A-Za-z0-9\-/_.]*[A-Za-z0-9])"
_NUMBER_LABELS = (
    r"invoice\s*(?:no\.?|nr\.?|number|num\.?|#|id)",
    r"inv\.?\s*(?:no\.?|#)",
    r"rechnungs?\s*-?\s*(?:nr\.?|nummer)",
    r"factu(?:re|ra)\s*(?:n[°ºo]\.?|num[ée]ro|número)",
    r"fattura\s*(?:n[°ºo.]+|numero)",
    r"factuur\s*(?:nr\.?|nummer)",
    r"bill\s*(?:no\.?|#|number)",
    r"invoice",
    r"reference|ref\.?",
)
_NUMBER_RES = [re.compile(rf"(?i:\b{label})\s*[:#.]?\s*#?\s*{_ID}") for label in _NUMBER_LABELS]

_ISSUE_LABEL = re.compile(
    r"(?i)(invoice\s*date|date\s*of\s*issue|issue\s*date|issued(?:\s*on)?|rechnungsdatum|datum|"
    r"date\s*de\s*(?:la\s*)?facture|fecha(?:\s*de\s*emisi[oó]n)?|factuurdatum|data|date)")
_NOT_ISSUE = re.compile(
    r"(?i)(due|payable|f[äa]llig|[ée]ch[ée]ance|vencimiento|scadenza|vervaldatum|delivery|lieferdatum|"
    r"livraison|entrega|service\s*period|period|leistungszeitraum|order\s*date|po\s*date|shipped|"
    r"pay\s*by|zahlbar|bis\s*zum)")

_VENDOR_LABEL = re.compile(
    r"(?im)^\s*(?:from|vendor|seller|supplier|issued\s*by|bill(?:ed)?\s*from|sold\s*by|"
    r"lieferant|verk[äa]ufer|rechnungssteller|fournisseur|[ée]metteur|vendeur|emisor|proveedor|"
    r"leverancier|fornitore)\s*[:\-]\s*(.+)$")
_NOT_VENDOR = re.compile(
    r"(?i)^(?:tax\s*)?(?:invoice|rechnung|facture|factura|fattura|factuur|bill|receipt|quittung|page|seite)\b|"
    r"^(?:bill\s*to|ship\s*to|to|customer|client|kunde)\b|^[\W\d_]+$")

_TOTAL_STRONG = re.compile(
    r"(?i)(amount\s*due|balance\s*due|total\s*due|total\s*amount\s*due|grand\s*total|total\s*payable|"
    r"amount\s*payable|total\s*to\s*pay|gesamtbetrag|rechnungsbetrag|zu\s*zahlen|endbetrag|total\s*ttc|"
    r"net\s*[àa]\s*payer|montant\s*(?:total\s*)?d[uû]|total\s*[àa]\s*payer|importe\s*total|total\s*a\s*pagar|"
    r"te\s*betalen|totaal\s*bedrag|totale\s*da\s*pagare|importo\s*totale|invoice\s*total)")
_TOTAL_WEAK = re.compile(r"(?i)\b(total|summe|totaal|totale)\b")
_NOT_TOTAL = re.compile(
    r"(?i)(sub\s*-?\s*total|zwischensumme|sous[\s-]*total|subtotal|total\s*ht\b|total\s*net|netto|"
    r"net\s*total|total\s*excl|excl\.?\s*(?:vat|tax)|before\s*tax|hors\s*taxe|base\s*imponible|"
    r"total\s*(?:vat|tax|tva|mwst|iva)|total\s*items|total\s*quantity|total\s*hours|already\s*paid|"
    r"paid\s*to\s*date)")

_SUMMARY_ROW = re.compile(
    r"(?i)^\s*(sub\s*-?\s*total|total|zwischensumme|summe|sous[\s-]*total|subtotal|vat|tax|sales\s*tax|gst|"
    r"hst|mwst|ust|tva|iva|btw|amount\s*due|balance|grand\s*total|gesamt|rechnungsbetrag|zu\s*zahlen|"
    r"net\s*[àa]\s*payer|montant|importe|te\s*betalen|totaal|totale|discount|rabatt|remise|descuento|"
    r"paid|deposit|payment|equivalent|approx|≈)")
_ITEMS_HEADER = re.compile(
    r"(?i)^\s*(?:items?\s*:?|line\s*items|positionen|leistungen|articles|d[ée]signation|prestations|"
    r"conceptos?|art[ií]culos|omschrijving|descrizione|"
    r".*\b(?:description|beschreibung|bezeichnung|qty|quantity|menge|qt[ée]|cantidad|aantal|"
    r"quantit[àa])\b.*)$")
_AT_ROW = re.compile(
    rf"^\s*(?P<qty>{NUMBER})\s*(?:x|×|\*)\s+(?P<desc>.+?)\s+(?:@|at|à|a)\s+\D{{0,4}}?(?P<unit>{NUMBER})"
    rf"\s*\D{{0,4}}?\s*=\s*\D{{0,4}}?(?P<total>{NUMBER})\b")
_CELL_SPLIT = re.compile(r"\s*\|\s*|\t+|\s{2,}")
_NON_ITEM = re.compile(r"(?i)^(page|seite|continued|fortsetzung|suite|pagina|p\.)\b|^[-=_\s|]+$")


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def invoice_number(text: str) -> str:
    for pattern in _NUMBER_RES:
        match = pattern.search(text)
        if match:
            return match.group(1).rstrip(".")
    match = re.search(r"\b(INV[-/ ]?\d[\w\-/]*)", text)
    return match.group(1) if match else ""


def issue_date(text: str) -> str | None:
    """The issue date in ISO form: a date on a line labelled as such, else the first date not due/delivery."""
    day_first = bool(re.search(r"(?i)(rechnung|facture|factura|fattura|factuur|€|\bEUR\b|datum|fecha)", text))
    fallback = None
    for line in _lines(text):
        found = dates_in(line, day_first=day_first)
        if not found:
            continue
        label = line[: found[0][1]]
        if _NOT_ISSUE.search(label):
            continue
        if _ISSUE_LABEL.search(label):
            return found[0][0].isoformat()
        if fallback is None:
            fallback = found[0][0].isoformat()
    return fallback


def vendor_name(text: str) -> str:
    match = _VENDOR_LABEL.search(text)
    if match:
        return _clean_name(match.group(1))
    for line in _lines(text)[:12]:
        candidate = line.strip()
        if not candidate or _NOT_VENDOR.search(candidate) or ":" in candidate:
            continue
        if sum(ch.isdigit() for ch in candidate) > len(candidate) // 3:
            continue
        return _clean_name(candidate)
    return ""


def _clean_name(raw: str) -> str:
    name = re.split(r"\s{2,}|\s[|·•,]\s|\t", raw.strip())[0]
    return name.strip(" ,;:-")


def _total_line(lines: list[str]) -> str | None:
    for pattern in (_TOTAL_STRONG, _TOTAL_WEAK):
        for line in reversed(lines):
            if pattern.search(line) and not _NOT_TOTAL.search(line) and numbers_in(_label_free(line)):
                return line
    return None


def _label_free(line: str) -> str:
    """The part of a line after its label (so "Total (2 items)" does not read as 2)."""
    head, sep, tail = line.rpartition(":")
    return tail if sep and numbers_in(tail) else line


def _money(line: str) -> float | None:
    found = [n for n in numbers_in(_label_free(line)) if not _is_percent(line, n[2])]
    return found[0][0] if found else None


def _is_percent(line: str, end: int) -> bool:
    return line[end:end + 2].strip().startswith("%")


def currency(text: str) -> str:
    """The currency of the amount due: on the total line, else a stated one, else the commonest, else USD."""
    lines = _lines(text)
    total = _total_line(lines)
    if total is not None:
        found = currencies_in(total)
        if found:
            return found[0]
    stated = re.search(r"(?i)(?:currency|währung|devise|moneda|valuta|all\s*amounts\s*in|amounts\s*in)"
                       r"\s*[:\-]?\s*([A-Z]{3})\b", text)
    if stated:
        return stated.group(1).upper()
    found = currencies_in(text)
    if found:
        return max(dict.fromkeys(found), key=found.count)
    return DEFAULT_CURRENCY


def _item_from_cells(cells: list[str]) -> dict[str, Any] | None:
    if len(cells) >= 3 and re.fullmatch(r"\d{1,4}\.?", cells[0]) and re.search(r"[A-Za-zÀ-ÿ]", cells[1]):
        cells = cells[1:]  # a position number column ("Pos.")
    description = cells[0]
    if not re.search(r"[A-Za-zÀ-ÿ]{2}", description) or _SUMMARY_ROW.search(description):
        return None
    values: list[float] = []
    for cell in cells[1:]:
        stripped = re.sub(r"(?i)[^\d.,' ]|(?<=\d)\s+(?=[a-z])", "", cell).strip()
        if not stripped:
            continue
        if "%" in cell:
            continue
        value = parse_number(stripped)
        if value is None:
            return None
        values.append(value)
    if not values:
        return None
    if len(values) >= 3:
        qty, unit, total = values[-3], values[-2], values[-1]
        if abs(qty * unit - total) > 0.02 + 0.001 * total and abs(values[-2] * values[-3] - total) > 0.02:
            qty, unit = unit, qty
        return {"description": description, "quantity": qty, "unit_price": unit, "total": total}
    if len(values) == 2:
        return {"description": description, "quantity": values[0], "unit_price": None, "total": values[1]}
    return {"description": description, "quantity": None, "unit_price": None, "total": values[0]}


def line_items(text: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    in_items = False
    for raw in _lines(text):
        line = raw.strip()
        at = _AT_ROW.match(line)
        if at:
            items.append({"description": at.group("desc").strip(), "quantity": parse_number(at.group("qty")),
                          "unit_price": parse_number(at.group("unit")), "total": parse_number(at.group("total"))})
            continue
        if not line or _NON_ITEM.search(line):
            continue
        if _ITEMS_HEADER.match(line) and not numbers_in(line):
            in_items = True
            continue
        if _SUMMARY_ROW.search(line) or _TOTAL_STRONG.search(line):
            in_items = False
            continue
        cells = [c for c in _CELL_SPLIT.split(line.strip("| ")) if c]
        tabular = len(cells) >= 2
        if not tabular or (not in_items and len(cells) < 4):
            continue
        item = _item_from_cells(cells)
        if item is not None:
            items.append(item)
    return items


def extract(text: str) -> dict[str, Any]:
    items = line_items(text)
    total_line = _total_line(_lines(text))
    total = _money(total_line) if total_line is not None else None
    if total is None:
        total = round(sum(i["total"] for i in items), 2)
    return {
        "invoice_number": invoice_number(text),
        "date": issue_date(text) or "",
        "vendor_name": vendor_name(text),
        "total_amount": total,
        "currency": currency(text),
        "line_items": items,
    }
