from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.kit.timestamps import Timestamp
from service.reviewchain.levels import ReviewLevels
from service.risk.policy import RiskRules
from service.kit.types import BasisPoints, Day, Declared, Fen, Whole
from service.years.calendar import MAX_NOTICE_WORKING_DAYS

Category = Literal["gpu", "npu", "accelerator", "cpu", "storage", "network", "security", "other"]
SettlementMode = Literal["reimbursement", "deduction"]


# The bounds years.service checks with its own sentences (422 naming the field), stated.
_Rate = Annotated[BasisPoints, Declared(minimum=0, maximum=10_000)]
_Threshold = Annotated[BasisPoints, Declared(minimum=1, maximum=10_000)]


class PolicyFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool_fen: Fen | None = Field(default=None, ge=0, le=10**15)
    rate_bp: BasisPoints | None = Field(default=None, ge=0, le=10_000)
    category_rates_bp: dict[Category, _Rate] | None = None
    enterprise_cap_fen: Fen | None = Field(default=None, ge=0, le=10**15)
    eligible_categories: list[Category] | None = None
    settlement_mode: SettlementMode | None = None
    application_opens_on: Day | None = None
    application_closes_on: Day | None = None
    eligible_from: Day | None = None
    redemption_deadline: Day | None = None
    alert_thresholds_bp: list[_Threshold] | None = Field(default=None, max_length=10)
    review_levels: ReviewLevels | None = Field(default=None, description=(
        "the review chain applications and settlement batches pass, in order: a non-empty "
        "list of distinct levels from district, city, finance in that order (default "
        "[\"city\"]); may change after the first voucher (docs/review-chain.md)"))
    # Risk flags (docs/risk.md): changeable after the first voucher.
    risk_rules: RiskRules | None = None
    review_threshold: BasisPoints | None = Field(default=None, ge=0, le=1_000_000)
    second_review_threshold: BasisPoints | None = Field(default=None, ge=0, le=1_000_000)
    notice_working_days: Whole | None = Field(default=None, ge=0, le=MAX_NOTICE_WORKING_DAYS,
                                              description=(
        "公示: working days an approved settlement batch is published before it may be paid "
        "(default 0: no notice step); may change after the first voucher (docs/notice.md)"))


class YearCreate(PolicyFields):
    year: Whole = Field(ge=2000, le=2100)


class YearUpdate(PolicyFields):
    pass


class YearPublic(BaseModel):
    year: int
    pool_fen: int
    rate_bp: int
    category_rates_bp: dict[str, int]
    enterprise_cap_fen: int
    eligible_categories: list[str]
    settlement_mode: str
    application_opens_on: date
    application_closes_on: date
    eligible_from: date
    redemption_deadline: date
    alert_thresholds_bp: list[int]
    review_levels: list[str]
    status: str
    policy_version: int
    policy_locked: bool
    created_at: Timestamp
    closed_at: Timestamp | None = None
    risk_rules: dict[str, dict[str, int | bool]] = {}
    review_threshold: int = 100
    second_review_threshold: int = 150
    notice_working_days: int = 0


class Calendar(BaseModel):
    """The year's working-day calendar (docs/notice.md): public holidays, and the weekend days
    worked instead (调休). Dates of any year; each list at most 366 dates."""

    model_config = ConfigDict(extra="forbid")

    holidays: list[Day] = Field(default_factory=list, max_length=366)
    workdays: list[Day] = Field(default_factory=list, max_length=366)


class CalendarPublic(Calendar):
    year: int
