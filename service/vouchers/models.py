from datetime import date, datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field, optional_ts_field


class Application(SQLModel, table=True):
    __tablename__ = "application"
    __table_args__ = (
        CheckConstraint("requested_fen > 0", name="requested_positive"),
        CheckConstraint("status IN ('submitted','approved','rejected')", name="status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    enterprise_id: str = Field(foreign_key="enterprise.id", index=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    requested_fen: int = fen_field()
    approved_fen: int | None = fen_field(default=None, nullable=True)
    project_name: str = Field(max_length=200)
    purpose: str = Field(max_length=2000)
    status: str = Field(default="submitted", max_length=20)
    reason: str | None = Field(default=None, max_length=2000)
    voucher_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_at_field()
    decided_at: datetime | None = optional_ts_field()
    # The review level the application waits at (service/reviewchain); null once decided.
    review_level: str | None = Field(default=None, max_length=20, index=True)


class Voucher(SQLModel, table=True):
    __tablename__ = "voucher"
    __table_args__ = (
        CheckConstraint("face_fen > 0", name="face_positive"),
        CheckConstraint("balance_fen >= 0 AND balance_fen <= face_fen", name="balance_range"),
        CheckConstraint("returned_fen >= 0 AND returned_fen <= face_fen", name="returned_range"),
        CheckConstraint("status IN ('active','exhausted','expired','revoked')", name="status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    code: str = Field(unique=True, max_length=40)
    enterprise_id: str = Field(foreign_key="enterprise.id", index=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    face_fen: int = fen_field()
    balance_fen: int = fen_field()
    returned_fen: int = fen_field(default=0)
    status: str = Field(default="active", max_length=20)
    valid_from: date
    valid_until: date
    application_id: str | None = Field(default=None, max_length=40)
    ledger_account_id: str = Field(max_length=40)
    created_at: datetime = created_at_field()
    revoked_at: datetime | None = optional_ts_field()
    revoke_reason: str | None = Field(default=None, max_length=2000)


class EnterpriseYear(SQLModel, table=True):
    """Face value reserved for one enterprise in one year, net of returns: the cap's counter."""

    __tablename__ = "enterprise_year"
    __table_args__ = (CheckConstraint("reserved_fen >= 0", name="reserved_nonneg"),)

    enterprise_id: str = Field(foreign_key="enterprise.id", primary_key=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", primary_key=True)
    reserved_fen: int = fen_field(default=0)
