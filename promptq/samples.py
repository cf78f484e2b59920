"""Sample documents for the demo and the benchmarks, generated deterministically."""

from __future__ import annotations

import random

VENDORS = ["ACME Supplies Ltd", "Globex GmbH", "Initech LLC", "Umbrella Logistics", "Stark Components",
           "Wayne Paper Co", "Hooli Cloud Services", "Vandelay Imports"]
ITEMS = [("Widget", 19.99), ("Cable pack", 7.5), ("Consulting hour", 120.0), ("Shipping", 15.0),
         ("License seat", 49.0), ("Support plan", 300.0)]
TITLES = ["Senior Python Engineer", "Data Analyst", "Site Reliability Engineer", "Product Designer",
          "Machine Learning Engineer", "Backend Developer"]
CITIES = ["Berlin", "Lisbon", "Austin", "Toronto", "Warsaw", None]


def invoice(i: int) -> str:
    rng = random.Random(i)
    vendor = rng.choice(VENDORS)
    lines, total = [], 0.0
    for _ in range(rng.randint(1, 4)):
        name, price = rng.choice(ITEMS)
        qty = rng.randint(1, 5)
        total += qty * price
        lines.append(f"  {qty} x {name} @ {price:.2f} = {qty * price:.2f}")
    currency = rng.choice(["USD", "EUR", "GBP"])
    return (f"{vendor}\nINVOICE No. INV-{2024 + i % 3}-{1000 + i}\n"
            f"Date: 2024-{1 + i % 12:02d}-{1 + i % 28:02d}\n\nItems:\n" + "\n".join(lines)
            + f"\n\nTOTAL DUE: {total:.2f} {currency}\nPayment within 30 days.")


def job_posting(i: int) -> str:
    rng = random.Random(10_000 + i)
    city = rng.choice(CITIES)
    low = rng.randrange(60, 140) * 1000
    where = f"{city} (hybrid)" if city else "Fully remote"
    return (f"{rng.choice(TITLES)} at {rng.choice(VENDORS)}\nLocation: {where}\n"
            f"We are looking for someone with {rng.randint(1, 8)}+ years of experience.\n"
            f"Salary: ${low:,} - ${low + 30_000:,} per year.\nApply by email.")


def article(i: int) -> str:
    rng = random.Random(20_000 + i)
    topic = rng.choice(["supply chain delays", "a new data-center opening", "quarterly results",
                        "a customer support backlog", "a contract renewal"])
    return (f"Report {i}: this week {rng.choice(VENDORS)} announced {topic}. Analysts expect the "
            "effects to last into next quarter; the company declined to comment further.")


GENERATORS = {"invoice_extraction": invoice, "job_posting_extraction": job_posting,
              "document_enrichment": article}
