"""what-if snapshots: the invoice as each claim and reversal found it, and its lines per category

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 07:00:00

The what-if replay decides every claim again on the invoice as it stood when the claim was
made (docs/what-if.md). Until now it rebuilt those amounts from the payments and reversals by
timestamp, and the line amounts per category from invoice_line, for every invoice of the year on
every cold compare. The write path now records them where they are decided:

- `redemption.invoice_paid_fen`, `redemption.invoice_reversed_fen`: the invoice's paid and
  reversed amounts the redemption was decided on;
- `invoice_reversal.invoice_paid_fen`, `invoice_reversal.invoice_reversed_fen`: the invoice
  as the reversal left it (reversed including this one);
- `invoice.line_amounts`: its lines summed per category, "gpu 105000 storage 5000"
  (service/invoices/models.line_amounts).

Rows written before this revision are filled here by the rule the replay used to apply: the
payments and reversals before the row in (timestamp, id body) order.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SNAPSHOT = ("invoice_paid_fen", "invoice_reversed_fen")


def _before(table: str, alias: str, row: str, inclusive: bool) -> str:
    """The rows of `table` on row's invoice ordered before row (timestamp, then id body)."""
    return (f"{alias}.invoice_id = {row}.invoice_id AND ({alias}.created_at < {row}.created_at "
            f"OR ({alias}.created_at = {row}.created_at AND substr({alias}.id, 5) "
            f"{'<=' if inclusive else '<'} substr({row}.id, 5)))")


def _sum(table: str, alias: str, row: str, inclusive: bool) -> str:
    return (f"(SELECT COALESCE(SUM({alias}.amount_fen), 0) FROM {table} {alias} "
            f"WHERE {_before(table, alias, row, inclusive)})")


def upgrade() -> None:
    for table in ("redemption", "invoice_reversal"):
        for name in SNAPSHOT:
            op.add_column(table, sa.Column(name, sa.BigInteger(), nullable=True))
    op.add_column('invoice', sa.Column('line_amounts', sa.Text(), nullable=True))

    backfill(op.get_bind())


def backfill(bind: sa.engine.Connection) -> None:
    """Fill the columns of the rows they are NULL on (every row, at this revision; tests run
    it again on rows whose columns they cleared, against what the write path recorded)."""
    # A redemption sorts after a payment or reversal of the same instant and id body; a
    # reversal after a payment, and its own amount counts (the replay's event order).
    bind.execute(sa.text(
        f"UPDATE redemption SET "
        f"invoice_paid_fen = {_sum('invoice_payment', 'p', 'redemption', True)}, "
        f"invoice_reversed_fen = {_sum('invoice_reversal', 'r', 'redemption', True)} "
        f"WHERE invoice_paid_fen IS NULL OR invoice_reversed_fen IS NULL"))
    bind.execute(sa.text(
        f"UPDATE invoice_reversal SET "
        f"invoice_paid_fen = {_sum('invoice_payment', 'p', 'invoice_reversal', True)}, "
        f"invoice_reversed_fen = {_sum('invoice_reversal', 'r', 'invoice_reversal', True)} "
        f"WHERE invoice_paid_fen IS NULL OR invoice_reversed_fen IS NULL"))
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("""
            UPDATE invoice i SET line_amounts = COALESCE((
              SELECT string_agg(x.category || ' ' || x.s, ' ' ORDER BY x.category COLLATE "C")
              FROM (SELECT l.category, SUM(l.amount_fen) AS s FROM invoice_line l
                    WHERE l.invoice_id = i.id GROUP BY l.category) x), '')
            WHERE line_amounts IS NULL"""))
        return
    from service.invoices.models import line_amounts

    ids = [row[0] for row in bind.execute(sa.text(
        "SELECT id FROM invoice WHERE line_amounts IS NULL"))]
    if not ids:
        return
    lines: dict[str, list] = {}
    for invoice_id, category, amount in bind.execute(sa.text(
            "SELECT l.invoice_id, l.category, l.amount_fen FROM invoice_line l "
            "JOIN invoice i ON i.id = l.invoice_id WHERE i.line_amounts IS NULL")):
        lines.setdefault(invoice_id, []).append((category, int(amount)))
    bind.execute(sa.text("UPDATE invoice SET line_amounts = :a WHERE id = :id"),
                 [{"id": i, "a": line_amounts(lines.get(i, ()))} for i in ids])


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN on both (SQLite 3.35+): a batch rebuild of redemption
    # would drop 0005's triggers on SQLite.
    for table, name in (("invoice", "line_amounts"),
                        *((t, n) for t in ("invoice_reversal", "redemption") for n in SNAPSHOT)):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
