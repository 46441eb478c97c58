"""Who reads the stored what-if scenarios (docs/decisions.md, "One access statement per
domain"): the bureau, every one; nobody else."""

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.principal import Principal
from service.whatif.models import Scenario


def readable(principal: Principal) -> Select:
    """SELECT the scenarios `principal` may read."""
    stmt = select(Scenario)
    return stmt if principal.is_bureau else stmt.where(false())
