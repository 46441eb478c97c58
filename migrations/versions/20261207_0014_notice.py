"""notice (公示): the year's notice days and calendar

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 14:30:00

`budget_year.notice_working_days` (default 0: no notice step, the flow unchanged) and the
year's calendar, `holidays` and `workdays` (JSON lists of ISO dates; docs/notice.md).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0012'
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


def downgrade() -> None:
    with op.batch_alter_table('budget_year', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_budget_year_notice_days_range'), type_='check')
        batch_op.drop_column('workdays')
        batch_op.drop_column('holidays')
        batch_op.drop_column('notice_working_days')
