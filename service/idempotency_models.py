from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field


class IdempotencyRecord(SQLModel, table=True):
    """The stored outcome of a POST, replayed when the same key comes again (scoped per API key)."""

    __tablename__ = "idempotency_record"

    api_key_id: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: dict | list = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = created_at_field()
