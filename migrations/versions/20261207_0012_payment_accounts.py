"""payment accounts: the bank and account name of a party, and the payee fixed on a batch's lines

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 04:45:00

Enterprises and providers get two optional payment facts beside `bank_account`: `bank_name`
(开户行) and `account_name` (户名; null: the registered name). A settlement line gets the payee
the batch pays it to — `account_name`, `bank_name`, `bank_account` (digits) — fixed from the
registry when the batch is approved (docs/exports.md). Lines of batches approved before this
revision keep null there, and their payment files read the registry as it is now.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTY_COLUMNS = (("bank_name", 100), ("account_name", 200))
LINE_COLUMNS = (("account_name", 200), ("bank_name", 100), ("bank_account", 40))


def upgrade() -> None:
    # Plain ALTER TABLE … ADD COLUMN: nullable columns need no rebuild on either backend.
    for table in ("enterprise", "provider"):
        for name, length in PARTY_COLUMNS:
            op.add_column(table, sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length),
                                           nullable=True))
    for name, length in LINE_COLUMNS:
        op.add_column("settlement_line",
                      sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length),
                                nullable=True))


def downgrade() -> None:
    for name, _ in LINE_COLUMNS:
        op.execute(f"ALTER TABLE settlement_line DROP COLUMN {name}")
    for table in ("enterprise", "provider"):
        for name, _ in PARTY_COLUMNS:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
