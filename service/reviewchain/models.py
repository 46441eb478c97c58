from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field


class ReviewStep(SQLModel, table=True):
    """One decision of the review chain on an application or a settlement batch: who, at which
    level, what, why, and where the object went next (`to_level`, null when the chain ended).
    Append-only: the trail is the history of the object's review."""

    __tablename__ = "review_step"
    __table_args__ = (
        CheckConstraint("object_type IN ('application','settlement')", name="object_type"),
        CheckConstraint("decision IN ('approve','send_back','reject')", name="decision"),
        CheckConstraint("level IN ('district','city','finance')", name="level"),
        Index("ix_review_step_object", "object_type", "object_id", "seq"),
    )

    id: str = Field(primary_key=True, max_length=40)
    object_type: str = Field(max_length=20)
    object_id: str = Field(max_length=40)
    year: int = Field(foreign_key="budget_year.year")
    seq: int
    level: str = Field(max_length=20)
    decision: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=2000)
    to_level: str | None = Field(default=None, max_length=20)
    actor_id: str = Field(max_length=40)
    actor_role: str = Field(max_length=20)
    at: datetime = created_at_field()
