"""Usage normalisation and prices: cache tokens counted once, unknown models unknown."""

from __future__ import annotations

import pytest

from promptq.workers.llm.pricing import cost_usd, price_table
from promptq.workers.llm.types import Usage


def test_anthropic_usage_prices_input_cache_write_cache_read_and_output_separately():
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000,
                  cache_creation_input_tokens=1_000_000, cache_read_input_tokens=1_000_000)
    assert cost_usd("claude-sonnet-4-6", usage) == pytest.approx(3.0 + 15.0 + 3.75 + 0.30)


def test_seed_example_sonnet_at_3_and_15_dollars_per_million():
    assert cost_usd("claude-sonnet-4-6", Usage(472, 89)) == pytest.approx(472 * 3e-6 + 89 * 15e-6)


def test_openai_cached_tokens_are_priced_at_the_cache_rate_once():
    # prompt_tokens=1000 of which 400 cached → the adapter reports 600 uncached + 400 cache read
    usage = Usage(input_tokens=600, output_tokens=100, cache_read_input_tokens=400)
    assert cost_usd("gpt-4o", usage) == pytest.approx((600 * 2.5 + 400 * 1.25 + 100 * 10) / 1e6)


def test_unknown_model_costs_null_not_zero(caplog):
    assert cost_usd("mystery-model-9", Usage(100, 100)) is None
    assert "no price for model 'mystery-model-9'" in caplog.text


def test_every_price_has_a_date_and_a_source():
    for model, price in price_table().items():
        assert price.checked.startswith("20") and price.source, model
