"""Who reads which settlement batches (docs/decisions.md, "One access statement per domain"):
the bureau and a city-level reviewer every batch; a district reviewer a batch when every
enterprise it pays is of its district; nobody else any. The list, the get, the payment file and
the review chain's decisions start from `readable`."""

from sqlalchemy import Select, and_, exists, false, or_
from sqlmodel import select

from service.auth.principal import Principal
from service.redemptions.models import Redemption
from service.registry.access import is_district_reviewer
from service.registry.models import Enterprise
from service.settlements.models import Settlement


def readable(principal: Principal) -> Select:
    """SELECT the settlement batches `principal` may read."""
    stmt = select(Settlement)
    if principal.is_bureau:
        return stmt
    if principal.role != "reviewer":
        return stmt.where(false())
    if not is_district_reviewer(principal):
        return stmt
    inside = exists().where(Redemption.settlement_id == Settlement.id)
    outside = exists().where(and_(
        Redemption.settlement_id == Settlement.id,
        Redemption.enterprise_id == Enterprise.id,
        or_(Enterprise.district.is_(None), Enterprise.district != principal.district)))
    return stmt.where(inside, ~outside)


def readable_published() -> Select:
    """SELECT the batches anyone may read as a public notice (公示, docs/notice.md): those ever
    published. What of them the public sees is decided by service/notices/public.py."""
    return select(Settlement).where(Settlement.published_on.is_not(None))
