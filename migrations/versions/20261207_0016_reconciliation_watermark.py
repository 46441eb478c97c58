"""reconciliation watermark: what the last clean reconciliation of a year covered

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 17:40:00

`reconciliation_watermark` (one row per year) and `reconciliation_account_total` (per ledger
account Σ debits and Σ credits up to the watermark) let `GET /v1/years/{y}/reconciliation`
check only what was written since the last clean run (docs/reconciliation.md). The index on
`ledger_transfer.created_at` finds the transfers written since.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        'reconciliation_watermark',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('run', sa.Integer(), nullable=False),
        sa.Column('kind', text(length=20), nullable=False),
        sa.Column('covered_before', sa.DateTime(timezone=True), nullable=False),
        sa.Column('transfer_count', sa.BigInteger(), nullable=False),
        sa.Column('transfer_fen', sa.BigInteger(), nullable=False),
        sa.Column('transfer_checksum', sa.BigInteger(), nullable=False),
        sa.Column('kind_totals', sa.JSON(), nullable=False),
        sa.Column('audit_seq', sa.BigInteger(), nullable=False),
        sa.Column('audit_hash', text(length=64), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('year', name=op.f('pk_reconciliation_watermark')))
    op.create_table(
        'reconciliation_account_total',
        sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('account_id', text(length=40), nullable=False),
        sa.Column('debits_fen', sa.BigInteger(), nullable=False),
        sa.Column('credits_fen', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('year', 'account_id',
                                name=op.f('pk_reconciliation_account_total')))
    op.create_index('ix_ledger_transfer_created_at', 'ledger_transfer', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_ledger_transfer_created_at', table_name='ledger_transfer')
    op.drop_table('reconciliation_account_total')
    op.drop_table('reconciliation_watermark')
