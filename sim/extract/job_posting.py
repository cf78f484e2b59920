"""A job posting's fields from its text: title, company, location, remote, salary range (USD a year), experience."""

from __future__ import annotations

import re
from typing import Any

FIELDS = frozenset({"title", "company", "location", "is_remote", "salary_min", "salary_max",
                    "required_years_experience"})

_LABEL = r"(?im)^\s*[-*•]?\s*(?:\*\*)?(?:{})(?:\*\*)?\s*[:\-–]\s*(?:\*\*)?(.+?)(?:\*\*)?\s*$"
_TITLE_LABEL = re.compile(_LABEL.format(r"job\s*title|position|role|title|poste|stelle|puesto|functie|job"))
_COMPANY_LABEL = re.compile(_LABEL.format(r"company|employer|organi[sz]ation|hiring\s*company|unternehmen|"
                                          r"arbeitgeber|entreprise|empresa|bedrijf|client"))
_LOCATION_LABEL = re.compile(_LABEL.format(r"location|based\s*in|office|where|standort|arbeitsort|lieu|"
                                           r"ubicaci[oó]n|locatie|work\s*location"))
_HEADLINE_AT = re.compile(r"^\s*#*\s*(?:we(?:'re| are)\s+hiring:?\s*(?:an?\s+)?)?(.+?)\s+(?:at|@|bei|chez)\s+(.+?)\s*$",
                          re.IGNORECASE)
_HEADLINE_SEP = re.compile(r"^\s*#*\s*(.+?)\s+(?:[-–—|·]{1,2})\s+(.+?)\s*$")
_HIRING = re.compile(r"(?i)^\s*(.+?)\s+(?:is|are)\s+(?:hiring|looking\s+for|seeking)\s+(?:an?\s+)?(.+?)[.!:]?\s*$")
_REMOTE = re.compile(r"(?i)\b(fully\s+remote|100\s*%\s*remote|remote[-\s]first|remote\s*only|work\s+from\s+anywhere|"
                     r"remote\s*\(|remote\s*[-–,]\s*(?:anywhere|worldwide|us|eu|europe)|^\s*remote\s*$|"
                     r"anywhere\s+in\s+the\s+world|position\s+is\s+remote|role\s+is\s+remote|is\s+a\s+remote)")
_NOT_REMOTE = re.compile(r"(?i)\b(hybrid|on[-\s]?site|in[-\s]office|no\s+remote|not\s+remote|vor\s+ort)\b")
_USD = r"(?:US\$|\$|USD\s?)"
_RANGE = re.compile(
    rf"{_USD}\s?(?P<lo>\d{{1,3}}(?:[,.]\d{{3}})+|\d+(?:\.\d+)?)(?P<lok>\s?[kK]\b)?\s*(?:-|–|—|to|bis)\s*"
    rf"{_USD}?\s?(?P<hi>\d{{1,3}}(?:[,.]\d{{3}})+|\d+(?:\.\d+)?)(?P<hik>\s?[kK]\b)?(?:\s?USD)?"
    r"|(?P<lo2>\d{1,3}(?:[,.]\d{3})+)\s*(?:-|–|—|to)\s*(?P<hi2>\d{1,3}(?:[,.]\d{3})+)\s?(?:USD|US\$|\$)")
_UP_TO = re.compile(rf"(?i)\b(?:up\s+to|max(?:imum)?\s+(?:of\s+)?|not\s+more\s+than)\s*{_USD}\s?"
                    rf"(?P<v>\d{{1,3}}(?:[,.]\d{{3}})+|\d+(?:\.\d+)?)(?P<k>\s?[kK]\b)?")
_FROM = re.compile(rf"(?i)\b(?:from|starting\s+(?:at|from)|at\s+least|min(?:imum)?\s+(?:of\s+)?)\s*{_USD}\s?"
                   rf"(?P<v>\d{{1,3}}(?:[,.]\d{{3}})+|\d+(?:\.\d+)?)(?P<k>\s?[kK]\b)?")
_SINGLE = re.compile(rf"(?i)(?:salary|pay|compensation|gehalt|base)\b[^$\n]{{0,30}}{_USD}\s?"
                     rf"(?P<v>\d{{1,3}}(?:[,.]\d{{3}})+|\d+(?:\.\d+)?)(?P<k>\s?[kK]\b)?")
_MONTHLY = re.compile(r"(?i)(per\s+month|/\s?mo(?:nth)?\b|a\s+month|monthly|pro\s+monat)")
_HOURLY = re.compile(r"(?i)(per\s+hour|/\s?h(?:ou)?r\b|an\s+hour|hourly)")
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10, "twelve": 12, "fifteen": 15}
_N = r"(\d+(?:\.\d)?|" + "|".join(_WORDS) + r")"
_EXPERIENCE = (
    re.compile(rf"(?i)\b(?:at\s+least|minimum(?:\s+of)?|min\.?|a\s+minimum\s+of)\s+{_N}\+?\s*(?:years?|yrs?)"),
    re.compile(rf"(?i)\b{_N}\s*(?:\+|or\s+more|plus)?\s*(?:-|–|to)?\s*(?:\d+\s*)?\+?\s*(?:years?|yrs?)\b"
               r"[^.\n]{0,40}?\b(?:experience|exp\b|of\s+(?:professional|relevant|hands-on|industry|work))"),
    re.compile(rf"(?i)\bexperience\s*[:\-]\s*{_N}\+?\s*(?:years?|yrs?)"),
    re.compile(rf"(?i)\b{_N}\+?\s*(?:jahre?n?)\s+(?:\w+\s+){{0,2}}(?:berufserfahrung|erfahrung)"),
)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _clean(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip().strip("#*_ ").rstrip(".!"))


def title_and_company(text: str) -> tuple[str, str]:
    title = _TITLE_LABEL.search(text)
    company = _COMPANY_LABEL.search(text)
    t = _clean(title.group(1)) if title else ""
    c = _clean(company.group(1)) if company else ""
    head = _first_line(text)
    if not t or not c:
        for pattern, order in ((_HIRING, "ct"), (_HEADLINE_AT, "tc"), (_HEADLINE_SEP, "tc")):
            match = pattern.match(head)
            if match and ":" not in match.group(1):
                first, second = _clean(match.group(1)), _clean(match.group(2))
                ht, hc = (first, second) if order == "tc" else (second, first)
                body = text[len(head):]
                if pattern is _HEADLINE_SEP and ht in body and hc not in body:
                    ht, hc = hc, ht  # "Company — Title": the company is the one the text names again
                t, c = t or ht, c or hc
                break
    if not c:
        about = re.search(r"(?m)^\s*#*\s*About\s+(?!the\s+role|you|us|this)(.+?)\s*$", text)
        join = re.search(r"\bJoin\s+([A-Z][\w&.\-]*(?:\s+[A-Z][\w&.\-]*){0,3})", text)
        c = _clean(about.group(1)) if about else (_clean(join.group(1)) if join else "")
    return t or _clean(head), c


def location_and_remote(text: str) -> tuple[str | None, bool]:
    match = _LOCATION_LABEL.search(text)
    value = _clean(match.group(1)) if match else ""
    if value and _REMOTE.search(value) and not _NOT_REMOTE.search(value):
        return None, True
    if value:
        place = re.sub(r"(?i)\s*[\(,\-–—|/]\s*(hybrid|on[-\s]?site|in[-\s]office|office).*$", "", value)
        place = re.sub(r"(?i)^(hybrid|on[-\s]?site)\s*[\-–:,]?\s*(in\s+)?", "", place)
        return _clean(place) or None, False
    if _REMOTE.search(text) and not _NOT_REMOTE.search(text):
        return None, True
    return None, False


def _amount(raw: str, k: str | None) -> float:
    value = float(re.sub(r"[,.](?=\d{3}\b)", "", raw))
    return value * 1000 if k and k.strip() else value


def _per_year(value: float | None, context: str) -> float | None:
    if value is None:
        return None
    if _HOURLY.search(context):
        return round(value * 2080, 2)
    if _MONTHLY.search(context):
        return round(value * 12, 2)
    return value


def salary(text: str) -> tuple[float | None, float | None]:
    """The yearly USD range; a monthly or hourly figure is scaled (12 months, 2080 hours)."""
    for line in text.splitlines():
        match = _RANGE.search(line)
        if match:
            if match.group("lo") is not None:
                lo = _amount(match.group("lo"), match.group("lok") or match.group("hik"))
                hi = _amount(match.group("hi"), match.group("hik"))
            else:
                lo, hi = _amount(match.group("lo2"), None), _amount(match.group("hi2"), None)
            return _per_year(lo, line), _per_year(hi, line)
    for line in text.splitlines():
        up, low = _UP_TO.search(line), _FROM.search(line)
        if up or low:
            lo = _amount(low.group("v"), low.group("k")) if low else None
            hi = _amount(up.group("v"), up.group("k")) if up else None
            return _per_year(lo, line), _per_year(hi, line)
        single = _SINGLE.search(line)
        if single:
            value = _per_year(_amount(single.group("v"), single.group("k")), line)
            return value, value
    return None, None


def experience(text: str) -> float | None:
    for pattern in _EXPERIENCE:
        match = pattern.search(text)
        if match:
            raw = match.group(1).lower()
            return float(_WORDS[raw]) if raw in _WORDS else float(raw)
    return None


def extract(text: str) -> dict[str, Any]:
    title, company = title_and_company(text)
    location, remote = location_and_remote(text)
    low, high = salary(text)
    return {
        "title": title,
        "company": company,
        "location": location,
        "is_remote": remote,
        "salary_min": low,
        "salary_max": high,
        "required_years_experience": experience(text),
    }
