from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.holds.service import DEFAULT_EXPIRY_S, MAX_EXPIRY_S
from service.invoices.schemas import Category
from service.kit.timestamps import Timestamp
from service.kit.types import Day, Fen, Flag, Line, ObjectId, Text, Uscc
from service.vouchers.schemas import MAX_FEN

HoldStatus = Literal["pending", "captured", "voided", "expired"]


class QuoteLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category
    amount_fen: Fen = Field(ge=0, le=MAX_FEN)


class HoldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    voucher_code: Line = Field(min_length=1, max_length=40,
                               description="The code the enterprise handed over at purchase")
    enterprise_uscc: Uscc
    year: int = Field(ge=2000, le=2100)
    contract_number: Line | None = Field(default=None, min_length=1, max_length=60)
    service_start: Day
    service_end: Day
    lines: list[QuoteLineIn] = Field(min_length=1, max_length=200)
    expires_in_s: int = Field(default=DEFAULT_EXPIRY_S, ge=60, le=MAX_EXPIRY_S, description=(
        "Seconds until the hold expires: 7 days unless given, at most 30 days (more is "
        "refused, not cut down)"))
    allow_other_vouchers: Flag = Field(default=False, description=(
        "Draw on the enterprise's other vouchers, in draw order, after the named one"))

    @model_validator(mode="after")
    def _period(self) -> "HoldCreate":
        if self.service_end < self.service_start:
            raise ValueError("service_end is before service_start")
        return self


class HoldCapture(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: ObjectId = Field(min_length=1, max_length=40)


class HoldVoid(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(default=None, min_length=1, max_length=2000)


class HoldDrawPublic(BaseModel):
    voucher_id: str
    amount_fen: int


class HoldLinePublic(BaseModel):
    category: str
    amount_fen: int


class HoldPublic(BaseModel):
    id: str
    status: HoldStatus
    enterprise_id: str
    provider_id: str
    year: int
    voucher_id: str
    contract_number: str | None
    service_start: Day
    service_end: Day
    lines: list[HoldLinePublic]
    quoted_fen: int = Field(description="What the quoted lines would earn if invoiced and paid")
    amount_fen: int = Field(description="What the hold reserved")
    draws: list[HoldDrawPublic]
    captured_fen: int
    released_fen: int
    redemption_id: str | None
    reason: str | None
    expires_at: Timestamp
    created_at: Timestamp
    resolved_at: Timestamp | None
