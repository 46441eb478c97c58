"""audit checkpoints: chain prefixes a full verification found intact

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_checkpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_checkpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_checkpoint_seq'), ['seq'], unique=False)
    # A checkpoint vouches for the events before it, so it is as append-only as they are
    # (the function comes from revision 0003).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON "
                   "audit_checkpoint FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_checkpoint_append_only ON audit_checkpoint")
    with op.batch_alter_table('audit_checkpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_checkpoint_seq'))

    op.drop_table('audit_checkpoint')
