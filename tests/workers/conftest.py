"""Fixtures of the worker-side tests that write to a store of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import fresh_database


@pytest.fixture(scope="module")
def own_database(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the session's kind that is the test module's own: the session's
    stack runs real workers on `database_url`, whose relay would race these tests —
    completing batches that have no open job, publishing jobs left queued."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgres"
    with fresh_database(kind, tmp_path_factory.mktemp("own")) as url:
        yield url
