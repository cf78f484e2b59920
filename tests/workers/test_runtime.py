"""A worker process's runtime is built from the settings it is given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promptq.settings import Settings
from promptq.workers.runtime import Runtime, build_runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'rt.db'}", rate_limit_lease_s=0.25,
                                max_attempts=3))
    yield rt
    rt.write_what_is_queued()
    rt.engine.dispose()


def test_the_rate_limiter_takes_its_lease_length_from_the_settings(runtime: Runtime) -> None:
    assert runtime.limiter.lease_s == 0.25


def test_the_retry_policy_and_stores_follow_the_settings(runtime: Runtime, tmp_path: Path) -> None:
    assert runtime.policy.max_attempts == 3
    assert runtime.engine.url.database == str(tmp_path / "rt.db")
