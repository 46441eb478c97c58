from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends

from service.kit import clock
from service.api import (
    ADMIN,
    Cursor,
    Limit,
    SessionDep,
    Writer,
    YearQuery,
    allow,
    writer,
    text_query,
)
from service.kit.paging import Page, paginate
from service.auth.principal import Principal
from service.problems import problem_responses
from service.kit.errors import (
    ApplicationWindowClosed,
    CreditBlocked,
    EnterpriseCapExceeded,
    InvalidState,
    NotFound,
    PoolExhausted,
    YearClosed,
)
from service.ledger.service import InsufficientBalance
from service.reviewchain.trail import ReviewIncomplete
from service.reviewchain.levels import Level
from service.vouchers import access, service
from service.vouchers.models import Application, Voucher
from service.vouchers.schemas import (
    ApplicationApprove,
    ApplicationCreate,
    ApplicationPublic,
    ApplicationReject,
    VoucherIssue,
    VoucherPublic,
    VoucherRevoke,
)
from service.kit.types import ObjectIdPath

router = APIRouter(tags=["vouchers"])
AdminWriter = Annotated[Writer, Depends(writer(*ADMIN))]
VoucherReader = Annotated[Principal, Depends(allow("admin", "auditor", "enterprise"))]
# Reviewers read the applications they review (a district reviewer: its district's).
ApplicationReader = Annotated[Principal, Depends(allow("admin", "auditor", "enterprise",
                                                       "reviewer"))]


@router.post("/v1/applications", status_code=201, response_model=ApplicationPublic,
             operation_id="createApplication", responses=problem_responses(NotFound,
                                                                           ApplicationWindowClosed,
                                                                           CreditBlocked, YearClosed))
def create_application(body: ApplicationCreate,
                       w: Annotated[Writer, Depends(writer("enterprise"))]):
    return w.run(lambda s: service.application_public(
        s, service.apply(s, principal=w.principal, data=body)), status_code=201)


@router.get("/v1/applications", response_model=Page[ApplicationPublic],
            operation_id="listApplications", responses=problem_responses())
def list_applications(session: SessionDep, principal: ApplicationReader, limit: Limit = 50,
                      cursor: Cursor = None,
                      status: Literal["submitted", "approved", "rejected"] | None = None,
                      year: YearQuery = None,
                      enterprise_id: Annotated[str | None, text_query(40)] = None,
                      review_level: Level | None = None):
    stmt = access.readable_applications(principal)
    if review_level:
        stmt = stmt.where(Application.review_level == review_level)
    if status:
        stmt = stmt.where(Application.status == status)
    if year is not None:
        stmt = stmt.where(Application.year == year)
    if enterprise_id:
        stmt = stmt.where(Application.enterprise_id == enterprise_id)
    return paginate(session, stmt, Application.id, limit, cursor,
                    lambda a: service.application_public(session, a))


@router.get("/v1/applications/{application_id}", response_model=ApplicationPublic,
            operation_id="getApplication", responses=problem_responses(NotFound))
def get_application(application_id: ObjectIdPath, session: SessionDep, principal: ApplicationReader):
    return service.application_public(
        session, service.get_application(session, application_id, principal))


@router.post("/v1/applications/{application_id}/approve", response_model=ApplicationPublic,
             operation_id="approveApplication",
             responses=problem_responses(NotFound, CreditBlocked, EnterpriseCapExceeded,
                                         InsufficientBalance, InvalidState, PoolExhausted,
                                         ReviewIncomplete, YearClosed))
def approve_application(application_id: ObjectIdPath, w: AdminWriter,
                        body: Annotated[ApplicationApprove | None, Body()] = None):
    body = body or ApplicationApprove()
    return w.run(lambda s: service.application_public(s, service.approve(
        s, application_id=application_id, principal=w.principal,
        approved_fen=body.approved_fen, valid_until=body.valid_until)))


@router.post("/v1/applications/{application_id}/reject", response_model=ApplicationPublic,
             operation_id="rejectApplication", responses=problem_responses(NotFound, InvalidState))
def reject_application(application_id: ObjectIdPath, body: ApplicationReject, w: AdminWriter):
    return w.run(lambda s: service.application_public(s, service.reject(
        s, application_id=application_id, principal=w.principal, reason=body.reason)))


@router.post("/v1/vouchers", status_code=201, response_model=VoucherPublic,
             operation_id="issueVoucher", responses=problem_responses(NotFound, CreditBlocked,
                                                                      EnterpriseCapExceeded,
                                                                      InsufficientBalance, PoolExhausted,
                                                                      YearClosed))
def issue_voucher(body: VoucherIssue, w: AdminWriter):
    return w.run(lambda s: service.to_public(service.issue(
        s, enterprise_id=body.enterprise_id, year=body.year, face_fen=body.face_fen,
        valid_until=body.valid_until)), status_code=201)


@router.post("/v1/vouchers/{voucher_id}/revoke", response_model=VoucherPublic,
             operation_id="revokeVoucher", responses=problem_responses(NotFound, InsufficientBalance,
                                                                       InvalidState, YearClosed))
def revoke_voucher(voucher_id: ObjectIdPath, w: AdminWriter,
                   body: Annotated[VoucherRevoke | None, Body()] = None):
    reason = body.reason if body else None
    return w.run(lambda s: service.to_public(service.revoke(
        s, voucher_id=voucher_id, principal=w.principal, reason=reason)))


@router.get("/v1/vouchers", response_model=Page[VoucherPublic], operation_id="listVouchers",
            responses=problem_responses())
def list_vouchers(session: SessionDep, principal: VoucherReader, limit: Limit = 50,
                  cursor: Cursor = None, year: YearQuery = None,
                  status: Literal["active", "exhausted", "expired", "revoked"] | None = None,
                  enterprise_id: Annotated[str | None, text_query(40)] = None):
    stmt = access.readable(principal)
    if year is not None:
        stmt = stmt.where(Voucher.year == year)
    if status:
        stmt = stmt.where(service.display_status_sql(clock.today()) == status)
    if enterprise_id:
        stmt = stmt.where(Voucher.enterprise_id == enterprise_id)
    return paginate(session, stmt, Voucher.id, limit, cursor,
                    shape_page=lambda rows: service.to_public_page(session, rows))


@router.get("/v1/vouchers/{voucher_id}", response_model=VoucherPublic, operation_id="getVoucher",
            responses=problem_responses(NotFound))
def get_voucher(voucher_id: ObjectIdPath, session: SessionDep, principal: VoucherReader):
    return service.to_public_page(session, [service.get_voucher(session, voucher_id,
                                                                principal)])[0]
