"""what-if scenarios: stored policy overrides of a budget year (docs/what-if.md)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00

`whatif_scenario` holds a name and overrides of the year's policy fields; comparing scenarios
reads the ledger and writes nothing, so no other table changes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('whatif_scenario',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('overrides', sa.JSON(), nullable=False),
    sa.Column('include_unredeemed', sa.Boolean(), nullable=False),
    sa.Column('vouchers', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.CheckConstraint("vouchers IN ('as_issued','follow_cap')", name='vouchers'),
    sa.ForeignKeyConstraint(['year'], ['budget_year.year']),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_whatif_scenario_year'), 'whatif_scenario', ['year'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_whatif_scenario_year'), table_name='whatif_scenario')
    op.drop_table('whatif_scenario')
