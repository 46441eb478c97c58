"""Who reads which vouchers and applications (docs/decisions.md, "One access statement per
domain"): the bureau every one, an enterprise its own; a reviewer reads the applications it
reviews (a district reviewer: its district's enterprises'). Every list, get, page and review
decision of the domain starts from these statements."""

from typing import Any

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.principal import Principal
from service.registry.access import in_district
from service.vouchers.models import Application, Voucher


def readable(principal: Principal) -> Select:
    """SELECT the vouchers `principal` may read."""
    stmt = select(Voucher)
    if principal.is_bureau:
        return stmt
    if principal.role == "enterprise":
        return stmt.where(Voucher.enterprise_id == principal.enterprise_id)
    return stmt.where(false())


def admits(principal: Principal, voucher: Any) -> bool:
    """`readable` for a voucher row already read (anything with its `enterprise_id`): the
    redemption batch reads the vouchers of many writers in one statement, then keeps each
    writer to the rows this admits."""
    if principal.is_bureau:
        return True
    return principal.role == "enterprise" and voucher.enterprise_id == principal.enterprise_id


def readable_applications(principal: Principal) -> Select:
    """SELECT the applications `principal` may read."""
    stmt = select(Application)
    if principal.is_bureau:
        return stmt
    if principal.role == "enterprise":
        return stmt.where(Application.enterprise_id == principal.enterprise_id)
    if principal.role == "reviewer":
        return stmt.where(in_district(principal, Application.enterprise_id))
    return stmt.where(false())
