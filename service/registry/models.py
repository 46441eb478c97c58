from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field


class RegistryFacts(SQLModel):
    """Registry facts the risk flags compare (docs/risk.md), on enterprises and providers: as
    given, and normalised for comparison."""

    contact_phone: str | None = Field(default=None, max_length=40)
    contact_email: str | None = Field(default=None, max_length=254)
    bank_account: str | None = Field(default=None, max_length=40)
    legal_representative: str | None = Field(default=None, max_length=100)
    registered_address: str | None = Field(default=None, max_length=300)
    established_on: date | None = None
    contact_phone_norm: str | None = Field(default=None, max_length=40, index=True)
    contact_email_norm: str | None = Field(default=None, max_length=254, index=True)
    bank_account_norm: str | None = Field(default=None, max_length=40, index=True)
    legal_representative_norm: str | None = Field(default=None, max_length=100, index=True)
    registered_address_norm: str | None = Field(default=None, max_length=300, index=True)


class PaymentFacts(SQLModel):
    """Where the party is paid, with `bank_account` (service/registry/payment.py)."""

    bank_name: str | None = Field(default=None, max_length=100)
    account_name: str | None = Field(default=None, max_length=200)


class Enterprise(RegistryFacts, PaymentFacts, table=True):
    __tablename__ = "enterprise"

    id: str = Field(primary_key=True, max_length=40)
    uscc: str = Field(unique=True, max_length=18)
    name: str = Field(max_length=200)
    district: str | None = Field(default=None, max_length=100)
    credit_blocked: bool = False
    uscc_override: bool = False
    created_at: datetime = created_at_field()


class Provider(RegistryFacts, PaymentFacts, table=True):
    __tablename__ = "provider"

    id: str = Field(primary_key=True, max_length=40)
    uscc: str = Field(unique=True, max_length=18)
    name: str = Field(max_length=200)
    uscc_override: bool = False
    created_at: datetime = created_at_field()


class ApprovedProvider(SQLModel, table=True):
    __tablename__ = "approved_provider"

    year: int = Field(foreign_key="budget_year.year", primary_key=True)
    provider_id: str = Field(foreign_key="provider.id", primary_key=True, max_length=40)
    created_at: datetime = created_at_field()


class RelatedParty(SQLModel, table=True):
    __tablename__ = "related_party"
    __table_args__ = (UniqueConstraint("enterprise_id", "provider_id"),)

    id: str = Field(primary_key=True, max_length=40)
    enterprise_id: str = Field(foreign_key="enterprise.id", max_length=40)
    provider_id: str = Field(foreign_key="provider.id", max_length=40)
    reason: str = Field(max_length=500)
    created_at: datetime = created_at_field()


class OtherSubsidy(SQLModel, table=True):
    """A claim under another programme: the same invoice or contract is never subsidised twice."""

    __tablename__ = "other_subsidy"

    id: str = Field(primary_key=True, max_length=40)
    enterprise_id: str = Field(foreign_key="enterprise.id", index=True, max_length=40)
    programme: str = Field(max_length=200)
    invoice_number: str | None = Field(default=None, max_length=40, index=True)
    contract_number: str | None = Field(default=None, max_length=100, index=True)
    amount_fen: int = fen_field()
    created_at: datetime = created_at_field()
