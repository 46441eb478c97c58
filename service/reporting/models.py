"""Running totals behind the budget endpoint, kept by database triggers (migration 0005).

Both tables are derived data: each can be rebuilt from the rows it sums
(`service.reporting.rollups.rebuild`), and both are split into `shard` rows so that concurrent
transactions add to different rows instead of queueing on one (docs/decisions.md).
"""

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from service.kit.timestamps import fen_field


class TransferRollup(SQLModel, table=True):
    """Σ amount_fen of the ledger transfers of one (year, kind, Shanghai month), in parts, with
    the kinds of the accounts they debit and credit: the flows of the year by month, and the
    balance of each kind of account (Σ credits − Σ debits), without reading every transfer."""

    __tablename__ = "ledger_transfer_rollup"

    year: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=30)
    month: str = Field(primary_key=True, max_length=7, description="YYYY-MM, Asia/Shanghai")
    debit_kind: str = Field(primary_key=True, max_length=20)
    credit_kind: str = Field(primary_key=True, max_length=20)
    shard: int = Field(primary_key=True)
    amount_fen: int = fen_field(default=0)


class RedemptionPartyTotal(SQLModel, table=True):
    """Σ (subsidy_fen − clawed_back_fen) of one party's redemptions of one year, in parts.

    An enterprise has one row per year (shard 0); a provider's row is sharded, since many
    enterprises redeem against the same provider at once.
    """

    __tablename__ = "redemption_party_total"
    # The top enterprises are read off this index backwards (largest first), not sorted.
    __table_args__ = (Index("ix_redemption_party_total_ranking", "year", "party_type",
                            "redeemed_fen"),)

    year: int = Field(primary_key=True)
    party_type: str = Field(primary_key=True, max_length=20)
    party_id: str = Field(primary_key=True, max_length=40)
    shard: int = Field(primary_key=True)
    redeemed_fen: int = fen_field(default=0)
