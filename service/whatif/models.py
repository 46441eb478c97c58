from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field


class Scenario(SQLModel, table=True):
    """A stored policy what-if: a name and overrides of the year's policy (docs/what-if.md)."""

    __tablename__ = "whatif_scenario"
    __table_args__ = (CheckConstraint("vouchers IN ('as_issued','follow_cap')", name="vouchers"),)

    id: str = Field(primary_key=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    name: str = Field(max_length=200)
    overrides: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    include_unredeemed: bool = False
    vouchers: str = Field(default="as_issued", max_length=20)
    created_at: datetime = created_at_field()
    created_by: str | None = Field(default=None, max_length=40)
