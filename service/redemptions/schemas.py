from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.kit.timestamps import Timestamp
from service.kit.types import ObjectId


class RedemptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_id: ObjectId = Field(min_length=1, max_length=40)
    voucher_id: ObjectId | None = Field(default=None, min_length=1, max_length=40)


class DrawPublic(BaseModel):
    voucher_id: str
    amount_fen: int
    restored_fen: int


class FlagPublic(BaseModel):
    rule: str
    weight: int
    evidence: dict[str, Any]
    message_zh: str
    message_en: str


class RedemptionPublic(BaseModel):
    id: str
    invoice_id: str
    enterprise_id: str
    provider_id: str
    year: int
    subsidy_fen: int
    clawed_back_fen: int
    net_subsidy_fen: int
    draws: list[DrawPublic]
    beneficiary_type: Literal["provider", "enterprise"]
    beneficiary_id: str
    status: Literal["pending", "payable", "settling", "paid", "reversed", "under_review",
                    "rejected"]
    settlement_id: str | None
    created_at: Timestamp
    flags: list[FlagPublic] = []
    risk_score: int = 0
    review_id: str | None = None
