"""Who reads which enterprises and providers, and the district rule every reviewer-scoped
domain reuses (docs/decisions.md, "One access statement per domain"). The bureau reads every
enterprise and provider; a reviewer reads the enterprises it reviews — a district reviewer only
its own district's; nobody else reads the registry."""

from sqlalchemy import ColumnElement, Select, false, true
from sqlmodel import select

from service.auth.principal import Principal
from service.registry.models import Enterprise, Provider


def is_district_reviewer(principal: Principal) -> bool:
    return principal.role == "reviewer" and principal.review_level == "district"


def in_district(principal: Principal, enterprise_id_column) -> ColumnElement[bool]:
    """The condition an enterprise-scoped row meets for `principal`: always true, but for a
    district reviewer, whose enterprise must be of its district."""
    if not is_district_reviewer(principal):
        return true()
    return enterprise_id_column.in_(
        select(Enterprise.id).where(Enterprise.district == principal.district))


def readable(principal: Principal) -> Select:
    """SELECT the enterprises `principal` may read."""
    stmt = select(Enterprise)
    if principal.is_bureau:
        return stmt
    if principal.role == "reviewer":
        return stmt.where(in_district(principal, Enterprise.id))
    return stmt.where(false())


def readable_providers(principal: Principal) -> Select:
    """SELECT the providers `principal` may read: the bureau's whole table."""
    stmt = select(Provider)
    return stmt if principal.is_bureau else stmt.where(false())
