"""invoice xml: the original 数电票 files, and the bureau's item → category table

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:07:58

`invoice_source` keeps each XML file an invoice (or a red-letter reversal, `reversal_id`) was
read from, byte for byte, with its SHA-256. `item_category_rule` is a year's ordered table
mapping a line's item name (substring) or tax classification code (prefix) to a line category;
a year without rows uses the built-in defaults (service/invoices/categories.py).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('item_category_rule',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('match', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('pattern', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.CheckConstraint("match IN ('item_name','tax_code_prefix')", name='match_kind'),
    sa.ForeignKeyConstraint(['year'], ['budget_year.year'], ),
    sa.PrimaryKeyConstraint('year', 'position')
    )
    op.create_table('invoice_source',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('invoice_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('reversal_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], ),
    sa.ForeignKeyConstraint(['reversal_id'], ['invoice_reversal.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reversal_id')
    )
    with op.batch_alter_table('invoice_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_source_invoice_id'), ['invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_source_sha256'), ['sha256'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('invoice_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_source_sha256'))
        batch_op.drop_index(batch_op.f('ix_invoice_source_invoice_id'))

    op.drop_table('invoice_source')
    op.drop_table('item_category_rule')
