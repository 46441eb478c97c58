"""Timestamps: the column helpers shared by the table models, and how a timestamp leaves the
service (ISO 8601 with the Asia/Shanghai offset on every backend)."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer
from sqlalchemy import BigInteger, DateTime
from sqlmodel import Field

from service.kit import clock


def in_shanghai(value: datetime) -> datetime:
    """A stored timestamp with its offset: SQLite gives back Shanghai wall time."""
    return value.replace(tzinfo=clock.SHANGHAI) if value.tzinfo is None else value.astimezone(
        clock.SHANGHAI)


Timestamp = Annotated[datetime, AfterValidator(in_shanghai),
                      PlainSerializer(lambda v: in_shanghai(v).isoformat(), return_type=str)]


def fen_field(**kwargs) -> int:
    return Field(sa_type=BigInteger, **kwargs)


def created_at_field() -> datetime:
    # Looked up at call time so tests that move the business clock move timestamps too.
    return Field(default_factory=lambda: clock.now(), sa_type=DateTime(timezone=True),
                 nullable=False)


def optional_ts_field() -> datetime | None:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
