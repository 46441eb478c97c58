"""POST /v1/applications/{id}/reviews and POST /v1/settlements/{id}/reviews: a decision of the
review chain by a reviewer of the level the object waits at, or by an admin."""

from typing import Annotated

from fastapi import APIRouter, Depends

from service.api import Writer, writer
from service.problems import problem_responses
from service.kit.errors import (
    CreditBlocked,
    EnterpriseCapExceeded,
    InvalidState,
    NotFound,
    PoolExhausted,
    YearClosed,
)
from service.ledger.service import InsufficientBalance
from service.reviewchain.decide import CannotSendBack, WrongReviewLevel
from service.reviewchain.trail import ReviewIncomplete
from service.settlements.service import BeneficiaryAccountMissing
from service.reviewchain import decide
from service.reviewchain.schemas import ReviewDecision, SettlementReviewDecision
from service.settlements import service as settlements
from service.settlements.router import SettlementPublic
from service.vouchers import service as vouchers
from service.vouchers.schemas import ApplicationPublic
from service.kit.types import ObjectIdPath

router = APIRouter(tags=["review-chain"])
ReviewWriter = Annotated[Writer, Depends(writer("admin", "reviewer"))]
DESCRIPTION = (
    "approve moves the object to the next level of its year's review_levels (at the last level "
    "it is the approval itself); send_back returns it to the previous level (reason required; "
    "409 cannot_send_back at the first level); reject ends it (reason required). A reviewer "
    "of another level than the one it waits at gets 409 wrong_review_level; a district "
    "reviewer gets 404 for another district's objects.")


@router.post("/v1/applications/{application_id}/reviews", response_model=ApplicationPublic,
             operation_id="reviewApplication", description=DESCRIPTION,
             responses=problem_responses(NotFound, BeneficiaryAccountMissing, CannotSendBack,
                                         CreditBlocked, EnterpriseCapExceeded, InsufficientBalance,
                                         InvalidState, PoolExhausted, ReviewIncomplete, WrongReviewLevel,
                                         YearClosed))
def review_application(application_id: ObjectIdPath, body: ReviewDecision, w: ReviewWriter):
    return w.run(lambda s: vouchers.application_public(s, decide.decide(
        s, object_type="application", object_id=application_id, principal=w.principal,
        decision=body.decision, reason=body.reason, approved_fen=body.approved_fen,
        valid_until=body.valid_until)))


@router.post("/v1/settlements/{settlement_id}/reviews", response_model=SettlementPublic,
             operation_id="reviewSettlement", description=DESCRIPTION,
             responses=problem_responses(NotFound, BeneficiaryAccountMissing, CannotSendBack,
                                         CreditBlocked, EnterpriseCapExceeded, InsufficientBalance,
                                         InvalidState, PoolExhausted, ReviewIncomplete, WrongReviewLevel,
                                         YearClosed))
def review_settlement(settlement_id: ObjectIdPath, body: SettlementReviewDecision,
                      w: ReviewWriter):
    return w.run(lambda s: settlements.to_public(s, decide.decide(
        s, object_type="settlement", object_id=settlement_id, principal=w.principal,
        decision=body.decision, reason=body.reason, approved_fen=body.approved_fen,
        valid_until=body.valid_until)))
