"""Deterministic, schema-valid JSON instances with plausible values.

:func:`fill` walks a JSON Schema (``$ref``/``$defs``, ``anyOf``/``oneOf``/``allOf``,
type unions, ``enum``/``const``, objects, arrays, bounds, formats) and builds an
instance from a seeded RNG, so the same schema and seed give the same output.
Property names steer the values ("invoice_number" → ``"INV-48213"``, "currency"
→ ``"EUR"``, "due_date" → an ISO date). Not supported: ``pattern``,
``not``, ``if``/``then``, ``dependentSchemas`` (their constraints are ignored).

:func:`break_instance` turns a valid instance into one that fails validation,
for the ``malformed_output`` fault.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import math
import random
import re
from typing import Any

# Past this nesting (objects and arrays both count) only what the schema demands is
# generated: required properties, minItems items. Keeps recursive schemas finite.
_RICH_DEPTH = 6
_MAX_DEPTH = 48

COMPANIES = (
    "Acme Corporation",
    "Globex Ltd",
    "Initech GmbH",
    "Umbrella Supplies Inc.",
    "Northwind Traders",
    "Contoso Pharmaceuticals",
    "Wayne Enterprises",
    "Stark Industrial Services",
    "Blue Harbor Logistics",
    "Vandelay Industries",
    "Fabrikam S.A.",
    "Tyrell Components",
)
FIRST_NAMES = ("Jane", "Omar", "Priya", "Lukas", "Mei", "Carlos", "Amara", "Tomás", "Sofia", "Kenji")
LAST_NAMES = ("Doe", "Haddad", "Sharma", "Becker", "Chen", "Ortega", "Okafor", "Novak", "Rossi", "Tanaka")
CITIES = ("Springfield", "Lyon", "Rotterdam", "Austin", "Osaka", "Porto", "Leeds", "Graz", "Denver", "Turin")
COUNTRIES = ("United States", "France", "Netherlands", "Germany", "Japan", "Portugal", "United Kingdom")
COUNTRY_CODES = ("US", "FR", "NL", "DE", "JP", "PT", "GB")
STREETS = ("Market Street", "Rue de la Paix", "Keizersgracht", "Elm Avenue", "High Street", "Calle Mayor")
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD")
PRODUCTS = (
    "Consulting services",
    "Office chairs",
    "Cloud hosting (monthly)",
    "Laptop stand",
    "Printer toner",
    "Software licence",
    "Freight charges",
    "Maintenance contract",
)
STATUSES = ("pending", "paid", "approved", "open", "completed")
WORDS = (
    "quarterly",
    "review",
    "payment",
    "supplier",
    "delivery",
    "contract",
    "summary",
    "account",
    "shipment",
    "renewal",
    "service",
    "report",
)
SENTENCES = (
    "Payment is due within 30 days of the invoice date.",
    "The shipment was delivered on schedule and signed for at reception.",
    "Totals include applicable taxes and exclude shipping.",
    "The contract renews automatically unless cancelled in writing.",
    "All line items match the purchase order.",
    "The customer requested a revised quote for the second quarter.",
    "No discrepancies were found between the invoice and the receipt.",
    "The document lists two outstanding items awaiting approval.",
)


def seed_from_bytes(data: bytes) -> int:
    return int.from_bytes(data[:8], "big")


def name_words(name: str) -> list[str]:
    """``"invoiceDate"``/``"invoice-date"`` → ``["invoice", "date"]``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-zA-Z0-9]+", spaced.lower()) if w]


class _Filler:
    def __init__(self, root: Any, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.depth = 0

    # -- schema plumbing -------------------------------------------------

    def resolve(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            seen += 1
            target = self._lookup(schema["$ref"])
            if target is None:
                return {k: v for k, v in schema.items() if k != "$ref"}
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **siblings} if siblings else target
        return schema

    def _lookup(self, ref: str) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            return None
        node = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def _merge_all_of(self, schema: dict) -> dict:
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema.get("allOf") or ():
            part = self.resolve(part)
            if not isinstance(part, dict):
                continue
            if "allOf" in part:
                part = self._merge_all_of(part)
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def _allows_only_null(schema: Any) -> bool:
        return isinstance(schema, dict) and (schema.get("type") == "null" or schema.get("const", 0) is None)

    # -- values ------------------------------------------------------------

    def value(self, schema: Any, name: str = "") -> Any:
        schema = self.resolve(schema)
        if self.depth > _MAX_DEPTH:
            return None  # a schema that requires infinite nesting cannot be satisfied anyway
        if schema is True or schema is None or schema == {}:
            return self.string({}, name)
        if schema is False or not isinstance(schema, dict):
            return None
        if "allOf" in schema:
            schema = self._merge_all_of(schema)
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if "enum" in schema and schema["enum"]:
            options = [v for v in schema["enum"] if v is not None] or list(schema["enum"])
            return copy.deepcopy(self.rng.choice(options))
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = [self.resolve(o) for o in schema[key]]
                chosen = next((o for o in options if not self._allows_only_null(o)), options[0])
                if isinstance(chosen, dict):
                    outer = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
                    chosen = {**outer, **chosen}
                return self.value(chosen, name)
        kind = schema.get("type")
        if isinstance(kind, list):
            concrete = [t for t in kind if t != "null"]
            kind = concrete[0] if concrete else "null"
        if kind is None:
            if "properties" in schema or "required" in schema or "additionalProperties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                kind = "string"
        if kind == "object":
            return self.obj(schema)
        if kind == "array":
            return self.array(schema, name)
        if kind == "integer":
            return self.number(schema, name, integer=True)
        if kind == "number":
            return self.number(schema, name, integer=False)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.string(schema, name)

    def obj(self, schema: dict) -> dict[str, Any]:
        props = schema.get("properties") or {}
        required = [r for r in schema.get("required") or () if isinstance(r, str)]
        extra = schema.get("additionalProperties", True)
        out: dict[str, Any] = {}
        self.depth += 1
        try:
            shallow = self.depth > _RICH_DEPTH
            for key, sub in props.items():
                if shallow and key not in required:
                    continue
                out[key] = self.value(sub, key)
            for key in required:
                if key not in out:
                    out[key] = self.value(extra if isinstance(extra, dict) else {}, key)
            wanted = int(schema.get("minProperties", 0))
            if isinstance(extra, dict) and not props and not shallow:
                wanted = max(wanted, 2)
            index = 1
            while len(out) < wanted and extra is not False and index < 50:
                key = f"{self.rng.choice(WORDS)}_{index}"
                index += 1
                if key not in out:
                    out[key] = self.value(extra if isinstance(extra, dict) else {}, key)
            max_props = schema.get("maxProperties")
            if isinstance(max_props, int):
                for key in [k for k in out if k not in required][: max(0, len(out) - max_props)]:
                    del out[key]
        finally:
            self.depth -= 1
        return out

    def array(self, schema: dict, name: str) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = max(low, self.rng.randint(1, 3))
        if isinstance(high, int):
            count = min(count, high)
        if self.depth >= _RICH_DEPTH:
            count = low
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        if isinstance(items, list):  # draft-04 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        prefix = prefix or []
        singular = name[:-1] if name.endswith("s") else name
        out: list[Any] = []
        seen: set[str] = set()
        unique = bool(schema.get("uniqueItems"))
        self.depth += 1
        try:
            attempts = 0
            while len(out) < count and attempts < count * 8 + 8:
                attempts += 1
                position = len(out)
                sub = prefix[position] if position < len(prefix) else items
                if sub is False:
                    break
                item = self.value(sub, singular)
                if unique:
                    key = json.dumps(item, sort_keys=True)
                    if key in seen:
                        continue
                    seen.add(key)
                out.append(item)
        finally:
            self.depth -= 1
        return out

    def number(self, schema: dict, name: str, integer: bool) -> int | float:
        low, high = _default_range(name, integer)
        lo_incl = schema.get("minimum")
        hi_incl = schema.get("maximum")
        lo_excl = schema.get("exclusiveMinimum")
        hi_excl = schema.get("exclusiveMaximum")
        # draft-04 spelled exclusivity as booleans next to minimum/maximum
        if lo_excl is True:
            lo_excl, lo_incl = lo_incl, None
        if hi_excl is True:
            hi_excl, hi_incl = hi_incl, None
        lo_excl = None if isinstance(lo_excl, bool) else lo_excl
        hi_excl = None if isinstance(hi_excl, bool) else hi_excl
        floor_v = max([v for v in (lo_incl, lo_excl) if v is not None], default=None)
        ceil_v = min([v for v in (hi_incl, hi_excl) if v is not None], default=None)
        if floor_v is not None and ceil_v is not None:
            low, high = floor_v, ceil_v
        elif floor_v is not None:
            low, high = floor_v, max(high, floor_v + (high - low))
        elif ceil_v is not None:
            low, high = min(low, ceil_v - (high - low)), ceil_v
        step = schema.get("multipleOf")
        if integer:
            lo_i = math.ceil(low) + (1 if lo_excl is not None and math.ceil(low) == lo_excl else 0)
            hi_i = math.floor(high) - (1 if hi_excl is not None and math.floor(high) == hi_excl else 0)
            if isinstance(step, (int, float)) and step > 0:
                k_lo, k_hi = math.ceil(lo_i / step), math.floor(hi_i / step)
                return int(self.rng.randint(k_lo, max(k_lo, k_hi)) * step)
            return self.rng.randint(lo_i, max(lo_i, hi_i))
        if isinstance(step, (int, float)) and step > 0:
            k_lo, k_hi = math.ceil(low / step), math.floor(high / step)
            if lo_excl is not None and k_lo * step <= lo_excl:
                k_lo += 1
            if hi_excl is not None and k_hi * step >= hi_excl:
                k_hi -= 1
            k = self.rng.randint(k_lo, max(k_lo, k_hi))
            # validators divide by the step; k*step may not divide back exactly (0.07/0.01)
            for candidate in (k, k_lo, k_hi):
                value = round(candidate * step, 10)
                if (value / step) == int(value / step):
                    return value
            return round(k * step, 10)
        value = round(self.rng.uniform(low, high), 2)
        if not _in_range(value, lo_incl, hi_incl, lo_excl, hi_excl):
            value = (low + high) / 2  # bounds narrower than a cent: skip the rounding
        return value

    def string(self, schema: dict, name: str) -> str:
        text = self._plausible_string(schema.get("format"), name)
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        while len(text) < low:
            text += " " + self.rng.choice(WORDS)
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        if len(text) < low:
            text = text.ljust(low, "x")
        return text

    def _plausible_string(self, fmt: Any, name: str) -> str:
        label, prefix = _string_kind(fmt if isinstance(fmt, str) else None, name)
        rng = self.rng
        if label == "datetime":
            return self._date().isoformat() + f"T{rng.randint(7, 18):02d}:{rng.randint(0, 59):02d}:00Z"
        if label == "date":
            return self._date().isoformat()
        if label == "coded":
            return f"{prefix}-{rng.randint(10000, 99999)}"
        if label == "uuid":
            return _uuid(rng)
        return _STRING_MAKERS[label](rng)

    def _date(self) -> dt.date:
        return dt.date(2023, 1, 1) + dt.timedelta(days=self.rng.randint(0, 3 * 365))


def _any_of(has: Any, *words: str) -> bool:
    return any(has(word) for word in words)


@functools.lru_cache(maxsize=4096)
def _string_kind(fmt: str | None, name: str) -> tuple[str, str]:
    """``(label, prefix)`` of the value to make for a string named ``name``.

    Decided once per (format, name): the rules are many, the names few.
    """
    words = name_words(name)
    has = set(words).__contains__
    last = words[-1] if words else ""
    if fmt == "date-time" or (fmt is None and (last in ("at", "timestamp", "datetime") or has("timestamp"))):
        return "datetime", ""
    if fmt == "date" or (fmt is None and (has("date") or has("dob") or last in ("on", "day"))):
        return "date", ""
    if fmt in ("time", "email", "uuid", "ipv4", "hostname"):
        return fmt, ""
    if fmt in ("uri", "url", "iri"):
        return "url", ""
    if has("email"):
        return "email", ""
    if _any_of(has, "url", "uri", "website", "link"):
        return "url", ""
    if has("uuid"):
        return "uuid", ""
    if has("currency"):
        return "currency", ""
    if has("invoice") and _any_of(has, "number", "id", "no", "ref"):
        return "coded", "INV"
    if has("po") or (has("order") and _any_of(has, "number", "id")):
        return "coded", "PO"
    if has("sku"):
        return "coded", "SKU"
    if has("iban"):
        return "iban", ""
    if _any_of(has, "phone", "tel", "mobile"):
        return "phone", ""
    if has("country"):
        return ("country_code", "") if _any_of(has, "code", "iso") else ("country", "")
    if _any_of(has, "city", "town"):
        return "city", ""
    if _any_of(has, "zip", "postal", "postcode"):
        return "zip", ""
    if _any_of(has, "address", "street"):
        return "address", ""
    if _any_of(
        has, "vendor", "supplier", "company", "merchant", "customer", "organization", "organisation",
        "seller", "buyer", "payee", "employer", "issuer", "client", "bank",
    ):
        return "company", ""
    if _any_of(has, "product", "item", "line", "service"):
        return "product", ""
    if has("first") and has("name"):
        return "first_name", ""
    if (_any_of(has, "last", "family", "sur") and has("name")) or has("surname"):
        return "last_name", ""
    if _any_of(has, "name", "author", "contact", "person", "owner"):
        return "person", ""
    if _any_of(has, "id", "number", "ref", "reference", "code"):
        return "coded", "REF" if words[0] in ("id", "number") else words[0][:3].upper()
    if _any_of(has, "status", "state"):
        return "status", ""
    if _any_of(has, "language", "lang", "locale"):
        return "language", ""
    if has("sentiment"):
        return "sentiment", ""
    if _any_of(has, "title", "subject", "heading"):
        return "title", ""
    if _any_of(
        has, "description", "summary", "notes", "note", "comment", "reason", "explanation",
        "text", "content", "message", "answer", "body",
    ):
        return "sentence", ""
    return "phrase", ""


_TITLE_ENDS = ("update", "notice", "summary")
_STRING_MAKERS: dict[str, Any] = {
    "time": lambda rng: f"{rng.randint(7, 18):02d}:{rng.randint(0, 59):02d}:00",
    "email": lambda rng: f"{rng.choice(FIRST_NAMES).lower()}.{rng.choice(LAST_NAMES).lower()}@example.com",
    "url": lambda rng: f"https://www.example.com/{rng.choice(WORDS)}/{rng.randint(100, 999)}",
    "ipv4": lambda rng: f"192.0.2.{rng.randint(1, 254)}",
    "hostname": lambda rng: f"{rng.choice(WORDS)}.example.com",
    "currency": lambda rng: rng.choice(CURRENCIES),
    "iban": lambda rng: f"DE{rng.randint(10, 99)}500105{rng.randint(10**9, 10**10 - 1)}",
    "phone": lambda rng: f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
    "country_code": lambda rng: rng.choice(COUNTRY_CODES),
    "country": lambda rng: rng.choice(COUNTRIES),
    "city": lambda rng: rng.choice(CITIES),
    "zip": lambda rng: f"{rng.randint(10000, 99999)}",
    "address": lambda rng: f"{rng.randint(1, 250)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
    "company": lambda rng: rng.choice(COMPANIES),
    "product": lambda rng: rng.choice(PRODUCTS),
    "first_name": lambda rng: rng.choice(FIRST_NAMES),
    "last_name": lambda rng: rng.choice(LAST_NAMES),
    "person": lambda rng: f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
    "status": lambda rng: rng.choice(STATUSES),
    "language": lambda rng: rng.choice(("en", "fr", "de", "nl", "ja")),
    "sentiment": lambda rng: rng.choice(("positive", "neutral", "negative")),
    "title": lambda rng: f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {rng.choice(_TITLE_ENDS)}",
    "sentence": lambda rng: rng.choice(SENTENCES),
    "phrase": lambda rng: f"{rng.choice(WORDS)} {rng.choice(WORDS)}",
}



def _uuid(rng: random.Random) -> str:
    raw = f"{rng.getrandbits(128):032x}"
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:32]}"


@functools.lru_cache(maxsize=4096)
def _default_range(name: str, integer: bool) -> tuple[float, float]:
    """Plausible bounds for a number named ``name`` when the schema gives none."""
    has = set(name_words(name)).__contains__
    if integer:
        if has("year"):
            return 2020, 2026
        if has("age"):
            return 18, 80
        if has("month"):
            return 1, 12
        if has("quantity") or has("qty") or has("count") or has("items") or has("units"):
            return 1, 20
        if has("page") or has("pages"):
            return 1, 40
        return 1, 1000
    if has("confidence") or has("score") or has("probability") or has("ratio") or has("rate"):
        return 0.0, 1.0
    if has("percent") or has("percentage") or has("pct"):
        return 0.0, 100.0
    if has("lat") or has("latitude"):
        return -90.0, 90.0
    if has("lon") or has("lng") or has("longitude"):
        return -180.0, 180.0
    return 5.0, 5000.0


def _in_range(value: float, lo_incl: Any, hi_incl: Any, lo_excl: Any, hi_excl: Any) -> bool:
    return not (
        (lo_incl is not None and value < lo_incl)
        or (hi_incl is not None and value > hi_incl)
        or (lo_excl is not None and value <= lo_excl)
        or (hi_excl is not None and value >= hi_excl)
    )


def fill(schema: Any, seed: int) -> Any:
    """An instance of ``schema`` that validates against it, the same for the same ``seed``."""
    filler = _Filler(schema, random.Random(seed))
    return filler.value(schema)


def _wrong_value(schema: Any) -> Any:
    """A value ``schema`` rejects, or a sentinel ``_KEEP`` if it accepts anything."""
    if not isinstance(schema, dict):
        return _KEEP
    if "const" in schema or "enum" in schema:
        return "__not_an_allowed_value__"
    kinds = schema.get("type")
    if kinds is None:
        return _KEEP
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    if "string" not in kinds:
        return "n/a"
    if not kinds & {"number", "integer"}:
        return 12345
    if "object" not in kinds:
        return {"unexpected": True}
    return _KEEP


_KEEP = object()


def break_instance(schema: Any, instance: Any, seed: int) -> Any:
    """A copy of ``instance`` that fails ``schema``: a required field dropped, or a value of the wrong type.

    Falls back to returning ``instance`` unchanged when the schema accepts anything.
    """
    filler = _Filler(schema, random.Random(seed))
    root = filler.resolve(schema)
    if isinstance(root, dict) and "allOf" in root:
        root = filler._merge_all_of(root)
    if isinstance(instance, dict) and isinstance(root, dict):
        broken = dict(instance)
        required = [k for k in root.get("required") or () if k in broken]
        if required:
            del broken[filler.rng.choice(required)]
            return broken
        props = root.get("properties") or {}
        for key in broken:
            wrong = _wrong_value(filler.resolve(props.get(key)))
            if wrong is not _KEEP:
                broken[key] = wrong
                return broken
        if root.get("additionalProperties") is False:
            broken["unexpected_field"] = "n/a"
        return broken
    wrong = _wrong_value(root)
    return instance if wrong is _KEEP else wrong
