"""stateless workers: the API-key revocation counter, web sessions in the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

`api_key_revocation_counter` is one row that `revoke_key` moves in the revocation's own
transaction; every worker reads it at most every half second and empties its key cache when it
moved (service/auth/cache.py). It starts empty: the first revocation inserts it.

`web_session` holds signed-in web sessions so that any worker serves them: the digest of the
session id, the id of the API key signed in with (never the key), the expiry timestamps and the
pending flash messages (service/web/sessions.py).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
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
    op.create_table('web_session',
    sa.Column('id_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('api_key_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('flashes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id']),
    sa.PrimaryKeyConstraint('id_digest')
    )


def downgrade() -> None:
    op.drop_table('web_session')
    op.drop_table('api_key_revocation_counter')
