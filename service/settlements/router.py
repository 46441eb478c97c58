from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from service.api import (
    ADMIN,
    BUREAU,
    BureauReport,
    Cursor,
    Limit,
    SessionDep,
    Writer,
    YearQuery,
    allow,
    writer,
)
from service.kit.paging import Page, paginate
from service.kit.timestamps import Timestamp
from service.auth.principal import Principal
from service.kit.errors import NotFound
from service.problems import problem_responses
from service.kit.errors import Busy, InvalidState
from service.ledger.service import InsufficientBalance
from service.reviewchain.trail import ReviewIncomplete
from service.settlements.notice import NoticeNotUsed, NoticePeriod, NoticeRequired
from service.settlements.service import BeneficiaryAccountMissing, NothingToSettle
from service.reviewchain.levels import Level
from service.reviewchain.schemas import ReviewPublic
from service.kit.rows import one_readable
from service.settlements import access, export, payees, service
from service.settlements.models import Settlement
from service.kit.types import Line, ObjectIdPath, Whole

router = APIRouter(prefix="/v1/settlements", tags=["settlements"])
AdminWriter = Annotated[Writer, Depends(writer(*ADMIN))]
# Reviewers read the batches they review (a district reviewer: those wholly of its district).
BatchReader = Annotated[Principal, Depends(allow(*BUREAU, "reviewer"))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SettlementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: Whole = Field(ge=2000, le=2100)
    cutoff: datetime | None = Field(default=None, description="include redemptions made up to "
                                                              "this instant (default: now)")


class SettlementPay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bank_reference: Line = Field(min_length=1, max_length=100)


Status = Literal["draft", "approved", "in_notice", "paid", "rejected"]


class SettlementLinePublic(BaseModel):
    line_id: str = Field(description="the line's stable id (a public notice and an objection "
                                     "name it)")
    beneficiary_type: Literal["provider", "enterprise"]
    beneficiary_id: str
    beneficiary_name: str
    beneficiary_uscc: str
    redemption_count: int
    gross_fen: int
    clawback_fen: int
    amount_fen: int
    frozen: bool = Field(description=(
        "an objection naming the line is unresolved, or one was upheld (docs/notice.md)"))
    objection_ids: list[str] = Field(description="the objections naming the line, oldest first")
    withheld: bool = Field(description=(
        "the line was frozen when the batch was paid: it left the batch, unpaid"))


class SettlementPublic(BaseModel):
    id: str
    year: int
    status: Status
    cutoff: Timestamp
    total_fen: int
    bank_reference: str | None
    lines: list[SettlementLinePublic]
    created_at: Timestamp
    approved_at: Timestamp | None = None
    paid_at: Timestamp | None = None
    review_level: str | None = Field(default=None, description=(
        "the level of the review chain the draft waits at; null once decided"))
    reviews: list[ReviewPublic] = Field(default_factory=list, description=(
        "the review chain's decisions, oldest first"))
    review_levels: list[str] = Field(default_factory=list, description=(
        "the review chain of its year, in order (the year's review_levels)"))
    rejected_at: Timestamp | None = None
    reject_reason: str | None = None
    published_on: date | None = Field(default=None, description="公示: the day it was published")
    notice_starts_on: date | None = None
    notice_ends_on: date | None = Field(default=None, description=(
        "the last day of the notice; it may be paid from the day after"))


@router.post("", status_code=201, response_model=SettlementPublic, operation_id="createSettlement",
             responses=problem_responses(NotFound, NothingToSettle))
def create_settlement(body: SettlementCreate, w: AdminWriter):
    return w.run(lambda s: service.to_public(s, service.create(s, year=body.year,
                                                               cutoff=body.cutoff)),
                 status_code=201)


@router.get("", response_model=Page[SettlementPublic], operation_id="listSettlements",
            responses=problem_responses())
def list_settlements(session: SessionDep, principal: BatchReader, limit: Limit = 50,
                     cursor: Cursor = None, year: YearQuery = None,
                     status: Status | None = None,
                     review_level: Level | None = None):
    stmt = access.readable(principal)
    if review_level:
        stmt = stmt.where(Settlement.review_level == review_level)
    if year is not None:
        stmt = stmt.where(Settlement.year == year)
    if status:
        stmt = stmt.where(Settlement.status == status)
    return paginate(session, stmt, Settlement.id, limit, cursor,
                    lambda row: service.to_public(session, row))


@router.get("/{settlement_id}", response_model=SettlementPublic, operation_id="getSettlement",
            responses=problem_responses(NotFound))
def get_settlement(settlement_id: ObjectIdPath, session: SessionDep, principal: BatchReader):
    return service.to_public(session, _readable(session, principal, settlement_id))


def _readable(session: Session, principal: Principal, settlement_id: ObjectIdPath) -> Settlement:
    return one_readable(session, access.readable(principal).where(
        Settlement.id == settlement_id), f"no settlement {settlement_id}")


@router.post("/{settlement_id}/approve", response_model=SettlementPublic,
             operation_id="approveSettlement", responses=problem_responses(NotFound,
                                                                           BeneficiaryAccountMissing,
                                                                           InvalidState,
                                                                           ReviewIncomplete),
             description="Approve a draft for payment (the last level of the review chain). "
                         "409 `beneficiary_account_missing` when a beneficiary it pays has no "
                         "bank_account or bank_name on file; the problem lists them in "
                         "`beneficiaries`.")
def approve_settlement(settlement_id: ObjectIdPath, w: AdminWriter):
    return w.run(lambda s: service.to_public(s, service.approve(
        s, settlement_id=settlement_id, principal=w.principal)))


@router.post("/{settlement_id}/publish", response_model=SettlementPublic,
             operation_id="publishSettlement",
             responses=problem_responses(NotFound, InvalidState, NoticeNotUsed),
             description="公示: an approved batch goes `in_notice` from the next working day "
                         "after today for the year's `notice_working_days` (docs/notice.md). "
                         "409 `notice_not_used` when the year has no notice step.")
def publish_settlement(settlement_id: ObjectIdPath, w: AdminWriter):
    return w.run(lambda s: service.to_public(s, service.publish(s, settlement_id=settlement_id)))


@router.post("/{settlement_id}/pay", response_model=SettlementPublic,
             operation_id="paySettlement",
             responses=problem_responses(NotFound, InsufficientBalance, InvalidState,
                                         NoticeRequired, NoticePeriod),
             description="Pay an approved batch (with a notice: a published one whose "
                         "`notice_ends_on` has passed). 409 `notice_required` for an approved "
                         "batch never published while its year asks for notice; 409 "
                         "`notice_period` (naming `notice_ends_on`) within the window.")
def pay_settlement(settlement_id: ObjectIdPath, body: SettlementPay, w: AdminWriter):
    return w.run(lambda s: service.to_public(s, service.pay(
        s, settlement_id=settlement_id, bank_reference=body.bank_reference)))


@router.get("/{settlement_id}/export", operation_id="exportSettlement",
            response_class=Response, responses={
                200: {"description": "The payment file",
                      "content": {"text/csv": {"schema": {"type": "string"}},
                                  XLSX: {"schema": {"type": "string", "format": "binary"}}}},
                **problem_responses(NotFound, Busy)})
async def export_settlement(settlement_id: ObjectIdPath, r: BureauReport,
                            format: Annotated[Literal["csv", "xlsx"], Query()] = "csv"):
    """The payment file, built on the heavy-read pool (503 `busy` when it is full)."""
    return await r.heavy_read(lambda session: _payment_file(
        session, _readable(session, r.principal, settlement_id), format))


def _payment_file(session: Session, settlement: Settlement, format: str) -> Response:
    lines = service.payment_lines(session, settlement.id)
    paid_to = payees.of_lines(session, lines)
    filename = f"settlement-{settlement.year}-{settlement.id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "xlsx":
        return Response(export.to_xlsx(settlement, lines, paid_to), media_type=XLSX, headers=headers)
    return Response(export.to_csv(settlement, lines, paid_to), media_type="text/csv; charset=utf-8",
                    headers=headers)
