"""Running totals behind the budget endpoint, kept by database triggers (migration 0005).

Both tables are derived data: each can be rebuilt from the rows it sums
(`service.reporting.rollups.rebuild`), and both are split into `shard` rows so that concurrent
transactions add to different rows instead of queueing on one (docs/decisions.md).
"""

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Index
from sqlmodel import Field, SQLModel

from service.kit.timestamps import fen_field
from service.ledger.models import LedgerTransfer


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


class ReconciliationWatermark(SQLModel, table=True):
    """What the last clean reconciliation of a year covered (docs/reconciliation.md): the
    ledger transfers created before `covered_before` (their count, Σ amount and Σ of a hash of
    each row, to notice an old transfer edited, added or removed since), and the audit chain up
    to event `audit_seq` (which then hashed to `audit_hash`). `run` counts the clean runs, so
    two reconciliations that finish together cannot both move it on from the same one."""

    __tablename__ = "reconciliation_watermark"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    run: int = Field(default=1)
    kind: str = Field(max_length=20, description="full or incremental: the run that recorded it")
    covered_before: datetime = Field(sa_type=DateTime(timezone=True))
    transfer_count: int = fen_field()
    transfer_fen: int = fen_field()
    transfer_checksum: int = fen_field()
    kind_totals: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    audit_seq: int = fen_field()
    audit_hash: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))


class ReconciliationAccountTotal(SQLModel, table=True):
    """Σ debits and Σ credits of one ledger account over the transfers the year's watermark
    covers: the running totals an incremental reconciliation adds the new transfers to."""

    __tablename__ = "reconciliation_account_total"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    account_id: str = Field(primary_key=True, max_length=40)
    debits_fen: int = fen_field(default=0)
    credits_fen: int = fen_field(default=0)


# What an incremental reconciliation finds the new transfers by (the ledger's table, declared
# here where it is used).
Index("ix_ledger_transfer_created_at", LedgerTransfer.created_at)
