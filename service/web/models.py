from datetime import datetime

from sqlalchemy import JSON, Column, DateTime
from sqlmodel import Field, SQLModel


class StoredWebSession(SQLModel, table=True):
    """A signed-in web session, in the database so that any worker can serve its next request.
    It holds the SHA-256 digest of the cookie's session id (not the id) and the id of the API
    key the user signed in with (not the key): the principal is rebuilt from the api_key row,
    so a revoked or expired key ends the session at its next request."""

    __tablename__ = "web_session"

    id_digest: str = Field(primary_key=True, max_length=64)
    api_key_id: str = Field(foreign_key="api_key.id", max_length=40)
    created_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    last_seen_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    flashes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
