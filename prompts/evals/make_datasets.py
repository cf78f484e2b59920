"""Writes the golden datasets beside it: invoice_extraction.jsonl and job_posting_extraction.jsonl.

Reproducible (`python prompts/evals/make_datasets.py` rewrites the same files): each
item is built from a record first, its text is then rendered from that record in one
of several layouts (English/US, German, French, Spanish, Dutch; EU and US number
formats; labelled fields or tables), so the expected output is right by construction.
The hard cases are tagged: no_currency, multi_currency, missing_fields, long, ...

Written for promptq; the companies and people are invented.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

VENDORS = [
    "Oakridge Office Supply Co.", "Müller & Söhne GmbH", "Atelier Dupont SARL", "Construcciones Ibéricas S.L.",
    "Nordlicht Software AG", "Maple Leaf Printing Inc.", "Van der Berg Logistiek B.V.", "Bright Harbor Consulting LLC",
    "Lumen Analytics Ltd", "Fjordline Catering AS", "Kestrel Cloud Hosting Ltd", "Saguaro Solar Inc.",
    "Bellwether Legal Services LLP", "Papeterie Lefèvre", "Tessera Design Studio", "Greenfield Lab Supplies Ltd",
    "Quayside Freight Ltd", "Hanseatic Data GmbH", "Piedmont Furniture Works", "Alpenblick Treuhand AG",
]
VENDOR_POOLS = {
    "inv_de": ["Müller & Söhne GmbH", "Nordlicht Software AG", "Hanseatic Data GmbH", "Alpenblick Treuhand AG",
               "Bäckerei Schmidt KG"],
    "inv_fr": ["Atelier Dupont SARL", "Papeterie Lefèvre", "Transports Girard & Fils", "Boulangerie du Marché SAS"],
    "inv_es": ["Construcciones Ibéricas S.L.", "Imprenta Soler S.A.", "Talleres Gómez", "Distribuciones Sur S.L."],
    "inv_nl": ["Van der Berg Logistiek B.V.", "Drukkerij De Vries", "Bakker & Zonen B.V.", "Groen Installatietechniek"],
    "inv_jpy": ["Kyoto Precision K.K.", "Sakura Design Studio", "Hokuto Electronics Co., Ltd."],
}
CUSTOMERS = ["Riverside Dental Clinic", "Harbourview Hotels plc", "Blue Finch Media", "Stadtwerke Kleinheim",
             "Café Lumière", "Northgate Academy", "Pinecrest Realty", "Orbit Robotics BV"]
ITEMS = [
    ("Consulting services (hours)", 95.0, 180.0), ("Office chairs", 120.0, 340.0), ("Printer toner cartridge", 39.0, 89.0),
    ("Cloud hosting, monthly plan", 49.0, 420.0), ("Software licence seat", 12.0, 99.0), ("On-site installation", 150.0, 600.0),
    ("Laptop stand", 25.0, 60.0), ("Network switch 24-port", 180.0, 390.0), ("Copy paper A4, box", 18.0, 42.0),
    ("Translation, per page", 22.0, 45.0), ("Annual maintenance contract", 400.0, 2400.0), ("USB-C cables", 6.0, 19.0),
    ("Design workshop", 800.0, 2200.0), ("Data migration", 300.0, 1500.0), ("Catering, lunch buffet", 14.0, 32.0),
    ("Security audit", 900.0, 4000.0), ("Desk lamps", 22.0, 75.0), ("Training session", 250.0, 950.0),
]
FLAT_FEES = [("Shipping and handling", 15.0, 60.0), ("Travel expenses (flat)", 80.0, 400.0), ("Setup fee", 50.0, 250.0)]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]
MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre"]
MONTHS_DE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
             "November", "Dezember"]


def us(x: float, decimals: int = 2) -> str:
    return f"{x:,.{decimals}f}"


def eu(x: float) -> str:
    return f"{x:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")


def fr(x: float) -> str:
    return f"{x:,.2f}".replace(",", " ").replace(".", ",")


def plain(x: float) -> str:
    return f"{x:.2f}"


def _date(rng: random.Random) -> dt.date:
    return dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(0, 720))


def _items(rng: random.Random, n: int, *, flat: bool = False, integer_prices: bool = False) -> list[dict[str, Any]]:
    chosen = rng.sample(ITEMS, min(n, len(ITEMS))) if n <= len(ITEMS) else [rng.choice(ITEMS) for _ in range(n)]
    items = []
    for i, (name, lo, hi) in enumerate(chosen):
        qty = float(rng.choice([1, 1, 2, 3, 4, 5, 8, 10, 12] + ([] if integer_prices else [1.5, 2.5])))
        unit = float(rng.randrange(int(lo), int(hi) + 1)) if integer_prices else round(rng.uniform(lo, hi), 2)
        if n > len(ITEMS):
            name = f"{name} #{i + 1}, delivery note DN-{rng.randrange(10000, 99999)}"
        items.append({"description": name, "quantity": qty, "unit_price": unit, "total": round(qty * unit, 2)})
    if flat:
        name, lo, hi = rng.choice(FLAT_FEES)
        items.append({"description": name, "quantity": None, "unit_price": None,
                      "total": float(rng.randrange(int(lo), int(hi) + 1))})
    return items


def _qty(q: float | None, comma: bool = False) -> str:
    if q is None:
        return ""
    text = str(int(q)) if q == int(q) else str(q)
    return text.replace(".", ",") if comma else text


# -- invoice layouts: each takes a record and returns the text ------------------------------------


def inv_plain(r: dict[str, Any], rng: random.Random) -> str:
    cur = r["shown_currency"]
    lines = []
    for it in r["line_items"]:
        if it["quantity"] is None:
            lines.append(f"  {it['description']}    {plain(it['total'])}")
        else:
            lines.append(f"  {_qty(it['quantity'])} x {it['description']} @ {plain(it['unit_price'])} = {plain(it['total'])}")
    tail = f" {cur}" if cur else ""
    return (f"{r['vendor_name']}\n12 Harbour Road, Suite 4\n\nINVOICE No. {r['invoice_number']}\n"
            f"Date: {r['date']}\nBill to: {r['customer']}\n\nItems:\n" + "\n".join(lines)
            + f"\n\nTOTAL DUE: {plain(r['total_amount'])}{tail}\nPayment within 30 days.")


def inv_us_table(r: dict[str, Any], rng: random.Random) -> str:
    d = dt.date.fromisoformat(r["date"])
    due = d + dt.timedelta(days=30)
    sym = "$" if r["shown_currency"] == "USD" else ""
    rows = []
    for it in r["line_items"]:
        unit = "" if it["unit_price"] is None else f"{sym}{us(it['unit_price'])}"
        rows.append(f"{it['description']} | {_qty(it['quantity'])} | {unit} | {sym}{us(it['total'])}")
    tax = r["tax"]
    label = "Amount Due" if rng.random() < 0.5 else "Balance Due"
    date_text = (f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}" if rng.random() < 0.5
                 else f"{d.month:02d}/{d.day:02d}/{d.year}")
    due_text = f"{due.month:02d}/{due.day:02d}/{due.year}"
    return ("INVOICE\n\n"
            f"From: {r['vendor_name']}\n      400 Market Street, Springfield\n"
            f"Bill To: {r['customer']}\n\n"
            f"Invoice #: {r['invoice_number']}\nInvoice Date: {date_text}\nDue Date: {due_text}\n\n"
            "Description | Qty | Unit Price | Amount\n--- | --- | --- | ---\n" + "\n".join(rows) + "\n\n"
            f"Subtotal: {sym}{us(r['subtotal'])}\n"
            + (f"Sales Tax (8%): {sym}{us(tax)}\n" if tax else "")
            + f"{label}: {sym}{us(r['total_amount'])}\n\nThank you for your business!")


def inv_de(r: dict[str, Any], rng: random.Random) -> str:
    d = dt.date.fromisoformat(r["date"])
    rows = []
    for i, it in enumerate(r["line_items"], 1):
        unit = "" if it["unit_price"] is None else f"{eu(it['unit_price'])} €"
        rows.append(f"{i}   {it['description']}   {_qty(it['quantity'], comma=True)}   {unit}   {eu(it['total'])} €")
    written = (f"{d.day:02d}.{d.month:02d}.{d.year}" if rng.random() < 0.6
               else f"{d.day}. {MONTHS_DE[d.month - 1]} {d.year}")
    start = d.replace(day=1)
    return (f"{r['vendor_name']}\nHauptstraße 17, 10115 Berlin\nUSt-IdNr. DE123456789\n\n"
            f"An: {r['customer']}\n\nRECHNUNG\n\nRechnungsnummer: {r['invoice_number']}\n"
            f"Rechnungsdatum: {written}\n"
            f"Leistungszeitraum: {start.day:02d}.{start.month:02d}.{start.year} - {d.day:02d}.{d.month:02d}.{d.year}\n\n"
            "Pos.   Beschreibung   Menge   Einzelpreis   Gesamt\n" + "\n".join(rows) + "\n\n"
            f"Zwischensumme: {eu(r['subtotal'])} €\nMwSt. 19 %: {eu(r['tax'])} €\n"
            f"Gesamtbetrag: {eu(r['total_amount'])} €\n\nZahlbar innerhalb von 14 Tagen ohne Abzug.")


def inv_fr(r: dict[str, Any], rng: random.Random) -> str:
    d = dt.date.fromisoformat(r["date"])
    due = d + dt.timedelta(days=30)
    rows = []
    for it in r["line_items"]:
        unit = "" if it["unit_price"] is None else fr(it["unit_price"])
        rows.append(f"{it['description']}    {_qty(it['quantity'], comma=True)}    {unit}    {fr(it['total'])}")
    cur = r["shown_currency"]
    return (f"Facture n° {r['invoice_number']}\n"
            f"Date : {d.day} {MONTHS_FR[d.month - 1]} {d.year}\n"
            f"Échéance : {due.day:02d}/{due.month:02d}/{due.year}\n"
            f"Fournisseur : {r['vendor_name']}\nClient : {r['customer']}\n\n"
            "Désignation    Qté    P.U.    Montant\n" + "\n".join(rows) + "\n\n"
            f"Total HT : {fr(r['subtotal'])} {cur}\nTVA 20 % : {fr(r['tax'])} {cur}\n"
            f"Total TTC : {fr(r['total_amount'])} {cur}\n\nPaiement à 30 jours.")


def inv_es(r: dict[str, Any], rng: random.Random) -> str:
    d = dt.date.fromisoformat(r["date"])
    rows = []
    for it in r["line_items"]:
        unit = "" if it["unit_price"] is None else eu(it["unit_price"])
        rows.append(f"{it['description']}   {_qty(it['quantity'], comma=True)}   {unit}   {eu(it['total'])}")
    return (f"{r['vendor_name']}\nCalle Mayor 8, 28013 Madrid\n\n"
            f"Factura nº {r['invoice_number']}\nFecha de emisión: {d.day:02d}/{d.month:02d}/{d.year}\n"
            f"Cliente: {r['customer']}\n\nConcepto   Cantidad   Precio   Importe\n" + "\n".join(rows) + "\n\n"
            f"Base imponible: {eu(r['subtotal'])} €\nIVA 21 %: {eu(r['tax'])} €\n"
            f"Total a pagar: {eu(r['total_amount'])} €\n")


def inv_nl(r: dict[str, Any], rng: random.Random) -> str:
    d = dt.date.fromisoformat(r["date"])
    rows = []
    for it in r["line_items"]:
        unit = "" if it["unit_price"] is None else f"€ {eu(it['unit_price'])}"
        rows.append(f"{it['description']}\t{_qty(it['quantity'], comma=True)}\t{unit}\t€ {eu(it['total'])}")
    return (f"{r['vendor_name']}\nKeizersgracht 101, Amsterdam\n\n"
            f"Factuurnummer: {r['invoice_number']}\nFactuurdatum: {d.day:02d}-{d.month:02d}-{d.year}\n"
            f"Vervaldatum: {(d + dt.timedelta(days=14)).isoformat()}\nKlant: {r['customer']}\n\n"
            "Omschrijving\tAantal\tPrijs\tBedrag\n" + "\n".join(rows) + "\n\n"
            f"Subtotaal: € {eu(r['subtotal'])}\nBTW 21%: € {eu(r['tax'])}\nTe betalen: € {eu(r['total_amount'])}\n")


def inv_multi(r: dict[str, Any], rng: random.Random) -> str:
    """Priced in one currency, with a conversion to another for information."""
    cur, other, rate = r["currency"], r["other_currency"], r["rate"]
    rows = [f"{it['description']} | {_qty(it['quantity'])} | {'' if it['unit_price'] is None else us(it['unit_price'])}"
            f" | {us(it['total'])}" for it in r["line_items"]]
    return (f"{r['vendor_name']}\nInvoice Number: {r['invoice_number']}\nIssue date: {r['date']}\n"
            f"Customer: {r['customer']}\nCurrency: {cur}\n\n"
            "Item | Quantity | Unit price | Line total\n" + "\n".join(rows) + "\n\n"
            f"Total due: {cur} {us(r['total_amount'])}\n"
            f"Equivalent for information only: {other} {us(r['total_amount'] * rate)} (rate {rate})\n"
            f"Please pay in {cur}; payments in {other} are not accepted.")


def inv_jpy(r: dict[str, Any], rng: random.Random) -> str:
    rows = [f"{it['description']}    {_qty(it['quantity'])}    ¥{us(it['unit_price'], 0)}    ¥{us(it['total'], 0)}"
            for it in r["line_items"]]
    return (f"{r['vendor_name']}\n1-2-3 Shibuya, Tokyo\n\nINVOICE\nInvoice No: {r['invoice_number']}\n"
            f"Date: {r['date']}\nTo: {r['customer']}\n\nDescription    Qty    Unit    Amount\n" + "\n".join(rows)
            + f"\n\nTotal Amount Due: ¥{us(r['total_amount'], 0)}\n")


def inv_long(r: dict[str, Any], rng: random.Random) -> str:
    """Many pages of items; the amount due is on the first page, as statements put it, and at the end."""
    cur = r["currency"]
    header = "Description | Qty | Unit price | Amount"
    pages, per_page = [], 40
    items = r["line_items"]
    n_pages = (len(items) + per_page - 1) // per_page
    for p in range(n_pages):
        chunk = items[p * per_page:(p + 1) * per_page]
        rows = [f"{it['description']} | {_qty(it['quantity'])} | {us(it['unit_price'])} | {us(it['total'])}"
                for it in chunk]
        pages.append(f"Page {p + 1} of {n_pages}\n{header}\n" + "\n".join(rows))
    terms = ("Terms: goods remain our property until paid in full. Late payments accrue interest at the "
             "statutory rate. Please quote the invoice number with every payment. ") * 6
    return (f"{r['vendor_name']}\nStatement invoice\nInvoice No. {r['invoice_number']}\nInvoice date: {r['date']}\n"
            f"Customer: {r['customer']}\nAmount due: {us(r['total_amount'])} {cur}\n\n"
            + "\n\n".join(pages)
            + f"\n\nSubtotal: {us(r['subtotal'])} {cur}\nTax: {us(r['tax'])} {cur}\n"
            f"Total due: {us(r['total_amount'])} {cur}\n\n{terms}")


def _invoice(i: int, rng: random.Random, layout: str) -> tuple[str, dict[str, Any], list[str]]:
    tags: list[str] = [layout]
    pool = VENDOR_POOLS.get(layout, VENDORS)
    vendor = pool[i % len(pool)]
    d = _date(rng)
    flat = rng.random() < 0.3
    n = {"inv_long": rng.randrange(400, 620)}.get(layout, rng.randint(1, 6))
    items = _items(rng, n, flat=flat and layout not in ("inv_jpy", "inv_long"),
                   integer_prices=layout == "inv_jpy")
    if any(it["quantity"] is None for it in items):
        tags.append("missing_fields")
    subtotal = round(sum(it["total"] for it in items), 2)
    rates = {"inv_de": 0.19, "inv_fr": 0.20, "inv_es": 0.21, "inv_nl": 0.21, "inv_long": 0.1}
    tax_rate = rates.get(layout, 0.08 if layout == "inv_us_table" and rng.random() < 0.6 else 0.0)
    tax = round(subtotal * tax_rate, 2)
    total = round(subtotal + tax, 2)
    numbers = {
        "inv_plain": f"INV-{d.year}-{1000 + i}", "inv_us_table": f"{10040 + i * 7}",
        "inv_de": f"RE-{d.year}-{i:04d}", "inv_fr": f"F{d.year}-{100 + i}", "inv_es": f"A-{d.year}/{300 + i:04d}",
        "inv_nl": f"{d.year}{i:04d}", "inv_multi": f"MC-{i:03d}-{d.year % 100}", "inv_jpy": f"JP{d.year}{i:03d}",
        "inv_long": f"ST-{d.year}-{i:05d}",
    }
    currency = {"inv_de": "EUR", "inv_fr": "EUR", "inv_es": "EUR", "inv_nl": "EUR", "inv_jpy": "JPY"}.get(layout)
    shown = currency
    if layout in ("inv_plain", "inv_us_table"):
        if rng.random() < 0.35:
            currency, shown = "USD", None  # states none: USD by the task's rule
            tags.append("no_currency")
        else:
            currency = "USD" if layout == "inv_us_table" else rng.choice(["USD", "EUR", "GBP", "CHF", "CAD"])
            shown = currency
    if layout == "inv_fr":
        shown = rng.choice(["EUR", "€"])
    record: dict[str, Any] = {
        "invoice_number": numbers[layout], "date": d.isoformat(), "vendor_name": vendor,
        "total_amount": total, "currency": currency or "USD", "line_items": items,
        "customer": CUSTOMERS[i % len(CUSTOMERS)], "subtotal": subtotal, "tax": tax, "shown_currency": shown,
    }
    if layout == "inv_multi":
        record["currency"], record["other_currency"] = rng.choice([("EUR", "USD"), ("GBP", "EUR"), ("CHF", "EUR"),
                                                                   ("USD", "CAD")])
        record["rate"] = rng.choice([0.86, 1.08, 1.17, 1.36])
        tags.append("multi_currency")
    if layout in ("inv_de", "inv_fr", "inv_es", "inv_nl"):
        tags.append("eu_number_format")
    if layout == "inv_long":
        record["currency"] = rng.choice(["USD", "EUR", "GBP"])
        tags.append("long")
    text = INVOICE_RENDERERS[layout](record, rng)
    expected = {k: record[k] for k in ("invoice_number", "date", "vendor_name", "total_amount", "currency",
                                       "line_items")}
    return text, expected, tags


INVOICE_RENDERERS: dict[str, Callable[[dict[str, Any], random.Random], str]] = {
    "inv_plain": inv_plain, "inv_us_table": inv_us_table, "inv_de": inv_de, "inv_fr": inv_fr, "inv_es": inv_es,
    "inv_nl": inv_nl, "inv_multi": inv_multi, "inv_jpy": inv_jpy, "inv_long": inv_long,
}
INVOICE_LAYOUTS = (["inv_plain"] * 8 + ["inv_us_table"] * 8 + ["inv_de"] * 5 + ["inv_fr"] * 5 + ["inv_es"] * 4
                   + ["inv_nl"] * 4 + ["inv_multi"] * 5 + ["inv_jpy"] * 3 + ["inv_long"] * 3)

# -- job postings ---------------------------------------------------------------------------------

TITLES = ["Senior Python Engineer", "Data Analyst", "Site Reliability Engineer", "Product Designer",
          "Machine Learning Engineer", "Backend Developer", "Technical Writer", "Customer Success Manager",
          "Frontend Engineer (React)", "DevOps Engineer", "QA Automation Engineer", "Engineering Manager",
          "Mobile Developer (iOS)", "Data Engineer", "Security Analyst"]
COMPANIES = ["Lumen Analytics", "Kestrel Cloud", "Nordlicht Software AG", "Bright Harbor Consulting", "Saguaro Solar",
             "Tessera Design Studio", "Hanseatic Data GmbH", "Orbit Robotics", "Pinecrest Health", "Quayside Freight",
             "Fieldnote Labs", "Copperleaf Games"]
CITIES = ["Berlin", "Lisbon", "Austin, TX", "Toronto", "Warsaw", "London", "Amsterdam", "Denver, CO", "Dublin",
          "Barcelona", "Munich", "Seattle, WA"]
BOILERPLATE = (
    "We build tools that make everyday work a little calmer. Our team is spread over several time zones and "
    "we write things down: proposals, decisions and post-mortems live in shared documents that anyone can "
    "comment on. We value kindness, clarity and shipping small changes often. "
)


def _experience_text(rng: random.Random, years: int | None) -> str:
    if years is None:
        return "You enjoy learning new tools and explaining your work to others."
    return rng.choice([
        f"We are looking for someone with {years}+ years of experience.",
        f"At least {years} years of professional experience with a modern stack.",
        f"Minimum of {years} years of relevant experience.",
        f"You have {years}-{years + 3} years of experience building production systems.",
        f"{years} or more years of hands-on experience.",
    ])


def _salary_text(rng: random.Random, lo: float | None, hi: float | None, period: str) -> str:
    if lo is None and hi is None:
        return rng.choice(["Competitive salary and equity.", "Salary: to be discussed.", "Great benefits and a learning budget."])
    div = {"year": 1, "month": 12}[period]
    unit = {"year": rng.choice(["per year", "a year", "annually"]), "month": "per month"}[period]
    if lo is not None and hi is not None:
        a, b = lo / div, hi / div
        if period == "year" and rng.random() < 0.3:
            return f"Salary: ${int(a / 1000)}k–${int(b / 1000)}k {unit}"
        if rng.random() < 0.3:
            return f"Salary range: USD {us(a, 0)} - {us(b, 0)} {unit}"
        return f"Salary: ${us(a, 0)} - ${us(b, 0)} {unit}."
    if hi is not None:
        return f"Pay: up to ${us(hi / div, 0)} {unit}."
    return f"Compensation: starting at ${us(lo / div, 0)} {unit}."


def _location_text(rng: random.Random, city: str | None, remote: bool) -> str:
    if remote:
        return rng.choice(["Location: Fully remote", "Location: Remote (anywhere in Europe)",
                           "Location: 100% remote", "Location: Remote - US time zones"])
    return rng.choice([f"Location: {city} (hybrid)", f"Location: {city}", f"Location: {city} - on-site",
                       f"Location: {city} (on-site, 4 days a week)"])


def job_posting(i: int, rng: random.Random, layout: str) -> tuple[str, dict[str, Any], list[str]]:
    tags = [layout]
    title, company = TITLES[i % len(TITLES)], COMPANIES[(i * 5) % len(COMPANIES)]
    remote = rng.random() < 0.3
    city = None if remote else rng.choice(CITIES)
    years = None if rng.random() < 0.2 else rng.randint(1, 10)
    shape = rng.random()
    period = "month" if rng.random() < 0.12 else "year"
    if shape < 0.2:
        lo = hi = None
    else:
        lo = float(rng.randrange(50, 180) * 1000)
        hi = lo + float(rng.choice([10, 20, 30, 40]) * 1000)
        if shape < 0.28:
            lo = None
        elif shape < 0.34:
            hi = None
    if period == "month":
        lo = None if lo is None else float(round(lo / 12) * 12)
        hi = None if hi is None else float(round(hi / 12) * 12)
        tags.append("monthly_salary")
    if lo is None or hi is None or years is None:
        tags.append("missing_fields")
    if remote:
        tags.append("remote")
    loc = _location_text(rng, city, remote)
    sal = _salary_text(rng, lo, hi, period)
    exp = _experience_text(rng, years)
    if layout == "job_headline":
        text = f"{title} at {company}\n{loc}\n{exp}\n{sal}\nApply by email."
    elif layout == "job_labelled":
        text = (f"Job title: {title}\nCompany: {company}\n{loc}\n\nAbout the role\n{BOILERPLATE}\n\n"
                f"Requirements\n- {exp}\n- Clear written English.\n\nCompensation\n{sal}\n")
    elif layout == "job_markdown":
        text = (f"# {title}\n\n**Company:** {company}\n**{loc.replace(': ', ':** ', 1)}\n\n## About {company}\n"
                f"{company} was founded {rng.randint(3, 25)} years ago. {BOILERPLATE}\n\n## What you bring\n"
                f"- {exp}\n\n## Pay\n{sal}\n")
        tags.append("distractor_years")
    elif layout == "job_hiring":
        text = (f"{company} is hiring a {title}!\n\n{loc}\n\n{BOILERPLATE}\n{exp}\n{sal}\n"
                "Send your CV and a short note.")
    else:  # job_long: a long posting with benefits and policies after the essentials
        policies = "\n".join(f"Policy {k}: " + BOILERPLATE * 3 for k in range(1, 40))
        text = (f"Position: {title}\nEmployer: {company}\n{loc}\n{exp}\n\n{policies}\n\n{sal}\n")
        tags.append("long")
    expected = {"title": title, "company": company, "location": city, "is_remote": remote,
                "salary_min": lo, "salary_max": hi, "required_years_experience": None if years is None else float(years)}
    return text, expected, tags


JOB_LAYOUTS = ["job_headline"] * 12 + ["job_labelled"] * 12 + ["job_markdown"] * 10 + ["job_hiring"] * 8 + ["job_long"] * 2


# -- written by hand: layouts the generator does not produce --------------------------------------

HAND_INVOICES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("""TAX INVOICE
Greenfield Lab Supplies Ltd
Unit 4, Riverside Park, Leeds LS1 4AP
VAT Reg. GB 123 4567 89

Invoice number: GLS-88213
Date of issue: 7 November 2025
Customer: Northgate Academy

Qty  Item                              Price      Total
10   Nitrile gloves, box of 100        £8.40      £84.00
2    Pipette tips, rack                £14.75     £29.50

Net total: £113.50
VAT @ 20%: £22.70
Invoice total: £136.20
""", {"invoice_number": "GLS-88213", "date": "2025-11-07", "vendor_name": "Greenfield Lab Supplies Ltd",
      "total_amount": 136.2, "currency": "GBP",
      "line_items": [{"description": "Nitrile gloves, box of 100", "quantity": 10.0, "unit_price": 8.4, "total": 84.0},
                     {"description": "Pipette tips, rack", "quantity": 2.0, "unit_price": 14.75, "total": 29.5}]},
     ["hand", "qty_first_column"]),
    ("""Fattura n. 2025/118
Data: 12/05/2025
Fornitore: Tipografia Rossi S.r.l.
Cliente: Café Lumière

Descrizione    Quantità    Prezzo    Importo
Biglietti da visita    500    0,12    60,00
Volantini A5    1.000    0,08    80,00

Imponibile: 140,00 €
IVA 22%: 30,80 €
Totale da pagare: 170,80 €
""", {"invoice_number": "2025/118", "date": "2025-05-12", "vendor_name": "Tipografia Rossi S.r.l.",
      "total_amount": 170.8, "currency": "EUR",
      "line_items": [{"description": "Biglietti da visita", "quantity": 500.0, "unit_price": 0.12, "total": 60.0},
                     {"description": "Volantini A5", "quantity": 1000.0, "unit_price": 0.08, "total": 80.0}]},
     ["hand", "eu_number_format"]),
    ("""Saguaro Solar Inc.
Invoice INV-SS-4410 | Issued 2025-02-14 | Due 2025-03-16

Panel cleaning service    1    $480.00    $480.00
Inverter inspection       1    $220.00    $220.00

Total: $700.00 USD
""", {"invoice_number": "INV-SS-4410", "date": "2025-02-14", "vendor_name": "Saguaro Solar Inc.",
      "total_amount": 700.0, "currency": "USD",
      "line_items": [{"description": "Panel cleaning service", "quantity": 1.0, "unit_price": 480.0, "total": 480.0},
                     {"description": "Inverter inspection", "quantity": 1.0, "unit_price": 220.0, "total": 220.0}]},
     ["hand", "one_line_header"]),
    ("""Bellwether Legal Services LLP
Invoice No: BLS/2024/0917
Date: 30 September 2024

Professional fees for September, as agreed.

Amount payable: 4,500.00
""", {"invoice_number": "BLS/2024/0917", "date": "2024-09-30", "vendor_name": "Bellwether Legal Services LLP",
      "total_amount": 4500.0, "currency": "USD", "line_items": []},
     ["hand", "no_currency", "no_line_items"]),
    ("""Maple Leaf Printing Inc.
Invoice #: MLP-5521
Invoice Date: 01/15/2025
All amounts in CAD.

Description | Qty | Rate | Amount
Banner printing | 3 | 85.00 | 255.00
Rush fee |  |  | 40.00

Subtotal: 295.00
HST 13%: 38.35
Total Due: 333.35
""", {"invoice_number": "MLP-5521", "date": "2025-01-15", "vendor_name": "Maple Leaf Printing Inc.",
      "total_amount": 333.35, "currency": "CAD",
      "line_items": [{"description": "Banner printing", "quantity": 3.0, "unit_price": 85.0, "total": 255.0},
                     {"description": "Rush fee", "quantity": None, "unit_price": None, "total": 40.0}]},
     ["hand", "missing_fields", "stated_currency"]),
    ("""Alpenblick Treuhand AG
Bahnhofstrasse 1, 8001 Zürich

Rechnung Nr. AT-2025-031
Datum: 3. Juni 2025

Buchhaltung Mai    1    CHF 1'250.00    CHF 1'250.00
Lohnabrechnung     4    CHF 45.00       CHF 180.00

Total: CHF 1'430.00
Zahlbar innert 30 Tagen. Zahlungen in EUR werden zum Tageskurs umgerechnet.
""", {"invoice_number": "AT-2025-031", "date": "2025-06-03", "vendor_name": "Alpenblick Treuhand AG",
      "total_amount": 1430.0, "currency": "CHF",
      "line_items": [{"description": "Buchhaltung Mai", "quantity": 1.0, "unit_price": 1250.0, "total": 1250.0},
                     {"description": "Lohnabrechnung", "quantity": 4.0, "unit_price": 45.0, "total": 180.0}]},
     ["hand", "multi_currency", "swiss_number_format"]),
]

HAND_POSTINGS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("""Copperleaf Games — Senior Gameplay Programmer

Copperleaf Games is an independent studio of 40 people.
Where: Montreal, QC (hybrid, 3 days in the studio)
You bring 6+ years of experience shipping games in C++.
Base salary $110,000 to $140,000 per year, plus profit sharing.
""", {"title": "Senior Gameplay Programmer", "company": "Copperleaf Games", "location": "Montreal, QC",
      "is_remote": False, "salary_min": 110000.0, "salary_max": 140000.0, "required_years_experience": 6.0},
     ["hand", "company_first_headline"]),
    ("""We're hiring: Support Engineer at Fieldnote Labs
Location: Remote (US or Canada)
Experience: 2 years
Salary: $65,000 - $75,000 a year
""", {"title": "Support Engineer", "company": "Fieldnote Labs", "location": None, "is_remote": True,
      "salary_min": 65000.0, "salary_max": 75000.0, "required_years_experience": 2.0},
     ["hand", "remote"]),
    ("""Position: Warehouse Shift Lead
Employer: Quayside Freight
Location: Rotterdam
Pay: $24 per hour
No prior experience required; we train you.
""", {"title": "Warehouse Shift Lead", "company": "Quayside Freight", "location": "Rotterdam", "is_remote": False,
      "salary_min": 49920.0, "salary_max": 49920.0, "required_years_experience": None},
     ["hand", "hourly_salary", "missing_fields"]),
    ("""Job title: Clinical Data Manager
Company: Pinecrest Health
Location: Boston, MA (on-site)

Pinecrest Health has served patients for over 30 years.
Requirements: a degree in life sciences and three years of experience in clinical trials.
""", {"title": "Clinical Data Manager", "company": "Pinecrest Health", "location": "Boston, MA", "is_remote": False,
      "salary_min": None, "salary_max": None, "required_years_experience": 3.0},
     ["hand", "distractor_years", "missing_fields"]),
]


def build(task: str) -> list[dict[str, Any]]:
    make: Callable[[int, random.Random, str], tuple[str, dict[str, Any], list[str]]]
    if task == "invoice_extraction":
        layouts, make, prefix = INVOICE_LAYOUTS, _invoice, "inv"
    else:
        layouts, make, prefix = JOB_LAYOUTS, job_posting, "job"
    rows = []
    for i, layout in enumerate(layouts):
        rng = random.Random(f"{task}:{i}")
        text, expected, tags = make(i, rng, layout)
        rows.append({"id": f"{prefix}-{i:03d}", "input": {"text": text}, "expected": expected, "tags": tags})
    hand = HAND_INVOICES if task == "invoice_extraction" else HAND_POSTINGS
    for j, (text, expected, tags) in enumerate(hand):
        rows.append({"id": f"{prefix}-hand-{j:02d}", "input": {"text": text}, "expected": expected, "tags": tags})
    return rows


def main() -> None:
    for task in ("invoice_extraction", "job_posting_extraction"):
        path = HERE / f"{task}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for row in build(task):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
