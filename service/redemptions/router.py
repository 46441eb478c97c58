from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from sqlmodel import select

from service.api import Cursor, Limit, Page, SessionDep, Writer, YearQuery, allow, paginate, \
    text_query, writer
from service.auth.principal import Principal
from service.problems import problem_responses
from service.uow import Locks
from service.redemptions import service
from service.redemptions.models import Redemption
from service.redemptions.redeem import RedeemRequest, redeem_group
from service.redemptions.schemas import RedemptionCreate, RedemptionPublic
from service.types import ObjectIdPath

router = APIRouter(prefix="/v1/redemptions", tags=["redemptions"])
Reader = Annotated[Principal, Depends(allow("admin", "auditor", "enterprise", "provider"))]


@router.post("", status_code=201, response_model=RedemptionPublic, operation_id="createRedemption",
             responses=problem_responses(401, 403, 404, 409, 422))
async def create_redemption(body: RedemptionCreate,
                            w: Annotated[Writer, Depends(writer("enterprise"))]):
    """Redeem the invoice's remaining eligible subsidy; answered once it is committed."""
    return await w.submit(w.write(
        group=redeem_group, args=RedeemRequest(body.invoice_id, body.voucher_id),
        locks=Locks(voucher_enterprise_ids=(w.principal.enterprise_id,),
                    invoice_ids=(body.invoice_id,)), status_code=201))


@router.get("", response_model=Page[RedemptionPublic], operation_id="listRedemptions",
            responses=problem_responses(401, 403, 422))
def list_redemptions(session: SessionDep, principal: Reader, limit: Limit = 50,
                     cursor: Cursor = None, year: YearQuery = None,
                     invoice_id: Annotated[str | None, text_query(40)] = None,
                     status: Literal["pending", "payable", "settling", "paid",
                                     "reversed", "under_review", "rejected"] | None = None):
    stmt = select(Redemption)
    if principal.role == "enterprise":
        stmt = stmt.where(Redemption.enterprise_id == principal.enterprise_id)
    elif principal.role == "provider":
        stmt = stmt.where(Redemption.provider_id == principal.provider_id)
    if year is not None:
        stmt = stmt.where(Redemption.year == year)
    if invoice_id:
        stmt = stmt.where(Redemption.invoice_id == invoice_id)
    if status:
        stmt = stmt.where(Redemption.status == status)
    return paginate(session, stmt, Redemption.id, limit, cursor,
                    shape_page=lambda rows: service.to_public(session, rows, principal))


@router.get("/{redemption_id}", response_model=RedemptionPublic, operation_id="getRedemption",
            responses=problem_responses(401, 403, 404))
def get_redemption(redemption_id: ObjectIdPath, session: SessionDep, principal: Reader):
    row = service.get_redemption(session, redemption_id, principal)
    return service.to_public(session, [row], principal)[0]
