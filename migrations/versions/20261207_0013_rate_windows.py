"""rate windows: per-client hit counts of the public endpoints, shared by every worker

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:30:00

One row per (bucket, client address, fixed window start) with its hit count (service/ratelimit).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_window",
        sa.Column("bucket", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "client", "window_start"),
    )
    op.create_index(op.f("ix_rate_window_window_start"), "rate_window", ["window_start"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_window_window_start"), table_name="rate_window")
    op.drop_table("rate_window")
