from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import CheckConstraint, Numeric, Text
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field


class Invoice(SQLModel, table=True):
    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint("total_fen >= 0", name="total_nonneg"),
        CheckConstraint("tax_fen >= 0 AND tax_fen <= total_fen", name="tax_range"),
        CheckConstraint("paid_fen >= 0", name="paid_nonneg"),
        CheckConstraint("reversed_fen >= 0 AND reversed_fen <= total_fen", name="reversed_range"),
        CheckConstraint("service_end >= service_start", name="period"),
    )

    id: str = Field(primary_key=True, max_length=40)
    # The system-wide identity of a tax invoice: the 20-digit number, or code-number.
    invoice_key: str = Field(unique=True, max_length=40)
    invoice_number: str = Field(max_length=20)
    invoice_code: str | None = Field(default=None, max_length=12)
    provider_id: str = Field(foreign_key="provider.id", index=True, max_length=40)
    enterprise_id: str = Field(foreign_key="enterprise.id", index=True, max_length=40)
    issued_on: date = Field(index=True)
    service_start: date
    service_end: date
    contract_number: str | None = Field(default=None, max_length=100, index=True)
    total_fen: int = fen_field()
    tax_fen: int = fen_field()
    paid_fen: int = fen_field(default=0)
    reversed_fen: int = fen_field(default=0)
    created_at: datetime = created_at_field()
    # Its lines' amounts summed per category, "gpu 105000 storage 5000" (categories in name
    # order; "" with no lines): written with the lines, which never change, so that the what-if
    # replay reads one column instead of aggregating invoice_line (docs/what-if.md, "Speed").
    line_amounts: str | None = Field(default=None, sa_type=Text)

    @property
    def net_total_fen(self) -> int:
        return self.total_fen - self.reversed_fen


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_line"
    __table_args__ = (
        CheckConstraint("amount_fen >= 0", name="amount_nonneg"),
        CheckConstraint("unit_price_fen >= 0", name="price_nonneg"),
        CheckConstraint("quantity >= 0", name="quantity_nonneg"),
    )

    invoice_id: str = Field(foreign_key="invoice.id", primary_key=True, max_length=40)
    line_no: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    category: str = Field(max_length=20)
    description: str = Field(max_length=500)
    quantity: Decimal = Field(sa_type=Numeric(24, 6))
    unit: str = Field(max_length=40)
    unit_price_fen: int = fen_field()
    amount_fen: int = fen_field()


class InvoiceRow(NamedTuple):
    """An `invoice` row as a plain tuple in column order: what bulk posting inserts (COPY) and
    shapes, without the cost of an ORM object per invoice."""

    id: str
    invoice_key: str
    invoice_number: str
    invoice_code: str | None
    provider_id: str
    enterprise_id: str
    issued_on: date
    service_start: date
    service_end: date
    contract_number: str | None
    total_fen: int
    tax_fen: int
    paid_fen: int
    reversed_fen: int
    created_at: datetime
    line_amounts: str | None

    @property
    def net_total_fen(self) -> int:
        return self.total_fen - self.reversed_fen


class LineRow(NamedTuple):
    """An `invoice_line` row as a plain tuple in column order."""

    invoice_id: str
    line_no: int
    category: str
    description: str
    quantity: Decimal
    unit: str
    unit_price_fen: int
    amount_fen: int


def line_amounts(lines: Iterable[tuple[str, int]]) -> str:
    """invoice.line_amounts of (category, amount_fen) lines: summed per category, categories in
    name order ("gpu 105000 storage 5000"; "" with no lines). Migration 0011 writes the same
    text for the invoices posted before it."""
    sums: dict[str, int] = {}
    for category, amount in lines:
        sums[category] = sums.get(category, 0) + amount
    return " ".join(f"{c} {sums[c]}" for c in sorted(sums))


class InvoicePayment(SQLModel, table=True):
    __tablename__ = "invoice_payment"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: str = Field(primary_key=True, max_length=40)
    invoice_id: str = Field(foreign_key="invoice.id", index=True, max_length=40)
    amount_fen: int = fen_field()
    paid_on: date
    created_at: datetime = created_at_field()


class InvoiceReversal(SQLModel, table=True):
    """A red-letter invoice (红冲) taking `amount_fen` off the original."""

    __tablename__ = "invoice_reversal"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: str = Field(primary_key=True, max_length=40)
    invoice_id: str = Field(foreign_key="invoice.id", index=True, max_length=40)
    invoice_number: str = Field(unique=True, max_length=40)
    issued_on: date
    amount_fen: int = fen_field()
    reason: str = Field(max_length=2000)
    created_at: datetime = created_at_field()
    # The original invoice as this reversal left it: paid, and reversed including this one.
    invoice_paid_fen: int | None = fen_field(default=None)
    invoice_reversed_fen: int | None = fen_field(default=None)


class UsageStatement(SQLModel, table=True):
    """A provider's monthly statement of what it billed each enterprise."""

    __tablename__ = "usage_statement"
    __table_args__ = (CheckConstraint("billed_fen >= 0", name="billed_nonneg"),)

    id: str = Field(primary_key=True, max_length=40)
    provider_id: str = Field(foreign_key="provider.id", index=True, max_length=40)
    month: str = Field(max_length=7, index=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=40)
    billed_fen: int = fen_field()
    created_at: datetime = created_at_field()
