"""Who reads the audit trail (docs/decisions.md, "One access statement per domain"): the
bureau, every event; nobody else reads it through the API."""

from sqlalchemy import Select, false
from sqlmodel import select

from service.audit.models import AuditEvent
from service.auth.principal import Principal


def readable(principal: Principal) -> Select:
    """SELECT the audit events `principal` may read."""
    stmt = select(AuditEvent)
    return stmt if principal.is_bureau else stmt.where(false())
