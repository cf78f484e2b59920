"""The simulator's pure parts, without HTTP: schema filling, faults, buckets, cache, config."""

from __future__ import annotations

import datetime as dt
import json
import re

import jsonschema
import pytest

from promptq.sim.config import SimConfig, parse_fault_rates
from promptq.sim.faults import FaultInjector, parse_marker
from promptq.sim.openai_api import duration
from promptq.sim.partial_json import close_partial
from promptq.sim.prompt_cache import PromptCache
from promptq.sim.ratelimit import RateLimiter
from promptq.sim.schema_fill import break_instance, fill

SCHEMAS = {
    "unions_enums_consts": {
        "type": "object",
        "properties": {
            "note": {"type": ["string", "null"]},
            "kind": {"enum": ["a", "b", None]},
            "version": {"const": 2},
            "flag": {"type": "boolean"},
            "either": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5, "maximum": 6}]},
            "one": {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "null"}]},
        },
        "required": ["note", "kind", "version", "flag", "either", "one"],
        "additionalProperties": False,
    },
    "bounds": {
        "type": "object",
        "properties": {
            "percent": {"type": "number", "minimum": 0, "maximum": 100},
            "tiny": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.001},
            "step": {"type": "number", "multipleOf": 0.25, "minimum": 1, "maximum": 3},
            "cents": {"type": "number", "multipleOf": 0.01},
            "count": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
            "even": {"type": "integer", "multipleOf": 2},
            "code": {"type": "string", "minLength": 12, "maxLength": 14},
            "tags": {
                "type": "array",
                "items": {"type": "string", "enum": ["x", "y", "z"]},
                "uniqueItems": True,
                "minItems": 2,
            },
            "empty": {"type": "array", "maxItems": 0},
        },
        "required": ["percent", "tiny", "step", "cents", "count", "even", "code", "tags", "empty"],
    },
    "refs_and_nesting": {
        "$defs": {
            "Party": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}},
                "required": ["name", "email"],
                "additionalProperties": False,
            },
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["label"],
            },
        },
        "type": "object",
        "properties": {
            "buyer": {"$ref": "#/$defs/Party"},
            "seller": {"allOf": [{"$ref": "#/$defs/Party"}]},
            "tree": {"$ref": "#/$defs/Node"},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
            "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "required": ["buyer", "seller", "tree", "pair", "meta"],
    },
    "draft4_style": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 10, "exclusiveMinimum": True, "maximum": 11}},
        "required": ["n"],
    },
    "top_level_array": {"type": "array", "items": {"type": "number"}, "minItems": 1},
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_filled_instances_validate_for_many_seeds(name):
    schema = SCHEMAS[name]
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    for seed in range(200):
        validator.validate(fill(schema, seed))


def test_fill_is_deterministic_in_the_seed():
    schema = SCHEMAS["refs_and_nesting"]
    assert fill(schema, 42) == fill(schema, 42)
    assert any(fill(schema, 42) != fill(schema, seed) for seed in range(43, 50))


def test_property_names_steer_values_to_plausible_shapes():
    schema = {
        "type": "object",
        "properties": {
            "invoice_number": {"type": "string"},
            "invoiceDate": {"type": "string"},
            "currency": {"type": "string"},
            "vendor_email": {"type": "string"},
            "total_amount": {"type": "number"},
            "quantity": {"type": "integer"},
            "candidate": {"type": "string"},
        },
    }
    value = fill(schema, 7)
    assert re.fullmatch(r"INV-\d{5}", value["invoice_number"])
    dt.date.fromisoformat(value["invoiceDate"])
    assert re.fullmatch(r"[A-Z]{3}", value["currency"])
    assert re.fullmatch(r"[a-z]+\.[a-z]+@example\.com", value["vendor_email"])
    assert round(value["total_amount"], 2) == value["total_amount"]
    assert isinstance(value["quantity"], int)
    with pytest.raises(ValueError):  # "candidate" contains "date" but is not one
        dt.date.fromisoformat(value["candidate"])


@pytest.mark.parametrize("name", ["unions_enums_consts", "bounds", "refs_and_nesting", "top_level_array"])
def test_broken_instances_fail_validation(name):
    schema = SCHEMAS[name]
    for seed in range(20):
        broken = break_instance(schema, fill(schema, seed), seed)
        assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def test_partial_json_keeps_complete_members_and_closes_containers():
    full = json.dumps({"a": 1, "b": [2, 3, {"c": "text"}], "d": "tail"})
    assert close_partial(full) == json.loads(full)
    assert close_partial('{"a": 1, "b": [2, 3') == {"a": 1, "b": [2]}
    assert close_partial('{"a": "unfinished') == {}
    assert close_partial('{"a": {"x": 1}, "b": "x\\"y') == {"a": {"x": 1}}
    assert close_partial("") == {}
    for cut in range(len(full)):
        assert isinstance(close_partial(full[:cut]), dict)


def test_fault_rates_parse_and_unknown_names_are_rejected():
    assert parse_fault_rates("overloaded=0.2, rate_limit=0.1") == {"overloaded": 0.2, "rate_limit": 0.1}
    with pytest.raises(ValueError):
        parse_fault_rates("meltdown=0.1")
    with pytest.raises(ValueError):
        SimConfig(fault_rates={"overloaded": 0.7, "server_error": 0.6})


def test_config_from_env_reads_every_documented_variable():
    config = SimConfig.from_env(
        {
            "PROMPTQ_SIM_TTFT_S": "0.5",
            "PROMPTQ_SIM_TOKENS_PER_S": "80",
            "PROMPTQ_SIM_FAULTS": "overloaded=0.2,cut_stream=0.05",
            "PROMPTQ_SIM_RPM": "300",
            "PROMPTQ_SIM_INPUT_TPM": "40000",
            "PROMPTQ_SIM_OUTPUT_TPM": "8000",
            "PROMPTQ_SIM_SEED": "9",
        }
    )
    assert (config.ttft_s, config.tokens_per_s, config.rpm, config.input_tpm, config.output_tpm, config.seed) == (
        0.5,
        80.0,
        300,
        40000,
        8000,
        9,
    )
    assert config.fault_rates == {"overloaded": 0.2, "cut_stream": 0.05}
    assert SimConfig.from_env({}) == SimConfig()


def test_marker_syntax():
    assert parse_marker("doc [[sim:rate_limit:3]] more") == ("rate_limit", 3)
    assert parse_marker("[[sim:refusal]]") == ("refusal", 1)
    assert parse_marker("[[sim:nonsense]]") is None
    assert parse_marker("no marker") is None


def test_random_faults_are_reproducible_from_the_seed():
    def draws(seed: int) -> list[str | None]:
        injector = FaultInjector(seed)
        return [injector.pick({"overloaded": 0.3, "server_error": 0.2}, "") for _ in range(50)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_continuously_at_a_sixtieth_of_the_limit_per_second():
    clock = FakeClock()
    limiter = RateLimiter(clock)
    limiter.configure(rpm=60, input_tpm=None, output_tpm=None)
    for _ in range(60):
        assert limiter.acquire("m", 0, 0) == (0.0, None)
    wait, dimension = limiter.acquire("m", 0, 0)
    assert dimension == "requests" and wait == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.acquire("m", 0, 0)[0] == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("m", 0, 0) == (0.0, None)
    [state] = limiter.snapshot("m")
    assert state.remaining == 0 and state.reset_s == pytest.approx(60.0)


def test_rejected_requests_take_nothing_from_any_bucket():
    clock = FakeClock()
    limiter = RateLimiter(clock)
    limiter.configure(rpm=10, input_tpm=100, output_tpm=None)
    assert limiter.acquire("m", 150, 0)[1] is None  # above the limit: charged as a full bucket
    assert limiter.acquire("m", 10, 0)[1] == "input_tokens"
    requests = next(s for s in limiter.snapshot("m") if s.dimension == "requests")
    assert requests.remaining == 9


def test_cache_entries_expire_after_their_ttl():
    clock = FakeClock()
    cache = PromptCache(clock=clock)
    segments = [("x" * 4000, 4000, {"type": "ephemeral"}), ("question", 8, None)]
    first = cache.anthropic("m", segments, 1002)
    cache.commit(first)
    assert (first.write_5m, first.read) == (1000, 0)
    clock.now += 299
    hit = cache.anthropic("m", segments, 1002)
    cache.commit(hit)  # a read refreshes the entry
    assert hit.read == 1000
    clock.now += 299
    assert cache.anthropic("m", segments, 1002).read == 1000
    clock.now += 301
    assert cache.anthropic("m", segments, 1002).read == 0


def test_one_hour_cache_control_is_reported_separately():
    cache = PromptCache(clock=FakeClock())
    use = cache.anthropic("m", [("y" * 400, 400, {"type": "ephemeral", "ttl": "1h"})], 100)
    assert (use.write_1h, use.write_5m, use.uncached) == (100, 0, 0)


def test_openai_reset_durations_look_like_the_real_headers():
    assert duration(0.006) == "6ms"
    assert duration(1.5) == "1.5s"
    assert duration(1.0) == "1s"
    assert duration(360.0) == "6m0s"


def test_a_paced_wait_is_never_shorter_than_asked_even_on_a_millisecond_timer() -> None:
    """ttft_s is a floor: uvloop's timers may fire up to 1 ms early; the rest is slept."""
    import asyncio
    import time

    import uvloop

    from promptq.sim.transport import _DisconnectWatch

    async def never_disconnects() -> dict[str, str]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def waits() -> list[float]:
        watch = _DisconnectWatch(never_disconnects)
        took = []
        for _ in range(40):
            started = time.monotonic()
            assert await watch.sleep(0.0105)
            took.append(time.monotonic() - started)
        watch.close()
        return took

    assert min(uvloop.run(waits())) >= 0.0105
