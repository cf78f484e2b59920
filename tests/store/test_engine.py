"""The store's engine: errors never quote a statement's parameters (documents, results);
tables an older promptq created get the nullable columns added since."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from promptq.store.engine import add_new_columns, create_tables, make_engine
from promptq.store.models import Job
from support import postgres_database


def test_a_failed_statement_does_not_quote_the_document(database_url: str) -> None:
    engine = make_engine(database_url)
    create_tables(engine)
    secret_text = "Patient record of Jane Roe, diagnosis confidential-7c1e"
    row = {"id": "job_dup_hide_params", "tenant_id": "acme", "task": "t", "input_text": secret_text}
    with engine.begin() as conn:
        conn.execute(insert(Job), [row])
    with pytest.raises(IntegrityError) as failed:
        with engine.begin() as conn:
            conn.execute(insert(Job), [row])  # the same primary key again
    assert "confidential-7c1e" not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM jobs WHERE id = 'job_dup_hide_params'")
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        with postgres_database() as url:
            yield url


def test_tables_of_an_older_version_get_the_new_nullable_columns(fresh_url: str) -> None:
    engine = make_engine(fresh_url)
    create_tables(engine)
    with engine.begin() as conn:  # as a version without Job.progress left it
        conn.exec_driver_sql("ALTER TABLE jobs DROP COLUMN progress")
    with engine.begin() as conn:
        conn.execute(insert(Job), [{"id": "job_old", "tenant_id": "acme", "task": "t", "input_text": "x"}])
    engine.dispose()

    engine = make_engine(fresh_url)  # the newer version starts
    assert add_new_columns(engine) == ["jobs.progress"]
    create_tables(engine)
    assert add_new_columns(engine) == []  # the next start finds nothing to add
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT id, progress FROM jobs").all() == [("job_old", None)]
    engine.dispose()


def test_a_missing_not_null_column_is_refused_by_name(fresh_url: str) -> None:
    engine = make_engine(fresh_url)
    create_tables(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE jobs DROP COLUMN attempts")
    with pytest.raises(RuntimeError, match="jobs lacks the NOT NULL column attempts"):
        add_new_columns(engine)
    engine.dispose()
