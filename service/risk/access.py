"""Who reads which reviews: the one statement every review list, get, count, decision and page
starts from (docs/risk.md, "The review queue"). The bureau and a city-level reviewer read every
review; a district reviewer only its own district's enterprises' — counts and totals included,
so a queue never counts what it does not list."""

from sqlalchemy import Select, select

from service.auth.principal import Principal
from service.registry.access import in_district
from service.risk.models import Review


def readable(principal: Principal) -> Select:
    """SELECT review rows `principal` may read (the route has already checked its role)."""
    return select(Review).where(in_district(principal, Review.enterprise_id))
