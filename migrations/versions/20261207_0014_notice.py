"""notice (公示): the year's notice days and calendar, published batches, line ids

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 14:30:00

`budget_year.notice_working_days` (default 0: no notice step, the flow unchanged) and the
year's calendar, `holidays` and `workdays` (JSON lists of ISO dates; docs/notice.md).
A settlement batch may be `in_notice`, with `published_on`, `notice_starts_on` and
`notice_ends_on`. Each settlement line gets a stable `line_id` (existing lines get one here)
and `withheld` (frozen by an objection when its batch was paid). `objection` and
`objection_line` hold the public's real-name objections and the lines each names;
`barred_invoice` the invoices an upheld objection bars from any further redemption.
"""
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('budget_year', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice_working_days', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('holidays', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('workdays', sa.JSON(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_budget_year_notice_days_range'),
            "notice_working_days >= 0 AND notice_working_days <= 60")
    op.execute("UPDATE budget_year SET holidays = '[]', workdays = '[]'")
    with op.batch_alter_table('budget_year', schema=None) as batch_op:
        batch_op.alter_column('notice_working_days', existing_type=sa.Integer(),
                              server_default=None)
        batch_op.alter_column('holidays', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('workdays', existing_type=sa.JSON(), nullable=False)

    with op.batch_alter_table('settlement', schema=None) as batch_op:
        for name in ('published_on', 'notice_starts_on', 'notice_ends_on'):
            batch_op.add_column(sa.Column(name, sa.Date(), nullable=True))
        batch_op.drop_constraint(op.f('ck_settlement_status'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_settlement_status'),
            "status IN ('draft','approved','in_notice','paid','rejected')")
    with op.batch_alter_table('settlement_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_id', sqlmodel.sql.sqltypes.AutoString(length=40),
                                      nullable=True))
    _name_existing_lines()
    with op.batch_alter_table('settlement_line', schema=None) as batch_op:
        batch_op.alter_column('line_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=40),
                              nullable=False)
        batch_op.create_unique_constraint(op.f('uq_settlement_line_line_id'), ['line_id'])
        batch_op.add_column(sa.Column('withheld', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('settlement_line', schema=None) as batch_op:
        batch_op.alter_column('withheld', existing_type=sa.Boolean(), server_default=None)
    _objections()


def _objections() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        'objection',
        sa.Column('id', text(length=40), nullable=False),
        sa.Column('settlement_id', text(length=40), nullable=False),
        sa.Column('name', text(length=50), nullable=False),
        sa.Column('phone', text(length=20), nullable=False),
        sa.Column('organisation', text(length=200), nullable=True),
        sa.Column('content', text(length=2000), nullable=False),
        sa.Column('status', text(length=20), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolution_reason', text(length=2000), nullable=True),
        sa.Column('resolved_by', text(length=40), nullable=True),
        sa.CheckConstraint("status IN ('received','upheld','dismissed')", name='status'),
        sa.CheckConstraint("(status = 'received') = (resolved_at IS NULL)", name='resolved'),
        sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id']),
        sa.PrimaryKeyConstraint('id'))
    op.create_index(op.f('ix_objection_settlement_id'), 'objection', ['settlement_id'])
    op.create_index(op.f('ix_objection_status'), 'objection', ['status'])
    op.create_table(
        'objection_line',
        sa.Column('objection_id', text(length=40), nullable=False),
        sa.Column('line_id', text(length=40), nullable=False),
        sa.ForeignKeyConstraint(['objection_id'], ['objection.id']),
        sa.ForeignKeyConstraint(['line_id'], ['settlement_line.line_id']),
        sa.PrimaryKeyConstraint('objection_id', 'line_id'))
    op.create_index(op.f('ix_objection_line_line_id'), 'objection_line', ['line_id'])
    op.create_table(
        'barred_invoice',
        sa.Column('invoice_id', text(length=40), nullable=False),
        sa.Column('objection_id', text(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id']),
        sa.ForeignKeyConstraint(['objection_id'], ['objection.id']),
        sa.PrimaryKeyConstraint('invoice_id'))


def _name_existing_lines() -> None:
    conn = op.get_bind()
    keys = conn.execute(sa.text("SELECT settlement_id, beneficiary_type, beneficiary_id "
                                "FROM settlement_line")).all()
    for settlement_id, b_type, b_id in keys:
        conn.execute(sa.text("UPDATE settlement_line SET line_id = :line_id WHERE "
                             "settlement_id = :s AND beneficiary_type = :t AND "
                             "beneficiary_id = :b"),
                     {"line_id": f"sln_{uuid.uuid4().hex[:26].upper()}", "s": settlement_id,
                      "t": b_type, "b": b_id})


def downgrade() -> None:
    op.drop_table('barred_invoice')
    op.drop_index(op.f('ix_objection_line_line_id'), table_name='objection_line')
    op.drop_table('objection_line')
    op.drop_index(op.f('ix_objection_status'), table_name='objection')
    op.drop_index(op.f('ix_objection_settlement_id'), table_name='objection')
    op.drop_table('objection')
    with op.batch_alter_table('settlement_line', schema=None) as batch_op:
        batch_op.drop_column('withheld')
        batch_op.drop_constraint(op.f('uq_settlement_line_line_id'), type_='unique')
        batch_op.drop_column('line_id')
    op.execute("UPDATE settlement SET status = 'approved' WHERE status = 'in_notice'")
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_settlement_status'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_settlement_status'), "status IN ('draft','approved','paid','rejected')")
        for name in ('notice_ends_on', 'notice_starts_on', 'published_on'):
            batch_op.drop_column(name)
    with op.batch_alter_table('budget_year', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_budget_year_notice_days_range'), type_='check')
        batch_op.drop_column('workdays')
        batch_op.drop_column('holidays')
        batch_op.drop_column('notice_working_days')
