"""Who reads which invoices (docs/decisions.md, "One access statement per domain"): the bureau
every one; an enterprise those issued to it; a provider those it issued; nobody else any. The
XML an invoice was posted from is the bureau's and its provider's, not the enterprise's."""

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


def admits(principal: Principal, enterprise_id: str, provider_id: str) -> bool:
    """`readable` for an invoice row already read: the payment batch locks the invoices of many
    writers in one statement, then keeps each writer to the rows this admits."""
    if principal.is_bureau:
        return True
    if principal.role == "enterprise":
        return enterprise_id == principal.enterprise_id
    return principal.role == "provider" and provider_id == principal.provider_id
