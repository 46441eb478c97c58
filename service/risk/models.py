"""Tables of the risk flags (docs/risk.md): each flag of a redemption with its evidence and
outcome, the review of a held redemption and its decisions, and the unit-price statistics the
outlier rule compares against (refreshed periodically, never per request)."""

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Column, Index
from sqlmodel import Field, SQLModel

from service.invoices.models import Invoice
from service.kit.timestamps import created_at_field, fen_field, optional_ts_field

RULES = ("unit_price_outlier", "near_cap_split", "shared_contact", "new_entity", "burst",
         "round_amount", "reversal_after_payout", "provider_concentration")

# The stats refresh asks "was any invoice posted since?" through this index.
Index("ix_invoice_created_at", Invoice.__table__.c.created_at)


class RiskFlag(SQLModel, table=True):
    """One rule that fired on one redemption. `outcome` is set when its review is decided:
    `confirmed` (rejected) or `cleared`."""

    __tablename__ = "risk_flag"
    __table_args__ = (
        CheckConstraint("outcome IS NULL OR outcome IN ('cleared','confirmed')", name="outcome"),
        Index("ix_risk_flag_year_rule", "year", "rule"),
    )

    redemption_id: str = Field(foreign_key="redemption.id", primary_key=True, max_length=40)
    rule: str = Field(primary_key=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year")
    weight: int
    evidence: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    message_zh: str = Field(max_length=2000)
    message_en: str = Field(max_length=2000)
    outcome: str | None = Field(default=None, max_length=20)
    created_at: datetime = created_at_field()


class Review(SQLModel, table=True):
    """A held redemption waiting for (or decided by) the bureau's reviewers."""

    __tablename__ = "review"
    __table_args__ = (
        CheckConstraint("status IN ('open','cleared','rejected')", name="status"),
        Index("ix_review_status_score", "status", "score"),
    )

    id: str = Field(primary_key=True, max_length=40)
    redemption_id: str = Field(foreign_key="redemption.id", unique=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=40)
    provider_id: str = Field(foreign_key="provider.id", max_length=40)
    score: int
    # The score at or above which two different reviewers must agree (the year's policy then).
    second_review_threshold: int
    status: str = Field(default="open", max_length=20)
    due_on: date
    created_at: datetime = created_at_field()
    decided_at: datetime | None = optional_ts_field()


class ReviewDecision(SQLModel, table=True):
    __tablename__ = "review_decision"
    __table_args__ = (CheckConstraint("decision IN ('clear','reject')", name="decision"),)

    review_id: str = Field(foreign_key="review.id", primary_key=True, max_length=40)
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    decision: str = Field(max_length=10)
    reason: str = Field(max_length=2000)
    actor_id: str = Field(max_length=40)
    actor_name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    at: datetime = created_at_field()


class RiskPriceStat(SQLModel, table=True):
    """Median and median absolute deviation of unit prices per year, category and unit."""

    __tablename__ = "risk_price_stat"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    category: str = Field(primary_key=True, max_length=20)
    unit: str = Field(primary_key=True, max_length=40)
    line_count: int
    median_fen: int = fen_field()
    mad_fen: int = fen_field()


class RiskStatsState(SQLModel, table=True):
    """When a year's price statistics were last computed, and over how many lines."""

    __tablename__ = "risk_stats_state"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    line_count: int = 0
    refreshed_at: datetime | None = optional_ts_field()
