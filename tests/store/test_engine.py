"""The store's engine: errors never quote a statement's parameters (documents, results)."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from promptq.store.engine import make_engine
from promptq.store.models import Job


def test_a_failed_statement_does_not_quote_the_document(database_url: str) -> None:
    engine = make_engine(database_url)
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
