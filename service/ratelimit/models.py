from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class RateWindow(SQLModel, table=True):
    """Hits of one client on one bucket (e.g. "awards", "objection") within one fixed window.
    Kept in the database so every worker process counts against the same limit."""

    __tablename__ = "rate_window"

    bucket: str = Field(primary_key=True, max_length=40)
    client: str = Field(primary_key=True, max_length=64)
    window_start: datetime = Field(primary_key=True, sa_type=DateTime(timezone=True), index=True)
    hits: int = 0
