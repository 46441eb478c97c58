"""review chain: review levels per year, reviewer keys, the review trail

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:30:00

`budget_year.review_levels` is the year's ordered chain (default ["city"], which is what the
bureau's approval always was). `application.review_level` and `settlement.review_level` say
where an undecided object waits; existing undecided ones wait at "city". `review_step` is the
append-only trail of decisions. API keys gain the role `reviewer`, bound to a level and, for
the district level, to a district. A settlement batch rejected in the chain is `rejected`.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('review_step',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('object_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('to_level', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("object_type IN ('application','settlement')", name='object_type'),
    sa.CheckConstraint("decision IN ('approve','send_back','reject')", name='decision'),
    sa.CheckConstraint("level IN ('district','city','finance')", name='level'),
    sa.ForeignKeyConstraint(['year'], ['budget_year.year'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_review_step_object', 'review_step', ['object_type', 'object_id', 'seq'],
                    unique=False)

    with op.batch_alter_table('budget_year', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_levels', sa.JSON(), nullable=True))
    op.execute("UPDATE budget_year SET review_levels = '[\"city\"]'")
    with op.batch_alter_table('budget_year', schema=None) as batch_op:
        batch_op.alter_column('review_levels', existing_type=sa.JSON(), nullable=False)

    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_level',
                                      sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.create_index(batch_op.f('ix_application_review_level'), ['review_level'],
                              unique=False)
    op.execute("UPDATE application SET review_level = 'city' WHERE status = 'submitted'")

    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_level',
                                      sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reject_reason',
                                      sqlmodel.sql.sqltypes.AutoString(length=2000),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_settlement_review_level'), ['review_level'],
                              unique=False)
        batch_op.drop_constraint(op.f('ck_settlement_status'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_settlement_status'), "status IN ('draft','approved','paid','rejected')")
    op.execute("UPDATE settlement SET review_level = 'city' WHERE status = 'draft'")

    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_level',
                                      sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=100),
                                      nullable=True))
        batch_op.drop_constraint(op.f('ck_api_key_role'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_api_key_role'),
            "role IN ('admin','auditor','provider','enterprise','reviewer')")
        batch_op.create_check_constraint(
            op.f('ck_api_key_reviewer_level'), "(role = 'reviewer') = (review_level IS NOT NULL)")
        batch_op.create_check_constraint(
            op.f('ck_api_key_reviewer_district'),
            "(COALESCE(review_level, '') = 'district') = (district IS NOT NULL)")


def downgrade() -> None:
    op.execute("DELETE FROM api_key WHERE role = 'reviewer'")
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_api_key_reviewer_district'), type_='check')
        batch_op.drop_constraint(op.f('ck_api_key_reviewer_level'), type_='check')
        batch_op.drop_constraint(op.f('ck_api_key_role'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_api_key_role'), "role IN ('admin','auditor','provider','enterprise')")
        batch_op.drop_column('district')
        batch_op.drop_column('review_level')
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_settlement_status'), type_='check')
        batch_op.create_check_constraint(
            op.f('ck_settlement_status'), "status IN ('draft','approved','paid')")
        batch_op.drop_index(batch_op.f('ix_settlement_review_level'))
        batch_op.drop_column('reject_reason')
        batch_op.drop_column('rejected_at')
        batch_op.drop_column('review_level')
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_review_level'))
        batch_op.drop_column('review_level')
    with op.batch_alter_table('budget_year', schema=None) as batch_op:
        batch_op.drop_column('review_levels')
    op.drop_index('ix_review_step_object', table_name='review_step')
    op.drop_table('review_step')
