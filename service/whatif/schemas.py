from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Strict, Tag

from service.kit.timestamps import Timestamp
from service.kit.types import BasisPoints, Day, Fen, Flag, Line, ObjectId
from service.years.schemas import Category, SettlementMode

VoucherMode = Literal["as_issued", "follow_cap"]
GroupBy = Literal["enterprise", "district", "provider", "category", "month"]
MAX_SCENARIOS = 5
Rate = Annotated[int, Strict(), Field(ge=0, le=10_000)]


class Overrides(BaseModel):
    """Any of the year's policy fields, and a demand growth: what the scenario changes."""

    model_config = ConfigDict(extra="forbid")

    pool_fen: Fen | None = Field(default=None, ge=0, le=10**15)
    rate_bp: BasisPoints | None = Field(default=None, ge=0, le=10_000)
    category_rates_bp: dict[Category, Rate] | None = None
    enterprise_cap_fen: Fen | None = Field(default=None, ge=0, le=10**15)
    eligible_categories: list[Category] | None = Field(default=None, max_length=8)
    settlement_mode: SettlementMode | None = None
    eligible_from: Day | None = None
    invoice_growth_bp: BasisPoints | None = Field(
        default=None, ge=-10_000, le=1_000_000,
        description="scale every invoice amount: 4000 = demand grows 40 %")


class ScenarioCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=200)
    overrides: Overrides = Field(default_factory=Overrides)
    include_unredeemed: Flag = False
    vouchers: VoucherMode = "as_issued"


class ScenarioPublic(BaseModel):
    id: str
    year: int
    name: str
    overrides: dict
    include_unredeemed: bool
    vouchers: str
    created_at: Timestamp
    created_by: str | None = None


def _ref_kind(value: Any) -> str:
    return "id" if isinstance(value, str) else "inline"


# A scenario in a comparison: a stored scenario's id, or one given inline.
ScenarioRef = Annotated[Annotated[ObjectId, Tag("id")] | Annotated[ScenarioCreate, Tag("inline")],
                        Discriminator(_ref_kind)]


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseline: ObjectId = Field(default="actual",
                               description='"actual" (the year as it happened) or a scenario id')
    scenarios: list[ScenarioRef] = Field(min_length=1, max_length=MAX_SCENARIOS)
    group_by: GroupBy = "enterprise"


class Buckets(BaseModel):
    lose_more_5: int
    lose_less_5: int
    no_change: int
    gain_less_5: int
    gain_more_5: int


class GroupRow(BaseModel):
    key: str
    label: str | None = None
    baseline_fen: int
    scenario_fen: int
    diff_fen: int
    diff_permille: int | None


class CurvePoint(BaseModel):
    date: date
    cumulative_fen: int


class Result(BaseModel):
    name: str
    scenario_id: str | None = None
    parameters: dict
    vouchers: str
    include_unredeemed: bool
    total_subsidy_fen: int
    pool_fen: int
    pool_use_bp: int
    redemptions_count: int
    refused_count: int
    refused_fen: int
    pool_exhausted_on: date | None
    enterprises_at_cap: int
    top10_share_bp: int
    gini_bp: int
    buckets: Buckets
    groups: list[GroupRow]
    curve: list[CurvePoint]
    summary_zh: str
    summary_en: str


class CompareResponse(BaseModel):
    year: int
    data_version: str
    audit_head_hash: str
    group_by: str
    cached: bool
    baseline: Result
    scenarios: list[Result]
