"""running totals for the budget endpoint, kept by triggers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 14:00:00

`ledger_transfer_rollup` holds Σ amount_fen per (year, kind, Shanghai month, kinds of the debited
and credited accounts) and
`redemption_party_total` Σ (subsidy_fen − clawed_back_fen) per (year, enterprise or provider).
Triggers on ledger_transfer INSERT and on redemption INSERT/UPDATE keep them, in the same
transaction as the row they sum, on SQLite and PostgreSQL alike; the upgrade fills them from the
rows already there. On PostgreSQL a transaction adds to the shard `txid % 16` (docs/decisions.md).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 16

PG_FUNCTIONS = [f"""
CREATE FUNCTION ledger_transfer_rollup_add() RETURNS trigger AS $$
BEGIN
    INSERT INTO ledger_transfer_rollup AS r (year, kind, month, debit_kind, credit_kind, shard,
                                             amount_fen)
    VALUES (NEW.year, NEW.kind, to_char(timezone('Asia/Shanghai', NEW.created_at), 'YYYY-MM'),
            (SELECT a.kind FROM ledger_account a WHERE a.id = NEW.debit_account_id),
            (SELECT a.kind FROM ledger_account a WHERE a.id = NEW.credit_account_id),
            (txid_current() % {SHARDS})::integer, NEW.amount_fen)
    ON CONFLICT (year, kind, month, debit_kind, credit_kind, shard)
    DO UPDATE SET amount_fen = r.amount_fen + EXCLUDED.amount_fen;
    RETURN NULL;
END
$$ LANGUAGE plpgsql""", f"""
CREATE FUNCTION redemption_party_total_add() RETURNS trigger AS $$
DECLARE
    part integer := (txid_current() % {SHARDS})::integer;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO redemption_party_total AS t (year, party_type, party_id, shard, redeemed_fen)
        VALUES (OLD.year, 'enterprise', OLD.enterprise_id, 0,
                OLD.clawed_back_fen - OLD.subsidy_fen),
               (OLD.year, 'provider', OLD.provider_id, part,
                OLD.clawed_back_fen - OLD.subsidy_fen)
        ON CONFLICT (year, party_type, party_id, shard)
        DO UPDATE SET redeemed_fen = t.redeemed_fen + EXCLUDED.redeemed_fen;
    END IF;
    INSERT INTO redemption_party_total AS t (year, party_type, party_id, shard, redeemed_fen)
    VALUES (NEW.year, 'enterprise', NEW.enterprise_id, 0, NEW.subsidy_fen - NEW.clawed_back_fen),
           (NEW.year, 'provider', NEW.provider_id, part, NEW.subsidy_fen - NEW.clawed_back_fen)
    ON CONFLICT (year, party_type, party_id, shard)
    DO UPDATE SET redeemed_fen = t.redeemed_fen + EXCLUDED.redeemed_fen;
    RETURN NULL;
END
$$ LANGUAGE plpgsql"""]

PG_TRIGGERS = [
    "CREATE TRIGGER ledger_transfer_rollup AFTER INSERT ON ledger_transfer "
    "FOR EACH ROW EXECUTE FUNCTION ledger_transfer_rollup_add()",
    "CREATE TRIGGER redemption_party_total_insert AFTER INSERT ON redemption "
    "FOR EACH ROW EXECUTE FUNCTION redemption_party_total_add()",
    "CREATE TRIGGER redemption_party_total_update AFTER UPDATE OF year, enterprise_id, "
    "provider_id, subsidy_fen, clawed_back_fen ON redemption FOR EACH ROW "
    "WHEN ((OLD.year, OLD.enterprise_id, OLD.provider_id, OLD.subsidy_fen - OLD.clawed_back_fen)"
    " IS DISTINCT FROM "
    "(NEW.year, NEW.enterprise_id, NEW.provider_id, NEW.subsidy_fen - NEW.clawed_back_fen)) "
    "EXECUTE FUNCTION redemption_party_total_add()",
]

_SQLITE_PARTY_UPSERT = """
    INSERT INTO redemption_party_total (year, party_type, party_id, shard, redeemed_fen)
    VALUES ({row}.year, 'enterprise', {row}.enterprise_id, 0, {net}),
           ({row}.year, 'provider', {row}.provider_id, 0, {net})
    ON CONFLICT (year, party_type, party_id, shard)
    DO UPDATE SET redeemed_fen = redeemed_fen + excluded.redeemed_fen;"""

SQLITE_TRIGGERS = [
    """CREATE TRIGGER ledger_transfer_rollup AFTER INSERT ON ledger_transfer
BEGIN
    INSERT INTO ledger_transfer_rollup (year, kind, month, debit_kind, credit_kind, shard,
                                        amount_fen)
    VALUES (NEW.year, NEW.kind, strftime('%Y-%m', NEW.created_at),
            (SELECT a.kind FROM ledger_account a WHERE a.id = NEW.debit_account_id),
            (SELECT a.kind FROM ledger_account a WHERE a.id = NEW.credit_account_id),
            0, NEW.amount_fen)
    ON CONFLICT (year, kind, month, debit_kind, credit_kind, shard)
    DO UPDATE SET amount_fen = amount_fen + excluded.amount_fen;
END""",
    "CREATE TRIGGER redemption_party_total_insert AFTER INSERT ON redemption\nBEGIN"
    + _SQLITE_PARTY_UPSERT.format(row="NEW", net="NEW.subsidy_fen - NEW.clawed_back_fen")
    + "\nEND",
    "CREATE TRIGGER redemption_party_total_update AFTER UPDATE OF year, enterprise_id, "
    "provider_id, subsidy_fen, clawed_back_fen ON redemption\n"
    "WHEN OLD.year IS NOT NEW.year OR OLD.enterprise_id IS NOT NEW.enterprise_id "
    "OR OLD.provider_id IS NOT NEW.provider_id "
    "OR OLD.subsidy_fen - OLD.clawed_back_fen IS NOT NEW.subsidy_fen - NEW.clawed_back_fen\nBEGIN"
    + _SQLITE_PARTY_UPSERT.format(row="OLD", net="OLD.clawed_back_fen - OLD.subsidy_fen")
    + _SQLITE_PARTY_UPSERT.format(row="NEW", net="NEW.subsidy_fen - NEW.clawed_back_fen")
    + "\nEND",
]


def _month(dialect: str) -> str:
    if dialect == "postgresql":
        return "to_char(timezone('Asia/Shanghai', t.created_at), 'YYYY-MM')"
    return "strftime('%Y-%m', t.created_at)"


def upgrade() -> None:
    op.create_table('ledger_transfer_rollup',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('debit_kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('credit_kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('year', 'kind', 'month', 'debit_kind', 'credit_kind', 'shard')
    )
    op.create_table('redemption_party_total',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('party_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('party_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('redeemed_fen', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('year', 'party_type', 'party_id', 'shard')
    )
    with op.batch_alter_table('redemption_party_total', schema=None) as batch_op:
        batch_op.create_index('ix_redemption_party_total_ranking',
                              ['year', 'party_type', 'redeemed_fen'], unique=False)
    bind = op.get_bind()
    dialect = bind.dialect.name
    # Fill from what is already there before the triggers exist; on PostgreSQL writers are held
    # off meanwhile so no row is counted twice or missed.
    if dialect == "postgresql":
        op.execute("LOCK TABLE ledger_transfer, redemption IN SHARE MODE")
    op.execute(f"""
        INSERT INTO ledger_transfer_rollup (year, kind, month, debit_kind, credit_kind, shard,
                                            amount_fen)
        SELECT t.year, t.kind, {_month(dialect)}, d.kind, c.kind, 0, sum(t.amount_fen)
        FROM ledger_transfer t
        JOIN ledger_account d ON d.id = t.debit_account_id
        JOIN ledger_account c ON c.id = t.credit_account_id
        GROUP BY t.year, t.kind, {_month(dialect)}, d.kind, c.kind""")
    op.execute("""
        INSERT INTO redemption_party_total (year, party_type, party_id, shard, redeemed_fen)
        SELECT year, 'enterprise', enterprise_id, 0, sum(subsidy_fen - clawed_back_fen)
        FROM redemption GROUP BY year, enterprise_id
        UNION ALL
        SELECT year, 'provider', provider_id, 0, sum(subsidy_fen - clawed_back_fen)
        FROM redemption GROUP BY year, provider_id""")
    if dialect == "postgresql":
        for statement in PG_FUNCTIONS + PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for trigger, table in (("ledger_transfer_rollup", "ledger_transfer"),
                           ("redemption_party_total_insert", "redemption"),
                           ("redemption_party_total_update", "redemption")):
        op.execute(f"DROP TRIGGER {trigger} ON {table}" if dialect == "postgresql"
                   else f"DROP TRIGGER {trigger}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION ledger_transfer_rollup_add()")
        op.execute("DROP FUNCTION redemption_party_total_add()")
    with op.batch_alter_table('redemption_party_total', schema=None) as batch_op:
        batch_op.drop_index('ix_redemption_party_total_ranking')
    op.drop_table('redemption_party_total')
    op.drop_table('ledger_transfer_rollup')
