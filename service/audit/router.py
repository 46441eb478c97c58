from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from service.api import BUREAU, BureauReport, Cursor, Limit, SessionDep, allow, engine_of, \
    text_query
from service.kit.paging import SEQ_CURSOR, Page, decode_cursor, encode_cursor
from service.kit.timestamps import Timestamp
from service.audit import service
from service.audit import access
from service.audit.models import AuditEvent
from service.auth.principal import Principal
from service.kit.db import run_transaction
from service.problems import problem_responses

router = APIRouter(prefix="/v1/audit-events", tags=["audit"])
BureauReader = Annotated[Principal, Depends(allow(*BUREAU))]


class AuditEventPublic(BaseModel):
    seq: int
    id: str
    at: Timestamp
    actor_id: str | None
    actor_name: str | None
    role: str
    action: str
    object_type: str
    object_id: str
    summary: dict[str, Any]
    request_id: str | None
    prev_hash: str
    hash: str


class ChainVerification(BaseModel):
    ok: bool
    checked: int
    first_broken_seq: int | None
    first_broken_id: str | None
    problem: str | None


@router.get("", response_model=Page[AuditEventPublic], operation_id="listAuditEvents",
            responses=problem_responses())
def list_events(r: BureauReport, limit: Limit = 50, cursor: Cursor = None,
                object_id: Annotated[str | None, text_query(60)] = None,
                action: Annotated[str | None, text_query(60)] = None):
    stmt = access.readable(r.principal)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if cursor:
        stmt = stmt.where(AuditEvent.seq > int(decode_cursor(cursor, shape=SEQ_CURSOR)))
    rows = r.read(lambda session: session.exec(stmt.order_by(AuditEvent.seq)
                                               .limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [AuditEventPublic.model_validate(row, from_attributes=True) for row in rows],
            "next_cursor": encode_cursor(str(rows[-1].seq)) if more and rows else None}


@router.get("/verify", response_model=ChainVerification, operation_id="verifyAuditChain",
            responses=problem_responses())
def verify(request: Request, session: SessionDep, _: BureauReader):
    result, last_hash = service.full_verification(session)
    if result["ok"]:
        # Not a business change, so not audited (an event would only move the head past it);
        # its own transaction because this read session never commits.
        run_transaction(engine_of(request), lambda s: service.record_checkpoint(
            s, seq=result["checked"], hash=last_hash))
    return result
