"""Who reads which holds: the bureau every one; a provider those it placed; an enterprise those
on its vouchers; nobody else any. Another party's hold is a 404 like a missing one."""

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.principal import Principal
from service.holds.models import Hold


def readable(principal: Principal) -> Select:
    """SELECT the holds `principal` may read."""
    stmt = select(Hold)
    if principal.is_bureau:
        return stmt
    if principal.role == "enterprise":
        return stmt.where(Hold.enterprise_id == principal.enterprise_id)
    if principal.role == "provider":
        return stmt.where(Hold.provider_id == principal.provider_id)
    return stmt.where(false())
