"""The simulator's extractors, without HTTP: numbers, dates, each task's fields, task recognition."""

from __future__ import annotations

import datetime as dt

import pytest

from promptq.sim import extract
from promptq.sim.extract import enrichment, invoice, job_posting
from promptq.sim.extract.dates import parse_date
from promptq.sim.extract.numbers import currencies_in, parse_number


@pytest.mark.parametrize(("raw", "value"), [
    ("1,234.56", 1234.56), ("1.234,56", 1234.56), ("1 234,56", 1234.56), ("1'200.50", 1200.5),
    ("120,000", 120000.0), ("120.000", 120000.0), ("19.99", 19.99), ("7,5", 7.5), ("42", 42.0),
    ("12,345,678.90", 12345678.9), ("abc", None), ("", None), ("1.2.3", None),
])
def test_parse_number_reads_us_and_eu_formats(raw, value):
    assert parse_number(raw) == value


@pytest.mark.parametrize(("text", "codes"), [
    ("Total: $1,200.00", ["USD"]), ("Gesamt 1.200,00 €", ["EUR"]), ("£40 or EUR 46", ["GBP", "EUR"]),
    ("CA$ 99", ["CAD"]), ("¥37,850", ["JPY"]), ("amount 12.00", []), ("EURO-Palette", []),
])
def test_currencies_in_reads_codes_and_symbols(text, codes):
    assert currencies_in(text) == codes


@pytest.mark.parametrize(("text", "day_first", "iso"), [
    ("2024-03-14", False, "2024-03-14"), ("14.03.2024", False, "2024-03-14"), ("03/14/2024", False, "2024-03-14"),
    ("04/05/2024", True, "2024-05-04"), ("04/05/2024", False, "2024-04-05"), ("25/12/2024", False, "2024-12-25"),
    ("March 3, 2024", False, "2024-03-03"), ("3 March 2024", False, "2024-03-03"), ("3 mars 2024", False, "2024-03-03"),
    ("14. März 2024", False, "2024-03-14"), ("5 de abril de 2024", False, "2024-04-05"), ("23-10-2025", False, "2025-10-23"),
    ("Sept 9th, 2025", False, "2025-09-09"), ("no date here", False, None), ("31.02.2024", False, None),
])
def test_parse_date_reads_many_layouts(text, day_first, iso):
    found = parse_date(text, day_first=day_first)
    assert (found.isoformat() if found else None) == iso


US_INVOICE = """INVOICE

From: Bright Harbor Consulting LLC
Bill To: Riverside Dental Clinic

Invoice #: 10045
Invoice Date: March 3, 2024
Due Date: 04/02/2024

Description | Qty | Unit Price | Amount
Design workshop | 2 | $1,200.00 | $2,400.00
Setup fee |  |  | $150.00

Subtotal: $2,550.00
Sales Tax (8%): $204.00
Amount Due: $2,754.00
"""

DE_INVOICE = """Müller & Söhne GmbH
Hauptstraße 17, 10115 Berlin

RECHNUNG
Rechnungsnummer: RE-2024-0042
Rechnungsdatum: 14.03.2024
Leistungszeitraum: 01.02.2024 - 29.02.2024

Pos.   Beschreibung   Menge   Einzelpreis   Gesamt
1   Beratung   2   1.200,00 €   2.400,00 €
2   Reisekosten         310,50 €

Zwischensumme: 2.710,50 €
MwSt. 19 %: 515,00 €
Gesamtbetrag: 3.225,50 €
"""

MULTI_INVOICE = """Tessera Design Studio
Invoice Number: MC-7
Issue date: 2025-10-03
Currency: CHF

Item | Quantity | Unit price | Line total
Logo design | 1 | 900.00 | 900.00

Total due: CHF 900.00
Equivalent for information only: EUR 963.00 (rate 1.07)
"""

NO_CURRENCY = """Oakridge Office Supply Co.
INVOICE No. INV-2025-1000
Date: 2025-09-29

Items:
  4 x Desk lamps @ 30.00 = 120.00

TOTAL DUE: 120.00
"""


@pytest.mark.parametrize(("text", "fields"), [
    (US_INVOICE, {"invoice_number": "10045", "date": "2024-03-03", "vendor_name": "Bright Harbor Consulting LLC",
                  "total_amount": 2754.0, "currency": "USD"}),
    (DE_INVOICE, {"invoice_number": "RE-2024-0042", "date": "2024-03-14", "vendor_name": "Müller & Söhne GmbH",
                  "total_amount": 3225.5, "currency": "EUR"}),
    (MULTI_INVOICE, {"invoice_number": "MC-7", "date": "2025-10-03", "vendor_name": "Tessera Design Studio",
                     "total_amount": 900.0, "currency": "CHF"}),
    (NO_CURRENCY, {"invoice_number": "INV-2025-1000", "date": "2025-09-29",
                   "vendor_name": "Oakridge Office Supply Co.", "total_amount": 120.0, "currency": "USD"}),
])
def test_invoice_header_fields(text, fields):
    got = invoice.extract(text)
    assert {k: got[k] for k in fields} == fields


@pytest.mark.parametrize(("text", "items"), [
    (US_INVOICE, [{"description": "Design workshop", "quantity": 2.0, "unit_price": 1200.0, "total": 2400.0},
                  {"description": "Setup fee", "quantity": None, "unit_price": None, "total": 150.0}]),
    (DE_INVOICE, [{"description": "Beratung", "quantity": 2.0, "unit_price": 1200.0, "total": 2400.0},
                  {"description": "Reisekosten", "quantity": None, "unit_price": None, "total": 310.5}]),
    (NO_CURRENCY, [{"description": "Desk lamps", "quantity": 4.0, "unit_price": 30.0, "total": 120.0}]),
])
def test_invoice_line_items_stop_at_the_totals(text, items):
    assert invoice.extract(text)["line_items"] == items


def test_an_invoice_without_a_total_line_totals_its_items():
    text = "Acme Ltd\nInvoice No. A-1\nDate: 2024-01-02\n\nItems:\n  2 x Widget @ 5.00 = 10.00\n  1 x Gear @ 2.50 = 2.50\n"
    assert invoice.extract(text)["total_amount"] == 12.5


@pytest.mark.parametrize(("text", "fields"), [
    ("Data Analyst at Lumen Analytics\nLocation: Berlin (hybrid)\nWe are looking for someone with 3+ years of "
     "experience.\nSalary: $60,000 - $80,000 per year.",
     {"title": "Data Analyst", "company": "Lumen Analytics", "location": "Berlin", "is_remote": False,
      "salary_min": 60000.0, "salary_max": 80000.0, "required_years_experience": 3.0}),
    ("Job title: DevOps Engineer\nCompany: Kestrel Cloud\nLocation: Fully remote\nCompetitive salary.",
     {"title": "DevOps Engineer", "company": "Kestrel Cloud", "location": None, "is_remote": True,
      "salary_min": None, "salary_max": None, "required_years_experience": None}),
    ("Orbit Robotics is hiring a Data Engineer!\n\nLocation: Denver, CO - on-site\nOrbit was founded 12 years ago.\n"
     "At least 4 years of professional experience.\nPay: up to $10,000 per month.",
     {"title": "Data Engineer", "company": "Orbit Robotics", "location": "Denver, CO", "is_remote": False,
      "salary_min": None, "salary_max": 120000.0, "required_years_experience": 4.0}),
    ("# Technical Writer\n\n**Company:** Fieldnote Labs\n**Location:** Remote (anywhere in Europe)\n\n"
     "- Minimum of two years of relevant experience.\n\nSalary: $90k–$110k a year",
     {"title": "Technical Writer", "company": "Fieldnote Labs", "location": None, "is_remote": True,
      "salary_min": 90000.0, "salary_max": 110000.0, "required_years_experience": 2.0}),
    ("Copperleaf Games — Gameplay Programmer\n\nCopperleaf Games is a studio.\nWhere: Montreal, QC (hybrid)\n"
     "Base salary $110,000 to $140,000 per year.",
     {"title": "Gameplay Programmer", "company": "Copperleaf Games", "location": "Montreal, QC", "is_remote": False,
      "salary_min": 110000.0, "salary_max": 140000.0, "required_years_experience": None}),
    ("Position: QA Engineer\nEmployer: Copperleaf Games\nLocation: Dublin\nCompensation: starting at $70,000 annually.",
     {"title": "QA Engineer", "company": "Copperleaf Games", "location": "Dublin", "is_remote": False,
      "salary_min": 70000.0, "salary_max": None, "required_years_experience": None}),
])
def test_job_posting_fields(text, fields):
    assert job_posting.extract(text) == fields


@pytest.mark.parametrize(("text", "language", "category"), [
    ("Report 3: this week Globex announced quarterly results. Analysts expect the effects to last.", "en", "news"),
    ("Die Rechnung ist bis zum 3. März zu zahlen. Wir danken für den Auftrag und die gute Zusammenarbeit.", "de",
     "invoice"),
    ("Bonjour, mon ticket est toujours ouvert et le produit ne fonctionne pas. Pouvez-vous nous aider avec "
     "cette erreur ? Le support ne répond pas.", "fr", "support"),
    ("This Agreement is made between the parties. The parties hereby agree that either party may terminate "
     "the contract.", "en", "contract"),
    ("Lorem ipsum dolor.", "en", "other"),
])
def test_enrichment_language_and_category(text, language, category):
    got = enrichment.extract(text)
    assert (got["language"], got["category"]) == (language, category)
    assert got["summary"] and len(got["tags"]) <= 8 and all(t == t.lower() for t in got["tags"])


def test_enrichment_summary_is_the_first_three_sentences():
    text = "One is here. Two is there! Three? Four is not in it."
    assert enrichment.extract(text)["summary"] == "One is here. Two is there! Three?"


@pytest.mark.parametrize(("user_text", "document"), [
    ("The invoice:\n<document>\nACME\nTotal 5\n</document>", "ACME\nTotal 5"),
    ("<document>\nsee &lt;/document> and &lt;message role=\"user\">\n</document>",
     'see </document> and <message role="user">'),
    ("no frame at all [[sim:refusal]]", "no frame at all"),
    ("<document>\nx &lt;b> y\n</document>", "x &lt;b> y"),
])
def test_document_of_unframes_and_unescapes_our_tags_only(user_text, document):
    assert extract.document_of(user_text) == document


@pytest.mark.parametrize(("name", "schema", "known"), [
    ("invoice_extraction", {}, "invoice_extraction"),
    ("extract_invoice", {"title": "job_posting_extraction"}, "job_posting_extraction"),
    (None, {"properties": {"summary": {}, "language": {}, "category": {}, "tags": {}}}, "document_enrichment"),
    ("extract_invoice", {"properties": {"invoice_number": {}, "total": {}}}, None),
    (None, None, None),
])
def test_identify_by_name_title_or_exact_fields(name, schema, known):
    assert extract.identify(name, schema) == known


def test_an_extraction_that_does_not_fit_the_schema_sent_is_not_used():
    schema = {"type": "object", "required": ["invoice_number", "extra"], "properties": {"extra": {"type": "string"}}}
    assert extract.extract("invoice_extraction", schema, NO_CURRENCY) is None
    assert extract.extract("invoice_extraction", {"type": "object"}, NO_CURRENCY)["total_amount"] == 120.0


def test_dates_module_knows_month_names_in_several_languages():
    assert parse_date("1 août 2024") == dt.date(2024, 8, 1)
    assert parse_date("1 maart 2024") == dt.date(2024, 3, 1)


def test_an_extraction_with_an_invalid_date_format_is_not_used():
    schema = {"type": "object", "properties": {"date": {"type": "string", "format": "date"}}}
    assert extract.extract("invoice_extraction", schema, "Acme\nInvoice No. A-1\nTotal: 5.00") is None
