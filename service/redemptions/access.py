"""Who reads which redemptions (docs/decisions.md, "One access statement per domain"): the
bureau every one; an enterprise its own; a provider those of its invoices; nobody else any."""

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.principal import Principal
from service.redemptions.models import Redemption


def readable(principal: Principal) -> Select:
    """SELECT the redemptions `principal` may read."""
    stmt = select(Redemption)
    if principal.is_bureau:
        return stmt
    if principal.role == "enterprise":
        return stmt.where(Redemption.enterprise_id == principal.enterprise_id)
    if principal.role == "provider":
        return stmt.where(Redemption.provider_id == principal.provider_id)
    return stmt.where(false())
