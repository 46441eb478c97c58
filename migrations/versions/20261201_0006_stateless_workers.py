"""stateless workers: the API-key revocation counter

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

`api_key_revocation_counter` is one row that `revoke_key` moves in the revocation's own
transaction; every worker reads it at most every half second and empties its key cache when it
moved (service/auth/cache.py). It starts empty: the first revocation inserts it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_key_revocation_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revocations', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name='one_row'),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('api_key_revocation_counter')
