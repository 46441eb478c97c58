from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from service.kit.timestamps import Timestamp
from service.reviewchain.schemas import ReviewPublic
from service.kit.types import Day, Fen, Line, ObjectId, Text, Whole

MAX_FEN = 10**15  # far above any pool; keeps every sum inside a signed 64-bit column


class ApplicationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: Whole = Field(ge=2000, le=2100)
    requested_fen: Fen = Field(gt=0, le=MAX_FEN)
    project_name: Line = Field(min_length=1, max_length=200)
    purpose: Text = Field(min_length=1, max_length=2000)


class ApplicationApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved_fen: Fen | None = Field(default=None, gt=0, le=MAX_FEN)
    valid_until: Day | None = None


class ApplicationReject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=2000)


class VoucherIssue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enterprise_id: ObjectId = Field(max_length=40)
    year: Whole = Field(ge=2000, le=2100)
    face_fen: Fen = Field(gt=0, le=MAX_FEN)
    valid_until: Day | None = None


class VoucherRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text | None = Field(default=None, max_length=2000)


class VoucherPublic(BaseModel):
    id: str
    code: str
    enterprise_id: str
    year: int
    face_fen: int
    balance_fen: int
    held_fen: int = Field(default=0, description="Reserved by pending holds (docs/holds.md)")
    available_fen: int = Field(default=0, description="What may be drawn: balance − held")
    returned_fen: int
    redeemed_fen: int
    status: str
    valid_from: date
    valid_until: date
    days_left: int
    application_id: str | None
    created_at: Timestamp
    revoked_at: Timestamp | None = None


class ApplicationPublic(BaseModel):
    id: str
    enterprise_id: str
    year: int
    requested_fen: int
    approved_fen: int | None
    project_name: str
    purpose: str
    status: str
    reason: str | None
    voucher_id: str | None
    voucher: VoucherPublic | None = None
    created_at: Timestamp
    decided_at: Timestamp | None = None
    review_level: str | None = Field(default=None, description=(
        "the level of the review chain the application waits at; null once decided"))
    reviews: list[ReviewPublic] = Field(default_factory=list, description=(
        "the review chain's decisions, oldest first"))
    review_levels: list[str] = Field(default_factory=list, description=(
        "the review chain of its year, in order (the year's review_levels)"))
