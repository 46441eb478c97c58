from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field, optional_ts_field


class BudgetAlert(SQLModel, table=True):
    """Issuance crossed a share of the pool; recorded once per year and threshold."""

    __tablename__ = "budget_alert"
    __table_args__ = (UniqueConstraint("year", "threshold_bp"),)

    id: str = Field(primary_key=True, max_length=40)
    year: int = Field(foreign_key="budget_year.year", index=True)
    threshold_bp: int
    issued_net_fen: int = fen_field()
    pool_fen: int = fen_field()
    created_at: datetime = created_at_field()


class WebhookDelivery(SQLModel, table=True):
    """An outbox row: the worker delivers it with retries, so a restart loses nothing."""

    __tablename__ = "webhook_delivery"

    id: str = Field(primary_key=True, max_length=40)
    # A budget alert's delivery names its alert; a hold event's (hold.expired) names none.
    alert_id: str | None = Field(default=None, foreign_key="budget_alert.id", index=True,
                                 max_length=40)
    url: str = Field(max_length=2000)
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_error: str | None = Field(default=None, max_length=2000)
    delivered_at: datetime | None = optional_ts_field()
    created_at: datetime = created_at_field()
