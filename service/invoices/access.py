"""Who reads which invoices (docs/decisions.md, "One access statement per domain"): the bureau
every one; an enterprise those issued to it; a provider those it issued; nobody else any. The
XML an invoice was posted from is the bureau's and its provider's, not the enterprise's."""

from typing import Any

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.principal import Principal
from service.invoices.models import Invoice


def readable(principal: Principal) -> Select:
    """SELECT the invoices `principal` may read."""
    stmt = select(Invoice)
    if principal.is_bureau:
        return stmt
    if principal.role == "enterprise":
        return stmt.where(Invoice.enterprise_id == principal.enterprise_id)
    if principal.role == "provider":
        return stmt.where(Invoice.provider_id == principal.provider_id)
    return stmt.where(false())


def readable_sources(principal: Principal) -> Select:
    """SELECT the invoices whose source XML `principal` may read."""
    if principal.role == "enterprise":
        return readable(principal).where(false())
    return readable(principal)


def admits(principal: Principal, invoice: Any) -> bool:
    """`readable` for an invoice row already read (anything with its `enterprise_id` and
    `provider_id`): the payment and redemption batches read the invoices of many writers in one
    statement, then keep each writer to the rows this admits."""
    if principal.is_bureau:
        return True
    if principal.role == "enterprise":
        return invoice.enterprise_id == principal.enterprise_id
    return principal.role == "provider" and invoice.provider_id == principal.provider_id
