from datetime import date, datetime

from sqlalchemy import CheckConstraint, DateTime
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field, optional_ts_field


class Settlement(SQLModel, table=True):
    __tablename__ = "settlement"
    __table_args__ = (
        CheckConstraint("status IN ('draft','approved','in_notice','paid','rejected')",
                        name="status"),
        CheckConstraint("total_fen >= 0", name="total_nonneg"),
    )

    id: str = Field(primary_key=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    status: str = Field(default="draft", max_length=20)
    cutoff: datetime = Field(sa_type=DateTime(timezone=True))
    total_fen: int = fen_field(default=0)
    bank_reference: str | None = Field(default=None, max_length=100)
    created_at: datetime = created_at_field()
    approved_at: datetime | None = optional_ts_field()
    paid_at: datetime | None = optional_ts_field()
    # The review chain (service/reviewchain): the level the draft waits at, null when decided;
    # a batch rejected in the chain releases its redemptions and keeps the reason.
    review_level: str | None = Field(default=None, max_length=20, index=True)
    rejected_at: datetime | None = optional_ts_field()
    reject_reason: str | None = Field(default=None, max_length=2000)
    # 公示 (service/settlements/notice.py): set when an approved batch is published.
    published_on: date | None = None
    notice_starts_on: date | None = None
    notice_ends_on: date | None = None


class SettlementLine(SQLModel, table=True):
    __tablename__ = "settlement_line"
    __table_args__ = (
        CheckConstraint("gross_fen >= 0 AND clawback_fen >= 0 AND amount_fen >= 0",
                        name="amounts_nonneg"),
        CheckConstraint("amount_fen = gross_fen - clawback_fen", name="net"),
    )

    settlement_id: str = Field(foreign_key="settlement.id", primary_key=True, max_length=40)
    beneficiary_type: str = Field(primary_key=True, max_length=20)
    beneficiary_id: str = Field(primary_key=True, max_length=40)
    # The line's own stable id: what a public notice shows and an objection names.
    line_id: str = Field(max_length=40, unique=True)
    beneficiary_name: str = Field(max_length=200)
    beneficiary_uscc: str = Field(max_length=18)
    redemption_count: int = 0
    gross_fen: int = fen_field()
    clawback_fen: int = fen_field()
    amount_fen: int = fen_field()
    # Whom the bank pays (service/settlements/payees.py): fixed from the registry when the batch
    # is approved, so the payment file shows the account the approver saw; null before.
    account_name: str | None = Field(default=None, max_length=200)
    bank_name: str | None = Field(default=None, max_length=100)
    bank_account: str | None = Field(default=None, max_length=40)
    # Frozen by an objection when the batch was paid (docs/notice.md): the line left the batch,
    # unpaid; its redemptions wait for the objections' outcome.
    withheld: bool = Field(default=False)
