"""Dates as documents write them, to ISO 8601: ``14.03.2024``, ``March 3, 2024``, ``3 mars 2024``."""

from __future__ import annotations

import datetime as dt
import re

MONTHS = {
    # English, German, French, Spanish, Dutch, Italian, Portuguese (full and short forms)
    **{m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                    "september", "october", "november", "december"), 1)},
    **{m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                    "nov", "dec"), 1)},
    "sept": 9,
    **{m: i for i, m in enumerate(("januar", "februar", "märz", "april", "mai", "juni", "juli", "august",
                                    "september", "oktober", "november", "dezember"), 1)},
    **{m: i for i, m in enumerate(("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                                    "septembre", "octobre", "novembre", "décembre"), 1)},
    **{m: i for i, m in enumerate(("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                                    "septiembre", "octubre", "noviembre", "diciembre"), 1)},
    **{m: i for i, m in enumerate(("januari", "februari", "maart", "april", "mei", "juni", "juli",
                                    "augustus", "september", "oktober", "november", "december"), 1)},
    **{m: i for i, m in enumerate(("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio",
                                    "agosto", "settembre", "ottobre", "novembre", "dicembre"), 1)},
    **{m: i for i, m in enumerate(("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho",
                                    "agosto", "setembro", "outubro", "novembro", "dezembro"), 1)},
}
_MONTH = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
_PATTERNS = (
    ("ymd", re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")),
    ("dmy", re.compile(r"(?<!\d)(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})(?!\d)")),
    ("slash", re.compile(r"(?<!\d)(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)")),
    ("dash", re.compile(r"(?<!\d)(\d{1,2})-(\d{1,2})-(\d{4})(?!\d)")),
    ("mdy_name", re.compile(rf"(?i)\b({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b")),
    ("dmy_name", re.compile(rf"(?i)(?<!\d)(\d{{1,2}})(?:st|nd|rd|th|er|º|\.)?\s+(?:de\s+)?({_MONTH})\.?,?\s+(?:de\s+)?(\d{{4}})\b")),
)


def _make(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def dates_in(text: str, *, day_first: bool = False) -> list[tuple[dt.date, int, int]]:
    """Every date in ``text`` as ``(date, start, end)``, left to right.

    ``a/b/yyyy`` is month first (US) unless ``day_first`` or ``a`` cannot be a month.
    """
    found: dict[int, tuple[dt.date, int, int]] = {}
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(s <= m.start() < e for _, s, e in found.values()):
                continue
            g = m.groups()
            if kind == "ymd":
                date = _make(int(g[0]), int(g[1]), int(g[2]))
            elif kind == "dmy" or kind == "dash":
                date = _make(int(g[2]), int(g[1]), int(g[0]))
            elif kind == "slash":
                a, b, year = int(g[0]), int(g[1]), int(g[2])
                month_first = not day_first and a <= 12
                date = _make(year, a, b) if month_first else _make(year, b, a)
            elif kind == "mdy_name":
                date = _make(int(g[2]), MONTHS[g[0].lower()], int(g[1]))
            else:
                date = _make(int(g[2]), MONTHS[g[1].lower()], int(g[0]))
            if date is not None:
                found[m.start()] = (date, m.start(), m.end())
    return [found[k] for k in sorted(found)]


def parse_date(text: str, *, day_first: bool = False) -> dt.date | None:
    """The first date in ``text``, or None."""
    found = dates_in(text, day_first=day_first)
    return found[0][0] if found else None
