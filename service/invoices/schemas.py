from datetime import date
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from service.invoices.numbers import NUMBER_WITH_CODE
from service.kit.timestamps import Timestamp
from service.kit.types import Day, Declared, Fen, InvoiceCode, InvoiceNumber, Line, Text, Uscc
from service.vouchers.schemas import MAX_FEN

Category = Literal["gpu", "npu", "accelerator", "cpu", "storage", "network", "security", "other"]
MAX_BATCH = 1000
MAX_LINES = 500  # of one invoice (the XML intake refuses more before reading them)


QUANTITY_PATTERN = r"^[0-9]{1,18}(\.[0-9]{1,6})?$"


def _plain_decimal(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(QUANTITY_PATTERN, value):
        raise ValueError("a quantity is a decimal number: up to 18 digits, then up to 6 after "
                         "the point")
    return value


# numeric(24, 6): as a JSON number or a plain decimal string (not "1e3", "+1" or " 1").
Quantity = Annotated[Decimal, BeforeValidator(_plain_decimal), Declared(anyOf=[
    {"type": "number", "minimum": 0, "exclusiveMaximum": 10**18},
    {"type": "string", "pattern": QUANTITY_PATTERN}])]


class InvoiceLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category
    description: Text = Field(min_length=1, max_length=500)
    quantity: Quantity = Field(ge=0, max_digits=24, decimal_places=6, allow_inf_nan=False)
    unit: Line = Field(min_length=1, max_length=40)
    unit_price_fen: Fen = Field(ge=0, le=MAX_FEN)
    amount_fen: Fen = Field(ge=0, le=MAX_FEN)


class InvoiceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=NUMBER_WITH_CODE)

    invoice_number: InvoiceNumber = Field(description="20 digits (数电票), or 8 with invoice_code")
    invoice_code: InvoiceCode | None = Field(default=None, description=(
        "A legacy VAT invoice's 10- or 12-digit code"))
    enterprise_uscc: Uscc
    issued_on: Day
    service_start: Day
    service_end: Day
    contract_number: Line | None = Field(default=None, min_length=1, max_length=100)
    total_fen: Fen = Field(ge=0, le=MAX_FEN)
    tax_fen: Fen = Field(ge=0, le=MAX_FEN)
    lines: list[InvoiceLineIn] = Field(min_length=1, max_length=MAX_LINES)


class InvoiceBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoices: list[InvoiceCreate] = Field(min_length=1, max_length=MAX_BATCH)


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_fen: Fen = Field(gt=0, le=MAX_FEN)
    paid_on: Day


class ReversalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=NUMBER_WITH_CODE)

    invoice_number: InvoiceNumber = Field(description="The red-letter invoice's number: 20 digits "
                                               "(数电票), or 8 with invoice_code")
    invoice_code: InvoiceCode | None = Field(default=None, description="A legacy VAT red-letter "
                                                                  "invoice's 10- or 12-digit code")
    issued_on: Day
    amount_fen: Fen = Field(gt=0, le=MAX_FEN)
    reason: Text = Field(min_length=1, max_length=2000)


class InvoiceLinePublic(BaseModel):
    line_no: int
    category: str
    description: str
    quantity: Decimal
    unit: str
    unit_price_fen: int
    amount_fen: int


class InvoicePublic(BaseModel):
    id: str
    invoice_number: str
    invoice_code: str | None
    provider_id: str
    enterprise_id: str
    enterprise_uscc: str
    issued_on: date
    service_start: date
    service_end: date
    contract_number: str | None
    total_fen: int
    tax_fen: int
    net_total_fen: int
    paid_fen: int
    reversed_fen: int
    status: Literal["unpaid", "partially_paid", "paid", "reversed"]
    year: int = Field(description="The budget year eligible_subsidy_fen is for")
    eligible_subsidy_fen: int
    eligible_by_year: dict[str, int]
    redeemed_fen: int
    redeemable_fen: int
    lines: list[InvoiceLinePublic]
    created_at: Timestamp
    source_sha256: str | None = Field(default=None, description=(
        "SHA-256 of the 数电票 XML the invoice was read from (GET /v1/invoices/{id}/source); "
        "null when it was posted as JSON"))


class InvoiceBatchResult(BaseModel):
    items: list[InvoicePublic]


class UsageLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enterprise_uscc: Uscc
    billed_fen: Fen = Field(ge=0, le=MAX_FEN)


class UsageStatementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    month: str = Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")
    lines: list[UsageLineIn] = Field(min_length=1, max_length=10_000)


class UsageStatementPublic(BaseModel):
    provider_id: str
    month: str
    lines: list[dict]


class XmlFileRemark(BaseModel):
    file: str
    element: str
    code: str
    message: str


class XmlLineMapping(BaseModel):
    line_no: int
    element: str
    item_name: str
    tax_classification_code: str | None
    category: str
    rule: int | None = Field(description="Number of the item-category rule that matched; null: "
                                         "unmapped, so `other`")


class XmlReversalPublic(BaseModel):
    id: str
    invoice_number: str
    original_invoice_number: str
    amount_fen: int


class XmlFileResult(BaseModel):
    file: str = Field(description="The XML file (ZIP member name), in the order of the items")
    source_sha256: str
    invoice_id: str
    line_mapping: list[XmlLineMapping]
    reversal: XmlReversalPublic | None = Field(default=None, description=(
        "Set for a red-letter file: the reversal it became; its item is the reduced original"))
    warnings: list[XmlFileRemark]


class XmlIngestResult(BaseModel):
    items: list[InvoicePublic] = Field(description=(
        "Per file, in file order: the invoice exactly as GET /v1/invoices/{id} shows it (for a "
        "red-letter file, the original it reduced)"))
    files: list[XmlFileResult] = Field(description="Per file, in the same order: how it was "
                                                   "read (line categories, warnings)")
    warnings: list[XmlFileRemark]
