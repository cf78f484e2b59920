"""What a document is about, from its text: a summary of its first sentences, language, category, tags."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

FIELDS = frozenset({"summary", "language", "category", "tags"})

_STOPWORDS = {
    "en": "the and of to in is for with that this are on be by as from we our you will have it".split(),
    "de": "der die das und ist nicht mit von zu den für auf ein eine wir sie ihre bei im dem des".split(),
    "fr": "le la les et est des une un pour dans que qui sur avec nous vous du au par pas ce".split(),
    "es": "el la los las y es de que en un una para por con nos del se su al como".split(),
    "nl": "de het een en is van op voor met niet zijn wij ons dat die aan bij te".split(),
    "it": "il lo la gli le e di che per una un con non sono del della nel alla".split(),
    "pt": "o a os as e de que em um uma para com não do da no na por se".split(),
}
_CATEGORIES = {
    "invoice": ("invoice", "amount due", "total due", "vat", "payment terms", "rechnung", "facture", "factura",
                "bill to", "subtotal", "zu zahlen", "zahlbar", "betrag", "montant", "payment due"),
    "job_posting": ("hiring", "salary", "years of experience", "apply", "job", "position", "candidate",
                    "responsibilities", "requirements", "role"),
    "contract": ("agreement", "parties", "hereby", "clause", "term of", "terminate", "governing law",
                 "contract", "shall"),
    "news": ("announced", "analysts", "reported", "according to", "report", "said on", "quarter", "press"),
    "support": ("ticket", "error", "issue", "refund", "not working", "help", "support", "customer", "bug"),
}
_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_MAX_SUMMARY_CHARS = 400


def language(text: str) -> str:
    words = Counter(w.lower() for w in re.findall(r"[^\W\d_]+", text[:20_000]))
    scores = {lang: sum(words[w] for w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    return best if scores[best] else "en"


def category(text: str) -> str:
    lowered = text[:20_000].lower()
    scores = {name: sum(lowered.count(k) for k in keys) for name, keys in _CATEGORIES.items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] >= 2 else "other"


def summary(text: str) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    sentences = [s for s in _SENTENCE.split(flat) if s][:3]
    out = " ".join(sentences)
    return out if len(out) <= _MAX_SUMMARY_CHARS else out[: _MAX_SUMMARY_CHARS - 1].rstrip() + "…"


def tags(text: str, lang: str, limit: int = 5) -> list[str]:
    stop = set(_STOPWORDS.get(lang, ())) | set(_STOPWORDS["en"])
    words = Counter(w.lower() for w in _WORD.findall(text[:20_000]) if w.lower() not in stop)
    return [w for w, _ in words.most_common(limit)]


def extract(text: str) -> dict[str, Any]:
    lang = language(text)
    return {"summary": summary(text), "language": lang, "category": category(text), "tags": tags(text, lang)}
