from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field

REDEMPTION_STATUSES = ("pending", "payable", "settling", "paid", "reversed", "under_review",
                       "rejected")


class Redemption(SQLModel, table=True):
    __tablename__ = "redemption"
    __table_args__ = (
        CheckConstraint("subsidy_fen > 0", name="subsidy_positive"),
        CheckConstraint("clawed_back_fen >= 0 AND clawed_back_fen <= subsidy_fen",
                        name="clawback_range"),
        CheckConstraint("beneficiary_type IN ('provider','enterprise')", name="beneficiary"),
        CheckConstraint("status IN ('pending','payable','settling','paid','reversed',"
                        "'under_review','rejected')",
                        name="status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    invoice_id: str = Field(foreign_key="invoice.id", index=True, max_length=40)
    enterprise_id: str = Field(foreign_key="enterprise.id", index=True, max_length=40)
    provider_id: str = Field(foreign_key="provider.id", index=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    subsidy_fen: int = fen_field()
    # Taken back by red-letter reversals before settlement (the voucher got it back).
    clawed_back_fen: int = fen_field(default=0)
    beneficiary_type: str = Field(max_length=20)
    beneficiary_id: str = Field(max_length=40)
    status: str = Field(max_length=20, index=True)
    settlement_id: str | None = Field(default=None, foreign_key="settlement.id", index=True,
                                      max_length=40)
    created_at: datetime = created_at_field()
    # The invoice as it stood when this claim was decided (what the what-if replay decides it
    # on again): its paid and reversed amounts.
    invoice_paid_fen: int | None = fen_field(default=None)
    invoice_reversed_fen: int | None = fen_field(default=None)


class RedemptionDraw(SQLModel, table=True):
    __tablename__ = "redemption_draw"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("restored_fen >= 0 AND restored_fen <= amount_fen", name="restored_range"),
    )

    redemption_id: str = Field(foreign_key="redemption.id", primary_key=True, max_length=40)
    voucher_id: str = Field(foreign_key="voucher.id", primary_key=True, index=True, max_length=40)
    draw_no: int = Field(description="order in which the vouchers were drawn")
    amount_fen: int = fen_field()
    restored_fen: int = fen_field(default=0)


class Clawback(SQLModel, table=True):
    """Subsidy taken back after the redemption was settled: owed by the beneficiary."""

    __tablename__ = "clawback"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("recovered_fen >= 0 AND allocated_fen >= 0 AND "
                        "recovered_fen + allocated_fen <= amount_fen", name="recovery_range"),
    )

    id: str = Field(primary_key=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    redemption_id: str = Field(foreign_key="redemption.id", index=True, max_length=40)
    invoice_id: str = Field(foreign_key="invoice.id", max_length=40)
    beneficiary_type: str = Field(max_length=20)
    beneficiary_id: str = Field(max_length=40, index=True)
    amount_fen: int = fen_field()
    # Allocated to an unpaid settlement batch; becomes recovered when that batch is paid.
    allocated_fen: int = fen_field(default=0)
    recovered_fen: int = fen_field(default=0)
    created_at: datetime = created_at_field()
