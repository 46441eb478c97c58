"""Objections to a published batch (公示, docs/notice.md) and the invoices an upheld objection
bars from any further redemption."""

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, optional_ts_field


class Objection(SQLModel, table=True):
    """A real-name objection. The objector's identity (name, phone, organisation) is read only
    by the bureau (notices/access.py); the public is answered {id, status, received_at}."""

    __tablename__ = "objection"
    __table_args__ = (
        CheckConstraint("status IN ('received','upheld','dismissed')", name="status"),
        CheckConstraint("(status = 'received') = (resolved_at IS NULL)", name="resolved"),
    )

    id: str = Field(primary_key=True, max_length=40)
    settlement_id: str = Field(foreign_key="settlement.id", index=True, max_length=40)
    name: str = Field(max_length=50)
    phone: str = Field(max_length=20)
    organisation: str | None = Field(default=None, max_length=200)
    content: str = Field(max_length=2000)
    status: str = Field(default="received", max_length=20, index=True)
    received_at: datetime = created_at_field()
    resolved_at: datetime | None = optional_ts_field()
    resolution_reason: str | None = Field(default=None, max_length=2000)
    resolved_by: str | None = Field(default=None, max_length=40)


class ObjectionLine(SQLModel, table=True):
    """A line an objection names: the only lines it freezes."""

    __tablename__ = "objection_line"

    objection_id: str = Field(foreign_key="objection.id", primary_key=True, max_length=40)
    line_id: str = Field(foreign_key="settlement_line.line_id", primary_key=True, index=True,
                         max_length=40)


class BarredInvoice(SQLModel, table=True):
    """An invoice whose redemption an upheld objection rejected: never redeemed again."""

    __tablename__ = "barred_invoice"

    invoice_id: str = Field(foreign_key="invoice.id", primary_key=True, max_length=40)
    objection_id: str = Field(foreign_key="objection.id", max_length=40)
    created_at: datetime = created_at_field()
