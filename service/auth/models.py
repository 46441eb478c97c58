from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, optional_ts_field

ROLES = ("admin", "auditor", "provider", "enterprise", "reviewer")


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint("role IN ('admin','auditor','provider','enterprise','reviewer')",
                        name="role"),
        CheckConstraint("(role = 'provider') = (provider_id IS NOT NULL)", name="provider_bound"),
        CheckConstraint("(role = 'enterprise') = (enterprise_id IS NOT NULL)",
                        name="enterprise_bound"),
        # A reviewer acts at one level of the review chain; a district reviewer in one district.
        CheckConstraint("(role = 'reviewer') = (review_level IS NOT NULL)", name="reviewer_level"),
        CheckConstraint("(COALESCE(review_level, '') = 'district') = (district IS NOT NULL)",
                        name="reviewer_district"),
    )

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    enterprise_id: str | None = Field(default=None, foreign_key="enterprise.id", max_length=40)
    provider_id: str | None = Field(default=None, foreign_key="provider.id", max_length=40)
    review_level: str | None = Field(default=None, max_length=20)
    district: str | None = Field(default=None, max_length=100)
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)
    created_at: datetime = created_at_field()
    revoked_at: datetime | None = optional_ts_field()
    expires_at: datetime | None = optional_ts_field()


class KeyRevocationCounter(SQLModel, table=True):
    """One row counting revocations, so every process learns of one without a message bus: each
    reads it at most every half second and empties its key cache when it moved
    (service/auth/cache.py). Written only by `revoke_key`, in the revocation's transaction."""

    __tablename__ = "api_key_revocation_counter"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: int = Field(default=1, primary_key=True)
    revocations: int = Field(default=0, sa_type=BigInteger)
