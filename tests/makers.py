"""Plain factories over the unit of work, for rule tests on a session (tests/<domain>/test_rules.py).

Each `make_*` takes a session inside a write and calls the domain's own service function, so a
rule test pays for no HTTP request; `write(engine, fn)` runs fn as one audited unit of work, as
the HTTP writer would (a refusal is raised, and nothing of it is written)."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.auth.principal import SYSTEM
from service.registry import service as registry
from service.registry.schemas import EnterpriseCreate, ProviderCreate
from service.uow import run_write
from service.vouchers import service as vouchers
from service.years import service as years
from service.years.schemas import YearCreate
from tests.factories import uscc


def write(engine: Engine, fn: Callable[[Session], Any]) -> Any:
    return run_write(engine, fn, principal=SYSTEM)


def make_year(session: Session, year: int = 2026, **policy) -> Any:
    return years.create_year(session, YearCreate(year=year, **policy), by=SYSTEM)


def make_enterprise(session: Session, **fields) -> Any:
    return registry.create_enterprise(session, EnterpriseCreate(
        **{"uscc": uscc(), "name": "大连算力应用有限公司", "district": "高新园区", **fields}))


def make_provider(session: Session, **fields) -> Any:
    return registry.create_provider(session, ProviderCreate(
        **{"uscc": uscc(), "name": "大连智算中心", **fields}))


def make_voucher(session: Session, enterprise_id: str, face_fen: int, year: int = 2026) -> Any:
    return vouchers.issue(session, enterprise_id=enterprise_id, year=year, face_fen=face_fen)
