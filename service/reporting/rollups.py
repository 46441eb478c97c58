"""The running totals the budget reads (service/reporting/models.py), and how to rebuild them.

Triggers keep them (migration 0005). A loader that writes rows with the triggers off (a bulk load
under `session_replication_role = replica`, say) calls `rebuild` for the year afterwards.
"""

from sqlalchemy import text
from sqlalchemy.engine import Connection

from service.reporting.queries import month_sql


def rebuild(connection: Connection, year: int) -> None:
    """Recompute one year's totals from its transfers and redemptions. On PostgreSQL writers of
    those tables wait meanwhile, so nothing is counted twice or missed."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("LOCK TABLE ledger_transfer, redemption IN SHARE MODE"))
    month = month_sql(dialect, "t.created_at")
    statements = [
        "DELETE FROM ledger_transfer_rollup WHERE year = :year",
        f"""INSERT INTO ledger_transfer_rollup (year, kind, month, debit_kind, credit_kind,
                                                shard, amount_fen)
            SELECT t.year, t.kind, {month}, d.kind, c.kind, 0, sum(t.amount_fen)
            FROM ledger_transfer t
            JOIN ledger_account d ON d.id = t.debit_account_id
            JOIN ledger_account c ON c.id = t.credit_account_id
            WHERE t.year = :year GROUP BY t.year, t.kind, {month}, d.kind, c.kind""",
        "DELETE FROM redemption_party_total WHERE year = :year",
        """INSERT INTO redemption_party_total (year, party_type, party_id, shard, redeemed_fen)
           SELECT year, 'enterprise', enterprise_id, 0, sum(subsidy_fen - clawed_back_fen)
           FROM redemption WHERE year = :year GROUP BY year, enterprise_id
           UNION ALL
           SELECT year, 'provider', provider_id, 0, sum(subsidy_fen - clawed_back_fen)
           FROM redemption WHERE year = :year GROUP BY year, provider_id""",
    ]
    for statement in statements:
        connection.execute(text(statement), {"year": year})
