"""Tables of the XML intake (docs/xml-invoices.md): the original files, and the bureau's
per-year table that maps an invoice line's item name / tax classification code to a category."""

from datetime import datetime

from sqlalchemy import CheckConstraint, LargeBinary
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field


class InvoiceSource(SQLModel, table=True):
    """The 数电票 XML an invoice (or a red-letter reversal of it) was read from, byte for byte."""

    __tablename__ = "invoice_source"

    id: str = Field(primary_key=True, max_length=40)
    invoice_id: str = Field(foreign_key="invoice.id", index=True, max_length=40)
    # Set when the file was a red-letter invoice: the reversal it became.
    reversal_id: str | None = Field(default=None, foreign_key="invoice_reversal.id",
                                    unique=True, max_length=40)
    file_name: str = Field(max_length=255)
    sha256: str = Field(max_length=64, index=True)
    size_bytes: int
    content: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = created_at_field()


class ItemCategoryRule(SQLModel, table=True):
    """One row of a year's item → category table, tried in `position` order; first match wins.
    A year without rows uses the defaults in service/invoices/categories.py."""

    __tablename__ = "item_category_rule"
    __table_args__ = (
        CheckConstraint("match IN ('item_name','tax_code_prefix')", name="match_kind"),
    )

    year: int = Field(foreign_key="budget_year.year", primary_key=True,
                      sa_column_kwargs={"autoincrement": False})
    position: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    match: str = Field(max_length=20)
    pattern: str = Field(max_length=100)
    category: str = Field(max_length=20)
