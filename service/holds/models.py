"""Holds (docs/holds.md): a deduction-mode subsidy reserved at the quote, resolved once."""

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Column, DateTime
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field, optional_ts_field


class Hold(SQLModel, table=True):
    """A pending transfer (TigerBeetle's two-phase shape): `amount_fen` moved from the vouchers'
    accounts to the year's hold account, then captured (in part), voided or expired — once.
    The stored status stays `pending` until the ledger records the resolution; a read derives
    `expired` from `expires_at` (holds/tally.py), so expiry needs no sweeper to be exact."""

    __tablename__ = "hold"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending','captured','voided','expired')", name="status"),
        CheckConstraint("captured_fen >= 0 AND released_fen >= 0 "
                        "AND captured_fen + released_fen <= amount_fen", name="resolved_range"),
        CheckConstraint("(status = 'pending') = (resolved_at IS NULL)", name="resolved"),
    )

    id: str = Field(primary_key=True, max_length=40)
    enterprise_id: str = Field(foreign_key="enterprise.id", index=True, max_length=40)
    provider_id: str = Field(foreign_key="provider.id", index=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    voucher_id: str = Field(foreign_key="voucher.id", max_length=40)  # the code handed over
    contract_number: str | None = Field(default=None, max_length=60)
    service_start: date
    service_end: date
    lines: list = Field(sa_column=Column(JSON, nullable=False))
    quoted_fen: int = fen_field()  # what the quoted lines would earn (§3.4)
    amount_fen: int = fen_field()
    status: str = Field(default="pending", max_length=20, index=True)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    created_at: datetime = created_at_field()
    resolved_at: datetime | None = optional_ts_field()
    captured_fen: int = fen_field(default=0)
    released_fen: int = fen_field(default=0)
    redemption_id: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=2000)


class HoldDraw(SQLModel, table=True):
    """What a hold reserved on one voucher, in draw order."""

    __tablename__ = "hold_draw"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    hold_id: str = Field(foreign_key="hold.id", primary_key=True, max_length=40)
    voucher_id: str = Field(foreign_key="voucher.id", primary_key=True, index=True,
                            max_length=40)
    draw_no: int
    amount_fen: int = fen_field()
