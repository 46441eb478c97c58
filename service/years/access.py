"""Who reads the budget years (docs/decisions.md, "One access statement per domain"): the
bureau, every year; nobody else reads this table through the API."""

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.principal import Principal
from service.years.models import BudgetYear


def readable(principal: Principal) -> Select:
    """SELECT the budget years `principal` may read."""
    stmt = select(BudgetYear)
    return stmt if principal.is_bureau else stmt.where(false())
