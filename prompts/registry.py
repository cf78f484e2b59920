"""The prompt registry: tasks, their versioned prompt files and output schemas.

Everything is read through the installed package (importlib.resources), so the
`promptq` command works from any directory.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from promptq.prompts import framing
from promptq.prompts.output_rules import json_only_instructions
from promptq.settings import get_settings

PLACEHOLDER = "{text}"
SYSTEM_SUFFIX = ".system.txt"  # beside <task>.txt: the task's instructions, the system prompt


class OutputMode(StrEnum):
    TOOL = "tool"  # forced tool use (Anthropic) / strict JSON Schema (OpenAI)
    JSON = "json"  # JSON-only prompt, fences stripped, one corrective re-ask


class OverflowStrategy(StrEnum):
    SPLIT = "split"        # extract per chunk and merge
    FALLBACK = "fallback"  # route to a larger-window model
    TRUNCATE = "truncate"  # keep the beginning of the document


class UnknownTask(LookupError):
    pass


@dataclass(frozen=True)
class PromptFile:
    """A task's prompt: `system` (its instructions, the same for every input; empty for
    a file of the older single-part format) and the user turn's `template`, in which
    `{text}` stands for the framed input."""

    version: str
    date: str
    changed: str
    template: str
    system: str = ""

    def render(self, text: str) -> str:
        """The user turn for a document: the template around the framed document."""
        return self.template.replace(PLACEHOLDER, framing.document(text))

    def render_conversation(self, messages: Iterable[Mapping[str, str]]) -> str:
        """The user turn for a conversation: its messages framed as one transcript."""
        return self.template.replace(PLACEHOLDER, framing.conversation(messages))

    @property
    def sha256(self) -> str:
        return hashlib.sha256((self.system + "\0" + self.template).encode()).hexdigest()


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    version: str
    model: str
    fallbacks: tuple[str, ...]
    output: OutputMode
    max_output_tokens: int
    on_context_overflow: OverflowStrategy
    stream: bool  # stream answers: live token events, and stream faults told apart
    prompt: PromptFile
    schema: dict[str, Any] = field(repr=False)

    @property
    def models(self) -> tuple[str, ...]:
        """The primary model, then its fallbacks, in order."""
        return (self.model, *self.fallbacks)

    @property
    def tool_name(self) -> str:
        return self.name

    def validator(self) -> Draft202012Validator:
        return _validator(self.name, self.version)

    @cached_property
    def system_prompt(self) -> str:
        """The system prompt of every call: the task's instructions, the rule that the
        input is data, and (JSON-only output) the output rules. It depends on nothing
        of the input, so it is byte-identical across documents (and cacheable)."""
        parts = [self.prompt.system.strip(), framing.DATA_RULE]
        rules = json_only_instructions(self.schema).strip() if self.output is OutputMode.JSON else ""
        return "\n\n".join(p for p in (*parts, rules) if p)


def _package_root() -> Traversable:
    return resources.files("promptq.prompts")


@lru_cache
def _roots() -> tuple[Traversable | Path, ...]:
    """Where tasks are defined: the package, then PROMPTQ_PROMPTS_DIR (its tasks win).

    The extra directory has the package's shape (tasks.toml, v1/…), so a deployment
    adds or overrides tasks without touching the installed package.
    """
    extra = get_settings().prompts_dir
    return (_package_root(), Path(extra)) if extra else (_package_root(),)


def _parse_header(raw: str, *, expected_version: str, where: str) -> tuple[dict[str, str], str]:
    """`# key: value` header lines (version, date, changed), then the body."""
    header: dict[str, str] = {}
    lines = raw.splitlines(keepends=True)
    body_start = 0
    for i, line in enumerate(lines):
        if not line.startswith("#"):
            body_start = i
            break
        key, _, value = line[1:].partition(":")
        header[key.strip()] = value.strip()
    else:
        body_start = len(lines)
    missing = {"version", "date", "changed"} - header.keys()
    if missing:
        raise ValueError(f"{where}: header lacks {', '.join(sorted(missing))}")
    if header["version"] != expected_version:
        raise ValueError(f"{where}: header says {header['version']}, folder says {expected_version}")
    return header, "".join(lines[body_start:])


def parse_prompt_file(raw: str, *, expected_version: str, where: str,
                      system_raw: str | None = None, system_where: str = "") -> PromptFile:
    """A prompt file is a header, then the user turn's template with `{text}`; its
    optional `.system.txt` companion is a header, then the system prompt (no `{text}`:
    the system prompt must not vary with the input)."""
    header, template = _parse_header(raw, expected_version=expected_version, where=where)
    if PLACEHOLDER not in template:
        raise ValueError(f"{where}: the template has no {PLACEHOLDER} placeholder")
    system = ""
    if system_raw is not None:
        _, system = _parse_header(system_raw, expected_version=expected_version, where=system_where)
        if PLACEHOLDER in system:
            raise ValueError(f"{system_where}: the system prompt must not contain {PLACEHOLDER}: "
                             "the input goes in the user turn")
        if not system.strip():
            raise ValueError(f"{system_where}: the system prompt is empty")
    return PromptFile(header["version"], header["date"], header["changed"], template, system)


def load_task(name: str, entry: dict[str, Any], version: str | None = None,
              root: Traversable | Path | None = None) -> Task:
    version = version or entry["version"]
    folder = (root or _package_root()) / version
    prompt_path = folder / f"{name}.txt"
    schema_path = folder / f"{name}.schema.json"
    if not prompt_path.is_file() or not schema_path.is_file():
        raise UnknownTask(f"task {name!r} has no prompt version {version!r}")
    system_path = folder / f"{name}{SYSTEM_SUFFIX}"
    prompt = parse_prompt_file(
        prompt_path.read_text(encoding="utf-8"), expected_version=version,
        where=f"prompts/{version}/{name}.txt",
        system_raw=system_path.read_text(encoding="utf-8") if system_path.is_file() else None,
        system_where=f"prompts/{version}/{name}{SYSTEM_SUFFIX}")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Task(
        name=name,
        description=entry.get("description", ""),
        version=version,
        model=entry["model"],
        fallbacks=tuple(entry.get("fallbacks", ())),
        output=OutputMode(entry.get("output", "tool")),
        max_output_tokens=int(entry.get("max_output_tokens", 1024)),
        on_context_overflow=OverflowStrategy(entry.get("on_context_overflow", "truncate")),
        stream=bool(entry.get("stream", False)),
        prompt=prompt,
        schema=schema,
    )


@lru_cache
def _catalog_entries() -> dict[str, tuple[dict[str, Any], Traversable | Path]]:
    """Task name → (its tasks.toml entry, the root that defines it)."""
    entries: dict[str, tuple[dict[str, Any], Traversable | Path]] = {}
    for root in _roots():
        catalog = root / "tasks.toml"
        if catalog.is_file():
            for name, entry in tomllib.loads(catalog.read_text(encoding="utf-8")).items():
                entries[name] = (entry, root)
    return entries


@lru_cache
def get_task(name: str, version: str | None = None) -> Task:
    entries = _catalog_entries()
    if name not in entries:
        raise UnknownTask(f"unknown task {name!r}; known: {', '.join(sorted(entries))}")
    entry, root = entries[name]
    return load_task(name, entry, version, root)


def all_tasks() -> list[Task]:
    return [get_task(name) for name in sorted(_catalog_entries())]


def versions_of(name: str) -> list[str]:
    """Every prompt version on disk for a task, oldest first."""
    entries = _catalog_entries()
    root = entries[name][1] if name in entries else _package_root()
    found = [d.name for d in root.iterdir()
             if d.is_dir() and d.name.startswith("v") and (d / f"{name}.txt").is_file()]
    return sorted(found, key=lambda v: int(v[1:]) if v[1:].isdigit() else 0)


@lru_cache
def _validator(name: str, version: str) -> Draft202012Validator:
    return Draft202012Validator(get_task(name, version).schema,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)
