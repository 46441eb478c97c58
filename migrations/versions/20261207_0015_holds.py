"""holds: two-phase deduction holds (docs/holds.md); outbox rows for hold.expired

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 17:40:00

`hold` is a pending transfer from vouchers to the year's hold account, resolved once
(captured, voided, expired); `hold_draw` what it reserved on each voucher. A webhook delivery
may now carry a hold event, not only a budget alert: `webhook_delivery.alert_id` is nullable.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def text(length: int) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'hold',
        sa.Column('id', text(40), nullable=False),
        sa.Column('enterprise_id', text(40), nullable=False),
        sa.Column('provider_id', text(40), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('voucher_id', text(40), nullable=False),
        sa.Column('contract_number', text(60), nullable=True),
        sa.Column('service_start', sa.Date(), nullable=False),
        sa.Column('service_end', sa.Date(), nullable=False),
        sa.Column('lines', sa.JSON(), nullable=False),
        sa.Column('quoted_fen', sa.BigInteger(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.Column('status', text(20), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('captured_fen', sa.BigInteger(), nullable=False),
        sa.Column('released_fen', sa.BigInteger(), nullable=False),
        sa.Column('redemption_id', text(40), nullable=True),
        sa.Column('reason', text(2000), nullable=True),
        sa.CheckConstraint('amount_fen > 0', name='amount_positive'),
        sa.CheckConstraint("status IN ('pending','captured','voided','expired')", name='status'),
        sa.CheckConstraint('captured_fen >= 0 AND released_fen >= 0 '
                           'AND captured_fen + released_fen <= amount_fen',
                           name='resolved_range'),
        sa.CheckConstraint("(status = 'pending') = (resolved_at IS NULL)", name='resolved'),
        sa.ForeignKeyConstraint(['enterprise_id'], ['enterprise.id']),
        sa.ForeignKeyConstraint(['provider_id'], ['provider.id']),
        sa.ForeignKeyConstraint(['year'], ['budget_year.year']),
        sa.ForeignKeyConstraint(['voucher_id'], ['voucher.id']),
        sa.PrimaryKeyConstraint('id'))
    for column in ('enterprise_id', 'provider_id', 'year', 'status', 'expires_at'):
        op.create_index(op.f(f'ix_hold_{column}'), 'hold', [column])
    op.create_table(
        'hold_draw',
        sa.Column('hold_id', text(40), nullable=False),
        sa.Column('voucher_id', text(40), nullable=False),
        sa.Column('draw_no', sa.Integer(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.CheckConstraint('amount_fen > 0', name='amount_positive'),
        sa.ForeignKeyConstraint(['hold_id'], ['hold.id']),
        sa.ForeignKeyConstraint(['voucher_id'], ['voucher.id']),
        sa.PrimaryKeyConstraint('hold_id', 'voucher_id'))
    op.create_index(op.f('ix_hold_draw_voucher_id'), 'hold_draw', ['voucher_id'])
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=text(40), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM webhook_delivery WHERE alert_id IS NULL")
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=text(40), nullable=False)
    op.drop_index(op.f('ix_hold_draw_voucher_id'), table_name='hold_draw')
    op.drop_table('hold_draw')
    for column in ('enterprise_id', 'provider_id', 'year', 'status', 'expires_at'):
        op.drop_index(op.f(f'ix_hold_{column}'), table_name='hold')
    op.drop_table('hold')
