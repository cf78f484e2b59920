"""The tables of promptq before migrations, exactly as store/models.py created them.

A database that promptq created before migrations (its tables there, no alembic_version)
is adopted as it is: checked to hold every table, column and index below (the nullable
columns and the indexes an older promptq lacked are added, as it used to do at start),
then recorded at this revision.

Revision ID: 0001
Revises:
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.autogenerate import compare_metadata

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A revision declares its tables itself: store/models.py moves on, this does not.
SCHEMA = sa.MetaData()
PRIORITY = sa.Enum('INTERACTIVE', 'BATCH', name='priority')  # one type, two tables

sa.Table(
    'batches', SCHEMA,
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('task', sa.String(), nullable=False),
    sa.Column('status', sa.Enum('IN_PROGRESS', 'COMPLETED', 'CANCELLED', name='batchstatus'),
              nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('webhook_url', sa.String(), nullable=True),
    sa.Column('priority', PRIORITY, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.Index('ix_batches_tenant_id', 'tenant_id'),
)

sa.Table(
    'jobs', SCHEMA,
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('task', sa.String(), nullable=False),
    sa.Column('status', sa.Enum('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'NEEDS_REVIEW', 'CANCELLED',
                                name='jobstatus'), nullable=False),
    sa.Column('priority', PRIORITY, nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=True),
    sa.Column('custom_id', sa.String(), nullable=True),
    sa.Column('idempotency_key', sa.String(), nullable=True),
    sa.Column('input_text', sa.Text(), nullable=False),
    sa.Column('input_messages', sa.JSON(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=True),
    sa.Column('webhook_url', sa.String(), nullable=True),
    sa.Column('prompt_version', sa.String(), nullable=True),
    sa.Column('model', sa.String(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error_type', sa.String(), nullable=True),
    sa.Column('error_message', sa.String(), nullable=True),
    sa.Column('input_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('cache_creation_input_tokens', sa.Integer(), nullable=False),
    sa.Column('cache_read_input_tokens', sa.Integer(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('model_index', sa.Integer(), nullable=False),
    sa.Column('consecutive_overloads', sa.Integer(), nullable=False),
    sa.Column('cache_hit', sa.Boolean(), nullable=False),
    sa.Column('input_truncated', sa.Boolean(), nullable=False),
    sa.Column('progress', sa.JSON(), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claim_token', sa.String(), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.Index('ix_jobs_batch_status', 'batch_id', 'status', 'id'),
    sa.Index('ix_jobs_status_dispatched', 'status', 'dispatched_at'),
    sa.Index('ix_jobs_tenant_idem', 'tenant_id', 'idempotency_key', unique=True),
)

sa.Table(
    'ledger', SCHEMA,
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('job_id', sa.String(length=40), nullable=False),
    sa.Column('batch_id', sa.String(length=40), nullable=True),
    sa.Column('task', sa.String(), nullable=False),
    sa.Column('provider', sa.String(), nullable=False),
    sa.Column('model', sa.String(), nullable=False),
    sa.Column('prompt_version', sa.String(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('input_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('cache_creation_input_tokens', sa.Integer(), nullable=False),
    sa.Column('cache_read_input_tokens', sa.Integer(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(), nullable=False),
    sa.Column('request_id', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.Index('ix_ledger_job_id', 'job_id'),
    sa.Index('ix_ledger_tenant_created', 'tenant_id', 'created_at'),
)

sa.Table(
    'tenants', SCHEMA,
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('webhook_secret', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
)

sa.Table(
    'webhook_attempts', SCHEMA,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.String(length=40), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.Index('ix_webhook_attempts_delivery_id', 'delivery_id'),
)

sa.Table(
    'webhook_deliveries', SCHEMA,
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(), nullable=False),
    sa.Column('event_type', sa.String(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'DELIVERED', 'FAILED', name='deliverystatus'),
              nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.Index('ix_deliveries_status_next', 'status', 'next_attempt_at'),
)

sa.Table(
    'api_keys', SCHEMA,
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
    sa.PrimaryKeyConstraint('key_hash'),
    sa.Index('ix_api_keys_tenant_id', 'tenant_id'),
)


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names()) & set(SCHEMA.tables)
    if present:
        _adopt()
    else:
        SCHEMA.create_all(bind, checkfirst=False)


def _adopt() -> None:
    """Take over tables create_all made before migrations, refusing what it cannot have made."""
    missing = []
    for diff in compare_metadata(op.get_context(), SCHEMA):
        if not isinstance(diff, tuple):  # a list of changes to one column (type, default): tolerated
            continue
        kind = diff[0]
        if kind == "add_column" and diff[3].nullable:
            op.add_column(diff[2], sa.Column(diff[3].name, diff[3].type, nullable=True))
        elif kind == "add_index":
            op.create_index(diff[1].name, diff[1].table.name, [c.name for c in diff[1].columns],
                            unique=diff[1].unique)
        elif kind == "add_table":
            missing.append(f"table {diff[1].name}")
        elif kind == "add_column":
            missing.append(f"NOT NULL column {diff[2]}.{diff[3].name}")
    if missing:
        raise RuntimeError("promptq: the database holds some of promptq's tables but lacks "
                           + ", ".join(missing) + ": not a database promptq can adopt")


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind(), checkfirst=False)
