from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field, optional_ts_field

CATEGORIES = ("gpu", "npu", "accelerator", "cpu", "storage", "network", "security", "other")
DEFAULT_ELIGIBLE = ["gpu", "npu", "accelerator"]


class BudgetYear(SQLModel, table=True):
    __tablename__ = "budget_year"
    __table_args__ = (
        CheckConstraint("pool_fen >= 0", name="pool_nonneg"),
        CheckConstraint("rate_bp >= 0 AND rate_bp <= 10000", name="rate_range"),
        CheckConstraint("enterprise_cap_fen >= 0", name="cap_nonneg"),
        CheckConstraint("settlement_mode IN ('reimbursement','deduction')", name="mode"),
        CheckConstraint("status IN ('open','closed')", name="status"),
        CheckConstraint("notice_working_days >= 0 AND notice_working_days <= 60",
                        name="notice_days_range"),
    )

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    pool_fen: int = fen_field()
    rate_bp: int
    category_rates_bp: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    enterprise_cap_fen: int = fen_field()
    eligible_categories: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    settlement_mode: str = Field(max_length=20)
    application_opens_on: date
    application_closes_on: date
    eligible_from: date
    redemption_deadline: date
    alert_thresholds_bp: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", max_length=10)
    # The review chain's levels, in order (service/reviewchain/levels.py).
    review_levels: list = Field(default_factory=lambda: ["city"],
                                sa_column=Column(JSON, nullable=False))
    policy_version: int = 1
    created_at: datetime = created_at_field()
    closed_at: datetime | None = optional_ts_field()
    # Risk flags (docs/risk.md): changeable after the first voucher, each change audited.
    risk_rules: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    review_threshold: int = 100
    second_review_threshold: int = 150
    # 公示 before payment (docs/notice.md): working days an approved batch is published before
    # it may be paid (0: no notice step), counted on the calendar below.
    notice_working_days: int = 0
    holidays: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    workdays: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class PolicyVersion(SQLModel, table=True):
    """Every policy the year has had, so a figure can be traced to the rules in force."""

    __tablename__ = "policy_version"

    year: int = Field(foreign_key="budget_year.year", primary_key=True)
    version: int = Field(primary_key=True)
    policy: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = created_at_field()
    created_by: str | None = Field(default=None, max_length=40)
