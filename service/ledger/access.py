"""Who reads the ledger (docs/decisions.md, "One access statement per domain"): the bureau,
every account and transfer; nobody else reads them through the API."""

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.principal import Principal
from service.ledger.models import LedgerAccount, LedgerTransfer


def readable(principal: Principal) -> Select:
    """SELECT the ledger accounts `principal` may read."""
    stmt = select(LedgerAccount)
    return stmt if principal.is_bureau else stmt.where(false())


def readable_transfers(principal: Principal) -> Select:
    """SELECT the ledger transfers `principal` may read."""
    stmt = select(LedgerTransfer)
    return stmt if principal.is_bureau else stmt.where(false())
