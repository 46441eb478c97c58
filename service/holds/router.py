from typing import Annotated

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel

from service.api import Cursor, Limit, SessionDep, Writer, YearQuery, allow, text_query, writer
from service.auth.principal import Principal
from service.holds import access, service, tally
from service.holds.errors import HoldInvoiceMismatch, HoldNotPending, WrongSettlementMode
from service.holds.models import Hold
from service.holds.schemas import HoldCapture, HoldCreate, HoldPublic, HoldStatus, HoldVoid
from service.kit import clock
from service.kit.errors import (
    CreditBlocked,
    InvoiceNotEligible,
    NotFound,
    NothingToRedeem,
    NoUsableVoucher,
    OtherSubsidy,
    ProviderNotApproved,
    RelatedParty,
    YearClosed,
)
from service.kit.paging import Page, paginate
from service.kit.types import ObjectIdPath
from service.ledger.service import InsufficientBalance
from service.problems import problem_responses
from service.redemptions.schemas import RedemptionPublic

router = APIRouter(prefix="/v1/holds", tags=["holds"])
Reader = Annotated[Principal, Depends(allow("admin", "auditor", "enterprise", "provider"))]
ProviderWriter = Annotated[Writer, Depends(writer("provider"))]
PartyWriter = Annotated[Writer, Depends(writer("admin", "enterprise", "provider"))]
_REDEMPTION_REFUSALS = (CreditBlocked, InvoiceNotEligible, NoUsableVoucher, NothingToRedeem,
                        OtherSubsidy, ProviderNotApproved, RelatedParty, YearClosed)


class HoldCaptured(BaseModel):
    hold: HoldPublic
    redemption: RedemptionPublic


@router.post("", status_code=201, response_model=HoldPublic, operation_id="createHold",
             responses=problem_responses(NotFound, WrongSettlementMode, InsufficientBalance,
                                         *_REDEMPTION_REFUSALS))
def create_hold(body: HoldCreate, w: ProviderWriter):
    """Reserve, at the quote, the subsidy the quoted lines would earn (deduction mode)."""
    data = service.HoldRequest(
        voucher_code=body.voucher_code, enterprise_uscc=body.enterprise_uscc, year=body.year,
        service_start=body.service_start, service_end=body.service_end,
        lines=tuple((line.category, line.amount_fen) for line in body.lines),
        contract_number=body.contract_number, expires_in_s=body.expires_in_s,
        allow_other_vouchers=body.allow_other_vouchers)
    return w.run(lambda s: service.place(s, principal=w.principal, data=data), status_code=201)


@router.post("/{hold_id}/capture", status_code=201, response_model=HoldCaptured,
             operation_id="captureHold",
             responses=problem_responses(NotFound, HoldNotPending, HoldInvoiceMismatch,
                                         InsufficientBalance, *_REDEMPTION_REFUSALS))
def capture_hold(hold_id: ObjectIdPath, body: HoldCapture, w: ProviderWriter):
    """Redeem the invoice from the hold (at most what it holds); release the rest."""
    return w.run(lambda s: service.capture(s, principal=w.principal, hold_id=hold_id,
                                           invoice_id=body.invoice_id), status_code=201)


@router.post("/{hold_id}/void", response_model=HoldPublic, operation_id="voidHold",
             responses=problem_responses(NotFound, HoldNotPending, InsufficientBalance))
def void_hold(hold_id: ObjectIdPath, w: PartyWriter,
              body: Annotated[HoldVoid | None, Body()] = None):
    """Release everything the hold reserved (its provider, its enterprise or the bureau)."""
    reason = body.reason if body else None
    return w.run(lambda s: service.void(s, principal=w.principal, hold_id=hold_id,
                                        reason=reason))


@router.get("", response_model=Page[HoldPublic], operation_id="listHolds",
            responses=problem_responses())
def list_holds(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
               year: YearQuery = None, status: HoldStatus | None = None,
               enterprise_id: Annotated[str | None, text_query(40)] = None,
               provider_id: Annotated[str | None, text_query(40)] = None):
    stmt = access.readable(principal)
    if year is not None:
        stmt = stmt.where(Hold.year == year)
    if status:
        stmt = stmt.where(tally.status_sql(clock.now()) == status)
    if enterprise_id:
        stmt = stmt.where(Hold.enterprise_id == enterprise_id)
    if provider_id:
        stmt = stmt.where(Hold.provider_id == provider_id)
    return paginate(session, stmt, Hold.id, limit, cursor,
                    shape_page=lambda rows: service.to_public(session, rows))


@router.get("/{hold_id}", response_model=HoldPublic, operation_id="getHold",
            responses=problem_responses(NotFound))
def get_hold(hold_id: ObjectIdPath, session: SessionDep, principal: Reader):
    return service.to_public(session, [service.get_hold(session, hold_id, principal)])[0]
