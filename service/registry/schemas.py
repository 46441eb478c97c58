from pydantic import BaseModel, ConfigDict, Field

from service.invoices.numbers import NUMBER_WITH_CODE
from service.kit.timestamps import Timestamp
from service.registry.payment import PaymentFactsIn, PaymentFactsOut
from service.risk.facts import PartyFactsIn, PartyFactsOut
from service.kit.types import Fen, Flag, InvoiceCode, InvoiceNumber, Line, ObjectId, Text, Uscc

OVERRIDE = ("An early pilot code that fails the GB 32100 check character (18 upper-case letters "
            "and digits) is accepted when an admin says why here; the acceptance is audited")


class EnterpriseCreate(PartyFactsIn, PaymentFactsIn):
    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    name: Line = Field(min_length=1, max_length=200)
    district: Line | None = Field(default=None, max_length=100)
    credit_blocked: Flag = False
    # Early pilot codes that are legal but fail the GB 32100 check: an admin may accept them,
    # stating why; the acceptance is audited.
    uscc_override_reason: Text | None = Field(default=None, min_length=1, max_length=500,
                                              description=OVERRIDE)


class EnterpriseUpdate(PartyFactsIn, PaymentFactsIn):
    model_config = ConfigDict(extra="forbid")

    name: Line | None = Field(default=None, min_length=1, max_length=200)
    district: Line | None = Field(default=None, max_length=100)
    credit_blocked: Flag | None = None
    reason: Text | None = Field(default=None, max_length=500)


class EnterprisePublic(PartyFactsOut, PaymentFactsOut):
    id: str
    uscc: str
    name: str
    district: str | None
    credit_blocked: bool
    uscc_override: bool
    created_at: Timestamp


class ProviderCreate(PartyFactsIn, PaymentFactsIn):
    model_config = ConfigDict(extra="forbid")

    uscc: Uscc
    name: Line = Field(min_length=1, max_length=200)
    uscc_override_reason: Text | None = Field(default=None, min_length=1, max_length=500,
                                              description=OVERRIDE)


class ProviderUpdate(PartyFactsIn, PaymentFactsIn):
    model_config = ConfigDict(extra="forbid")

    name: Line | None = Field(default=None, min_length=1, max_length=200)


class ProviderPublic(PartyFactsOut, PaymentFactsOut):
    id: str
    uscc: str
    name: str
    uscc_override: bool
    created_at: Timestamp


class ApprovalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: Flag = True


class ApprovalPublic(BaseModel):
    year: int
    provider_id: str
    approved: bool


class RelatedPartyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enterprise_id: ObjectId = Field(max_length=40)
    provider_id: ObjectId = Field(max_length=40)
    reason: Text = Field(min_length=1, max_length=500)


class RelatedPartyPublic(BaseModel):
    id: str
    enterprise_id: str
    provider_id: str
    reason: str
    created_at: Timestamp


# create_other_subsidy's rules, stated: the claim names an invoice or a contract, and an invoice
# number goes with its code as everywhere (NUMBER_WITH_CODE).
_NAMES_WHAT_IT_COVERS = {"allOf": [NUMBER_WITH_CODE, {"anyOf": [
    {"properties": {"invoice_number": {"type": "string"}}, "required": ["invoice_number"]},
    {"properties": {"contract_number": {"type": "string"}}, "required": ["contract_number"]}]}]}


class OtherSubsidyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_NAMES_WHAT_IT_COVERS)

    enterprise_id: ObjectId = Field(max_length=40)
    programme: Line = Field(min_length=1, max_length=200)
    invoice_number: InvoiceNumber | None = Field(
        default=None, description="20 digits (数电票), or 8 with invoice_code")
    invoice_code: InvoiceCode | None = Field(
        default=None, description="A legacy VAT invoice's 10- or 12-digit code")
    contract_number: Line | None = Field(default=None, min_length=1, max_length=100)
    amount_fen: Fen = Field(ge=0, le=10**15)


class OtherSubsidyPublic(BaseModel):
    id: str
    enterprise_id: str
    programme: str
    invoice_number: str | None
    invoice_code: str | None = None
    contract_number: str | None
    amount_fen: int
    created_at: Timestamp
