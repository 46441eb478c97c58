from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field


class AuditEvent(SQLModel, table=True):
    """Append-only; each row's hash covers its content and the previous row's hash."""

    __tablename__ = "audit_event"

    seq: int = Field(sa_type=BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})
    id: str = Field(unique=True, max_length=40)
    at: datetime = created_at_field()
    actor_id: str | None = Field(default=None, max_length=40)
    actor_name: str | None = Field(default=None, max_length=200)
    role: str = Field(max_length=20)
    action: str = Field(max_length=60, index=True)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=60, index=True)
    summary: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    request_id: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The one row that every audited transaction locks last to extend the chain in order."""

    __tablename__ = "audit_chain_head"

    id: int = Field(primary_key=True)
    last_seq: int = Field(sa_type=BigInteger, default=0)
    last_hash: str = Field(max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    """A chain prefix a full verification found intact: events 1..seq, the last with `hash`.

    Reconciliation rehashes only the events after the latest checkpoint (docs/decisions.md)."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_type=BigInteger, index=True)
    hash: str = Field(max_length=64)
    verified_at: datetime = created_at_field()
