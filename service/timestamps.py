"""Column helpers shared by the table models."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime
from sqlmodel import Field

from service import clock


def fen_field(**kwargs) -> int:
    return Field(sa_type=BigInteger, **kwargs)


def created_at_field() -> datetime:
    # Looked up at call time so tests that move the business clock move timestamps too.
    return Field(default_factory=lambda: clock.now(), sa_type=DateTime(timezone=True),
                 nullable=False)


def optional_ts_field() -> datetime | None:
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
