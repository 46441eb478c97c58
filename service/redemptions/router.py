from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from service.api import Cursor, Limit, SessionDep, Writer, YearQuery, allow, text_query, writer
from service.kit.paging import Page, paginate
from service.auth.principal import Principal
from service.problems import problem_responses
from service.kit.errors import (
    CreditBlocked,
    InvoiceNotEligible,
    NoUsableVoucher,
    NotFound,
    NothingToRedeem,
    OtherSubsidy,
    ProviderNotApproved,
    RelatedParty,
    YearClosed,
)
from service.ledger.service import InsufficientBalance
from service.uow import Locks
from service.redemptions import access, service
from service.redemptions.models import Redemption
from service.redemptions.redeem import RedeemRequest, redeem_group
from service.redemptions.schemas import RedemptionCreate, RedemptionPublic
from service.kit.types import ObjectIdPath

router = APIRouter(prefix="/v1/redemptions", tags=["redemptions"])
Reader = Annotated[Principal, Depends(allow("admin", "auditor", "enterprise", "provider"))]


@router.post("", status_code=201, response_model=RedemptionPublic, operation_id="createRedemption",
             responses=problem_responses(NotFound, CreditBlocked, InsufficientBalance,
                                         InvoiceNotEligible, NoUsableVoucher, NothingToRedeem,
                                         OtherSubsidy, ProviderNotApproved, RelatedParty, YearClosed))
async def create_redemption(body: RedemptionCreate,
                            w: Annotated[Writer, Depends(writer("enterprise"))]):
    """Redeem the invoice's remaining eligible subsidy; answered once it is committed."""
    return await w.submit(w.write(
        group=redeem_group, args=RedeemRequest(body.invoice_id, body.voucher_id),
        locks=Locks(voucher_enterprise_ids=(w.principal.enterprise_id,),
                    invoice_ids=(body.invoice_id,)), status_code=201))


@router.get("", response_model=Page[RedemptionPublic], operation_id="listRedemptions",
            responses=problem_responses())
def list_redemptions(session: SessionDep, principal: Reader, limit: Limit = 50,
                     cursor: Cursor = None, year: YearQuery = None,
                     invoice_id: Annotated[str | None, text_query(40)] = None,
                     status: Literal["pending", "payable", "settling", "paid",
                                     "reversed", "under_review", "rejected"] | None = None):
    stmt = access.readable(principal)
    if year is not None:
        stmt = stmt.where(Redemption.year == year)
    if invoice_id:
        stmt = stmt.where(Redemption.invoice_id == invoice_id)
    if status:
        stmt = stmt.where(Redemption.status == status)
    return paginate(session, stmt, Redemption.id, limit, cursor,
                    shape_page=lambda rows: service.to_public(session, rows, principal))


@router.get("/{redemption_id}", response_model=RedemptionPublic, operation_id="getRedemption",
            responses=problem_responses(NotFound))
def get_redemption(redemption_id: ObjectIdPath, session: SessionDep, principal: Reader):
    row = service.get_redemption(session, redemption_id, principal)
    return service.to_public(session, [row], principal)[0]
