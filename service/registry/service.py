"""Enterprises, providers, the approved list, related parties, other-programme claims (§3.2)."""

import re

from sqlalchemy import delete
from sqlmodel import Session, select

from service.kit import ids
from service.audit import service as audit
from service.kit.errors import AlreadyExists, FieldError, InvalidUSCC, NotFound, ValidationFailed
from service.invoices.numbers import invoice_key, number_problems
from service.registry import payment
from service.registry.models import (
    ApprovedProvider,
    Enterprise,
    OtherSubsidy,
    Provider,
    RelatedParty,
)
from service.registry.schemas import (
    EnterpriseCreate,
    EnterpriseUpdate,
    OtherSubsidyCreate,
    ProviderCreate,
    ProviderUpdate,
    RelatedPartyCreate,
)
from service.risk import facts
from service.kit.uscc import uscc_problem
from service.years.service import get_year

FACT_NAMES = (*facts.ALL_FACTS, *payment.PAYMENT_FACTS)
_USCC_SHAPE = re.compile(r"[0-9A-Z]{18}")


def _checked_uscc(code: str, override_reason: str | None) -> tuple[str, bool]:
    problem = uscc_problem(code)
    if problem is None:
        return code, False
    # An override admits a wrong check character (or letters GB 32100 does not use), never a
    # wrong shape: 18 ASCII digits or capital letters. (`str.isupper` is False for all digits.)
    if override_reason and _USCC_SHAPE.fullmatch(code):
        return code, True
    raise InvalidUSCC(f"{code!r} is not a valid unified social credit code: {problem}",
                      errors=[FieldError(field="uscc", message=problem, type="invalid_uscc")])


def _given_facts(data) -> dict:
    """The registry facts (docs/risk.md) and payment facts (docs/exports.md) a request sets."""
    return facts.given(data) | payment.given(data)


def _unique_uscc(session: Session, model, uscc: str) -> None:
    if session.exec(select(model.id).where(model.uscc == uscc)).first() is not None:
        raise AlreadyExists(f"USCC {uscc} is already registered",
                            errors=[FieldError(field="uscc", message="already registered",
                                               type="already_exists")])


def create_enterprise(session: Session, data: EnterpriseCreate) -> Enterprise:
    uscc, overridden = _checked_uscc(data.uscc, data.uscc_override_reason)
    _unique_uscc(session, Enterprise, uscc)
    enterprise = Enterprise(id=ids.new_id("ent"), uscc=uscc, name=data.name,
                            district=data.district, credit_blocked=data.credit_blocked,
                            uscc_override=overridden)
    registry_facts = facts.apply(enterprise, _given_facts(data))
    session.add(enterprise)
    session.flush()
    summary = {"uscc": uscc, "name": data.name, "district": data.district,
               "credit_blocked": data.credit_blocked, **registry_facts}
    if overridden:
        summary["uscc_override_reason"] = data.uscc_override_reason
    audit.record(session, action="enterprise.create", object_type="enterprise",
                 object_id=enterprise.id, summary=summary)
    return enterprise


def get_enterprise(session: Session, enterprise_id: str, *, for_update: bool = False) -> Enterprise:
    row = session.get(Enterprise, enterprise_id, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"no enterprise {enterprise_id}")
    return row


def enterprise_by_uscc(session: Session, uscc: str) -> Enterprise | None:
    return session.exec(select(Enterprise).where(Enterprise.uscc == uscc)).first()


def update_enterprise(session: Session, enterprise_id: str, data: EnterpriseUpdate) -> Enterprise:
    enterprise = get_enterprise(session, enterprise_id, for_update=True)
    changes = {k: v for k, v in data.model_dump(exclude_unset=True, exclude={"reason"}).items()
               if v is not None and getattr(enterprise, k) != v and k not in FACT_NAMES}
    before_facts = {k: getattr(enterprise, k) for k in _given_facts(data)}
    fact_changes = facts.apply(enterprise, _given_facts(data))
    if fact_changes:
        changes.update(fact_changes)
    if changes:
        before = {k: getattr(enterprise, k) if k not in fact_changes else before_facts[k]
                  for k in changes}
        before = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in before.items()}
        for field, value in changes.items():
            if field not in fact_changes:
                setattr(enterprise, field, value)
        session.add(enterprise)
        action = "enterprise.update"
        if "credit_blocked" in changes:
            action = "enterprise.credit_block" if changes["credit_blocked"] else \
                "enterprise.credit_unblock"
        audit.record(session, action=action, object_type="enterprise", object_id=enterprise.id,
                     summary={"changes": changes, "before": before, "reason": data.reason})
    return enterprise


def create_provider(session: Session, data: ProviderCreate) -> Provider:
    uscc, overridden = _checked_uscc(data.uscc, data.uscc_override_reason)
    _unique_uscc(session, Provider, uscc)
    provider = Provider(id=ids.new_id("prv"), uscc=uscc, name=data.name, uscc_override=overridden)
    registry_facts = facts.apply(provider, _given_facts(data))
    session.add(provider)
    session.flush()
    summary = {"uscc": uscc, "name": data.name, **registry_facts}
    if overridden:
        summary["uscc_override_reason"] = data.uscc_override_reason
    audit.record(session, action="provider.create", object_type="provider",
                 object_id=provider.id, summary=summary)
    return provider


def get_provider(session: Session, provider_id: str) -> Provider:
    row = session.get(Provider, provider_id)
    if row is None:
        raise NotFound(f"no provider {provider_id}")
    return row


def update_provider(session: Session, provider_id: str, data: ProviderUpdate) -> Provider:
    provider = get_provider(session, provider_id)
    before = {k: getattr(provider, k) for k in _given_facts(data)}
    changed = facts.apply(provider, _given_facts(data))
    if changed:
        audit.record(session, action="provider.update", object_type="provider",
                     object_id=provider.id, summary={"changes": changed, "before": {
                         k: v.isoformat() if hasattr(v, "isoformat") else v
                         for k, v in before.items() if k in changed}})
        session.add(provider)
    if data.name is not None and data.name != provider.name:
        audit.record(session, action="provider.update", object_type="provider",
                     object_id=provider.id, summary={"name": data.name, "before": provider.name})
        provider.name = data.name
        session.add(provider)
    return provider


def set_approval(session: Session, year: int, provider_id: str, approved: bool) -> dict:
    get_year(session, year)
    get_provider(session, provider_id)
    exists = session.get(ApprovedProvider, (year, provider_id)) is not None
    if approved and not exists:
        session.add(ApprovedProvider(year=year, provider_id=provider_id))
    elif not approved and exists:
        session.execute(delete(ApprovedProvider).where(ApprovedProvider.year == year,
                                                       ApprovedProvider.provider_id == provider_id))
    if approved != exists:
        audit.record(session, action="provider.approve" if approved else "provider.unapprove",
                     object_type="provider", object_id=provider_id, summary={"year": year})
    return {"year": year, "provider_id": provider_id, "approved": approved}


def is_approved(session: Session, year: int, provider_id: str) -> bool:
    return session.get(ApprovedProvider, (year, provider_id)) is not None


def create_related_party(session: Session, data: RelatedPartyCreate) -> RelatedParty:
    _require_refs(session, enterprise_id=data.enterprise_id, provider_id=data.provider_id)
    if session.exec(select(RelatedParty.id).where(
            RelatedParty.enterprise_id == data.enterprise_id,
            RelatedParty.provider_id == data.provider_id)).first():
        raise AlreadyExists("this related-party pair is already recorded")
    row = RelatedParty(id=ids.new_id("rel"), **data.model_dump())
    session.add(row)
    session.flush()
    audit.record(session, action="related_party.create", object_type="related_party",
                 object_id=row.id, summary=data.model_dump())
    return row


def are_related(session: Session, enterprise: Enterprise, provider: Provider) -> bool:
    if enterprise.uscc == provider.uscc:
        return True
    return session.exec(select(RelatedParty.id).where(
        RelatedParty.enterprise_id == enterprise.id,
        RelatedParty.provider_id == provider.id)).first() is not None


def create_other_subsidy(session: Session, data: OtherSubsidyCreate) -> OtherSubsidy:
    _require_refs(session, enterprise_id=data.enterprise_id)
    if not data.invoice_number and not data.contract_number:
        raise ValidationFailed("name the invoice_number or the contract_number the claim covers",
                               errors=[FieldError(field="invoice_number",
                                                  message="invoice_number or contract_number "
                                                          "is required")])
    if data.invoice_number or data.invoice_code:
        errors = number_problems(data.invoice_number or "", data.invoice_code)
        if errors:
            raise ValidationFailed("; ".join(f"{e.field}: {e.message}" for e in errors),
                                   errors=errors)
    fields = data.model_dump(exclude={"invoice_code"})
    if data.invoice_number:
        # Stored as the invoice's key, which is what redemption compares it with.
        fields["invoice_number"] = invoice_key(data.invoice_number, data.invoice_code)
    row = OtherSubsidy(id=ids.new_id("oth"), **fields)
    session.add(row)
    session.flush()
    audit.record(session, action="other_subsidy.create", object_type="other_subsidy",
                 object_id=row.id, summary=data.model_dump())
    return row


def _require_refs(session: Session, *, enterprise_id: str | None = None,
                  provider_id: str | None = None) -> None:
    """A reference to an unknown party is a 404, like any unknown object."""
    if enterprise_id is not None:
        get_enterprise(session, enterprise_id)
    if provider_id is not None:
        get_provider(session, provider_id)
