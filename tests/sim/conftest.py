"""A simulator on a free port for this directory, reset before each test, and shared schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from promptq.sim.config import SimConfig
from promptq.sim.server import start_in_thread


class Simulator:
    """Handle on a running simulator: its URL plus the control plane."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx2.Client(base_url=base_url, timeout=10.0)

    def configure(self, **changes: Any) -> dict[str, Any]:
        response = self.http.post("/_sim/config", json=changes)
        response.raise_for_status()
        return response.json()

    def script(self, *faults: str) -> None:
        self.http.post("/_sim/script", json={"faults": list(faults)}).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return self.http.get("/_sim/stats").json()

    def reset(self) -> None:
        self.http.post("/_sim/reset").raise_for_status()


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    base_url, stop = start_in_thread(SimConfig())
    handle = Simulator(base_url)
    try:
        yield handle
    finally:
        handle.http.close()
        stop()


@pytest.fixture(autouse=True)
def _fresh_simulator(simulator: Simulator) -> None:
    simulator.reset()


@pytest.fixture
def claude(simulator: Simulator) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=simulator.base_url, api_key="sk-ant-test", max_retries=0, timeout=10.0)
    yield client
    client.close()


@pytest.fixture
def gpt(simulator: Simulator) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=simulator.base_url + "/v1", api_key="sk-test", max_retries=0, timeout=10.0)
    yield client
    client.close()


INVOICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string"},
        "vendor_name": {"type": "string"},
        "issue_date": {"type": "string", "format": "date"},
        "due_date": {"type": ["string", "null"]},
        "currency": {"type": "string"},
        "total": {"type": "number", "minimum": 0},
        "status": {"type": "string", "enum": ["paid", "unpaid", "overdue"]},
        "line_items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {
                    "description": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 1},
                    "unit_price": {"type": "number"},
                },
                "required": ["description", "quantity", "unit_price"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["invoice_number", "vendor_name", "total", "currency", "line_items"],
    "additionalProperties": False,
}


INVOICE_TOOL_DESCRIPTION = "Record the fields of an invoice."


@pytest.fixture
def invoice_schema() -> dict[str, Any]:
    return INVOICE_SCHEMA


@pytest.fixture
def invoice_tool() -> dict[str, Any]:
    """An Anthropic tool definition."""
    return {"name": "extract_invoice", "description": INVOICE_TOOL_DESCRIPTION, "input_schema": INVOICE_SCHEMA}


@pytest.fixture
def classify_tool() -> dict[str, Any]:
    """A second Anthropic tool, listed first where tests check which tool is picked."""
    return {
        "name": "classify",
        "description": "Classify a document.",
        "input_schema": {
            "type": "object",
            "properties": {"label": {"type": "string", "enum": ["invoice", "receipt", "other"]}},
            "required": ["label"],
        },
    }


@pytest.fixture
def openai_invoice_format(invoice_schema: dict[str, Any]) -> dict[str, Any]:
    """A Chat Completions ``response_format`` enforcing the invoice schema."""
    return {"type": "json_schema", "json_schema": {"name": "invoice", "schema": invoice_schema, "strict": True}}


@pytest.fixture
def openai_invoice_tool() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": "extract_invoice", "description": INVOICE_TOOL_DESCRIPTION, "parameters": INVOICE_SCHEMA},
    }
