"""公示 (docs/notice.md): the public notice and its objections with no key, and the bureau's
objection queue. The public routes answer exactly the fields issue 24 §1 lists."""

import hashlib
import re
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.api import (
    ADMIN,
    BUREAU,
    Cursor,
    Limit,
    PublicReport,
    SessionDep,
    Writer,
    allow,
    canonical_request_hash,
    writer,
)
from service.auth.principal import Principal
from service.kit import clock
from service.kit.errors import NotFound
from service.kit.paging import Page, paginate
from service.kit.timestamps import Timestamp
from service.ledger.service import InsufficientBalance
from service.kit.types import Declared, Line, ObjectId, ObjectIdPath, Text
from service.notices import access, public, service
from service.notices.models import Objection
from service.notices.service import NoticeClosed, ObjectionResolved
from service.problems import problem_responses
from service.ratelimit.service import RateLimited, client_address
from service.settlements import access as settlement_access
from service.settlements.models import Settlement

router = APIRouter(tags=["notices"])

# A mainland mobile (11 digits from 13x–19x, +86 allowed) or a landline with its area code
# (0 and 2–3 digits, then 7–8 digits; a hyphen or a space between them allowed).
MOBILE = re.compile(r"(?:\+?86[- ]?)?1[3-9][0-9]{9}")
LANDLINE = re.compile(r"0[1-9][0-9]{1,2}[- ]?[2-9][0-9]{6,7}")
# What the phone field reads, stated: either form, with white space around it (stripped) —
# Python's white space that a Line allows (no control character).
_SPACE = r"[ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*"
PHONE_PATTERN = f"^{_SPACE}(?:{MOBILE.pattern}|{LANDLINE.pattern}){_SPACE}$"
# Names that say the objector did not give one: an anonymous objection is not accepted.
NOT_A_NAME = {"匿名", "无名", "无名氏", "佚名", "不详", "某某", "anonymous", "anon", "n/a",
              "none", "unknown", "test"}


class NoticeLine(BaseModel):
    line_id: str
    recipient_name: str
    recipient_uscc: str
    district: str | None
    beneficiary_type: Literal["provider", "enterprise"]
    amount_fen: int


class PublicNotice(BaseModel):
    id: str
    year: int
    title: str
    published_on: date
    notice_starts_on: date
    notice_ends_on: date
    status: Literal["in_notice", "closed"]
    total_fen: int
    lines: list[NoticeLine]


class ObjectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_ids: list[ObjectId] = Field(min_length=1, max_length=500, description=(
        "the lines of the notice objected to; only these are frozen"))
    name: Line = Field(min_length=2, max_length=50, description="the objector's real name")
    phone: Annotated[Line, Declared(pattern=PHONE_PATTERN)] = Field(
        min_length=7, max_length=20, description="a mainland mobile, or a landline with its area code")
    organisation: Line | None = Field(default=None, max_length=200)
    content: Text = Field(min_length=10, max_length=2000)

    @field_validator("name")
    @classmethod
    def _real_name(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 2:
            raise ValueError("a real name of 2 to 50 characters is required")
        if value.lower() in NOT_A_NAME or not any(ch.isalpha() for ch in value):
            raise ValueError("anonymous objections are not accepted: give your real name")
        return value

    @field_validator("phone")
    @classmethod
    def _reachable_phone(cls, value: str) -> str:
        value = value.strip()
        if not (MOBILE.fullmatch(value) or LANDLINE.fullmatch(value)):
            raise ValueError("a mainland mobile number or a landline with its area code")
        return value

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 10:
            raise ValueError("at least 10 characters")
        return value


class ObjectionReceived(BaseModel):
    id: str
    status: Literal["received"]
    received_at: Timestamp


class ObjectionPublic(BaseModel):
    id: str
    settlement_id: str
    line_ids: list[str]
    name: str
    phone: str
    organisation: str | None
    content: str
    status: Literal["received", "upheld", "dismissed"]
    received_at: Timestamp
    resolved_at: Timestamp | None
    resolution_reason: str | None
    resolved_by: str | None


class ObjectionResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["upheld", "dismissed"]
    reason: Text = Field(min_length=1, max_length=2000)


# --- the public notice ---------------------------------------------------------------------

@router.get("/v1/public/notices", response_model=Page[PublicNotice],
            operation_id="listPublicNotices", responses=problem_responses())
def list_notices(r: PublicReport, limit: Limit = 50, cursor: Cursor = None):
    """Published settlement batches, newest first, with no key (docs/notice.md)."""
    today = clock.today()
    return r.read(lambda session: paginate(
        session, settlement_access.readable_published(), Settlement.id, limit, cursor,
        lambda row: public.notice_of(session, row, today), newest_first=True))


@router.get("/v1/public/notices/{settlement_id}", response_model=PublicNotice,
            operation_id="getPublicNotice", responses=problem_responses(NotFound))
def get_notice(settlement_id: ObjectIdPath, r: PublicReport):
    return r.read(lambda session: public.notice_of(
        session, service.published(session, settlement_id), clock.today()))


async def public_writer(
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                                  min_length=1)] = None,
) -> Writer:
    """A write with no key: the Idempotency-Key is scoped to the client address, as a key's is
    to its API key; the audit trail records the public, never the address."""
    client = client_address(request)
    scope = "pub_" + hashlib.sha256(client.encode()).hexdigest()[:32]
    request.state.client_address = client
    body = await request.body()
    return Writer(request=request, principal=Principal(key_id=scope, name="public",
                                                       role="public"),
                  idempotency_key=idempotency_key,
                  request_hash=canonical_request_hash(request.method, request.url.path, body))


@router.post("/v1/public/notices/{settlement_id}/objections", status_code=201,
             response_model=ObjectionReceived, operation_id="createObjection",
             responses=problem_responses(NotFound, NoticeClosed, RateLimited))
def create_objection(settlement_id: ObjectIdPath, body: ObjectionCreate,
                     w: Annotated[Writer, Depends(public_writer)]):
    """Object to lines of a notice while it is in notice, under a real name and a reachable
    phone (docs/notice.md). At most 5 per client address per hour (429, Retry-After)."""
    client = w.request.state.client_address
    return w.run(lambda s: _received(service.submit(
        s, settlement_id=settlement_id, line_ids=body.line_ids, name=body.name,
        phone=body.phone, organisation=body.organisation, content=body.content,
        client=client)), status_code=201)


def _received(objection: Objection) -> dict:
    return {"id": objection.id, "status": objection.status,
            "received_at": objection.received_at}


# --- the bureau's queue ----------------------------------------------------------------------

@router.get("/v1/objections", response_model=Page[ObjectionPublic], tags=["objections"],
            operation_id="listObjections", responses=problem_responses())
def list_objections(session: SessionDep, principal: Annotated[Principal, Depends(allow(*BUREAU))],
                    limit: Limit = 50, cursor: Cursor = None,
                    settlement_id: Annotated[ObjectId | None, Query()] = None,
                    status: Literal["received", "upheld", "dismissed"] | None = None):
    """Objections with the objector's identity (admin, auditor), oldest first."""
    stmt = access.readable(principal)
    if settlement_id:
        stmt = stmt.where(Objection.settlement_id == settlement_id)
    if status:
        stmt = stmt.where(Objection.status == status)
    return paginate(session, stmt, Objection.id, limit, cursor,
                    shape_page=lambda rows: service.to_public(session, rows))


@router.post("/v1/objections/{objection_id}/resolve", response_model=ObjectionPublic,
             tags=["objections"], operation_id="resolveObjection",
             responses=problem_responses(NotFound, ObjectionResolved, InsufficientBalance))
def resolve_objection(objection_id: ObjectIdPath, body: ObjectionResolve,
                      w: Annotated[Writer, Depends(writer(*ADMIN))]):
    """Uphold or dismiss an objection, once, with a reason (audited; docs/notice.md)."""
    return w.run(lambda s: service.to_public(s, [service.resolve(
        s, objection_id=objection_id, outcome=body.outcome, reason=body.reason,
        actor_id=w.principal.key_id)])[0])
