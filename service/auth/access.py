"""Who reads the API keys' metadata (docs/decisions.md, "One access statement per domain"):
the bureau, every key (never the secret); nobody else."""

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.models import ApiKey
from service.auth.principal import Principal


def readable(principal: Principal) -> Select:
    """SELECT the API keys `principal` may read."""
    stmt = select(ApiKey)
    return stmt if principal.is_bureau else stmt.where(false())
