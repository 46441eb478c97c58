"""Who reads the objections (docs/notice.md): the bureau (admin and auditor), with the
objector's identity; nobody else, through any route. The public submitting one is answered its
id, status and time only (notices/router.py)."""

from sqlalchemy import Select, false
from sqlmodel import select

from service.auth.principal import Principal
from service.notices.models import Objection


def readable(principal: Principal) -> Select:
    """SELECT the objections `principal` may read."""
    stmt = select(Objection)
    return stmt if principal.is_bureau else stmt.where(false())
