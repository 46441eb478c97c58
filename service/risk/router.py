"""Routes of the review queue and the risk rules (docs/risk.md)."""

import re
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import and_, case, func, or_, select

from service.api import Cursor, Limit, SessionDep, Writer, YearPath, allow, heavy_read, writer
from service.kit.paging import decode_cursor, encode_cursor
from service.kit.timestamps import Timestamp
from service.auth.principal import Principal
from service.problems import problem_responses
from service.kit.errors import Busy, NotFound
from service.ledger.service import InsufficientBalance
from service.risk.reviews import ReviewClosed, SecondReviewerRequired
from service.redemptions.schemas import FlagPublic
from service.risk import backtest as backtest_service
from service.risk import access, reviews
from service.risk.models import RULES, Review, RiskFlag
from service.risk.policy import RiskRules, SInt
from service.kit.types import NONBLANK_TEXT_PATTERN, Declared, ObjectIdPath, Text
from service.years.service import get_year

router = APIRouter(tags=["reviews"])
READERS = ("admin", "auditor", "reviewer")
Reader = Annotated[Principal, Depends(allow(*READERS))]
ReviewWriter = Annotated[Writer, Depends(writer(*reviews.REVIEWER_ROLES))]
REVIEW_CURSOR = re.compile(r"[0-9]{1,9}:[a-z]{2,8}_[0-9A-Za-z]{1,36}")


def _reason(value: str) -> str:
    if not value.strip():
        raise ValueError("a reason is required")
    return value.strip()


class ReviewDecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[Text, AfterValidator(_reason), Declared(pattern=NONBLANK_TEXT_PATTERN)] = \
        Field(min_length=1, max_length=2000)


class DecisionPublic(BaseModel):
    seq: int
    decision: Literal["clear", "reject"]
    reason: str
    actor_id: str
    actor_name: str
    role: str
    at: Timestamp


class ReviewFlagPublic(FlagPublic):
    outcome: Literal["cleared", "confirmed"] | None = None


class ReviewPublic(BaseModel):
    id: str
    redemption_id: str
    year: int
    enterprise_id: str
    provider_id: str
    invoice_id: str | None
    subsidy_fen: int
    redemption_status: str | None
    score: int
    status: Literal["open", "cleared", "rejected"]
    needs_two_reviewers: bool
    flags: list[ReviewFlagPublic]
    due_on: date
    overdue: bool
    decisions: list[DecisionPublic]
    created_at: Timestamp
    decided_at: Timestamp | None


class ReviewPage(BaseModel):
    items: list[ReviewPublic]
    next_cursor: str | None = None
    open: int
    overdue: int


class RulePrecision(BaseModel):
    rule: str
    enabled: bool
    weight: int
    flagged: int
    confirmed: int
    cleared: int
    precision_bp: int | None


class RulePrecisionList(BaseModel):
    year: int
    review_threshold: int
    second_review_threshold: int
    items: list[RulePrecision]
    next_cursor: str | None = None


class BacktestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    risk_rules: RiskRules | None = Field(default=None, description="try a change to the rules")
    review_threshold: SInt | None = Field(default=None, ge=0, le=1_000_000)


class BacktestItem(BaseModel):
    redemption_id: str
    invoice_id: str
    enterprise_id: str
    provider_id: str
    score: int
    rules: list[str]
    would_hold: bool


class BacktestRule(BaseModel):
    rule: str
    enabled: bool
    flagged: int


class BacktestPublic(BaseModel):
    year: int
    rules: dict[str, dict[str, int | bool]]
    review_threshold: int
    redemptions: int
    flagged: int
    held: int
    by_rule: list[BacktestRule]
    items: list[BacktestItem]
    elapsed_ms: int
    read_ms: int = Field(description="of elapsed_ms, reading the year")


@router.get("/v1/reviews", response_model=ReviewPage, operation_id="listReviews",
            responses=problem_responses())
def list_reviews(session: SessionDep, principal: Reader, limit: Limit = 50, cursor: Cursor = None,
                 status: Literal["open", "cleared", "rejected"] | None = None,
                 year: Annotated[int | None, Query(ge=1, le=9999)] = None):
    """Held redemptions, highest score first, each with its flags and their evidence. A
    district reviewer sees only its district's enterprises."""
    stmt = access.readable(principal)
    if status:
        stmt = stmt.where(Review.status == status)
    if year is not None:
        stmt = stmt.where(Review.year == year)
    if cursor:
        score, _, last_id = decode_cursor(cursor, shape=REVIEW_CURSOR).partition(":")
        stmt = stmt.where(or_(Review.score < int(score),
                              and_(Review.score == int(score), Review.id > last_id)))
    rows = list(session.execute(stmt.order_by(Review.score.desc(), Review.id)
                                .limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(f"{rows[-1].score}:{rows[-1].id}") if more and rows else None
    return {"items": reviews.to_public(session, rows, principal), "next_cursor": next_cursor,
            **reviews.counts(session, principal, year)}


@router.get("/v1/reviews/{review_id}", response_model=ReviewPublic, operation_id="getReview",
            responses=problem_responses(NotFound))
def get_review(review_id: ObjectIdPath, session: SessionDep, principal: Reader):
    return reviews.to_public(session, [reviews.get_readable(session, principal, review_id)],
                             principal)[0]


def _decide(decision: str):
    def route(review_id: ObjectIdPath, body: ReviewDecisionBody, w: ReviewWriter):
        return w.run(lambda s: reviews.decide(s, review_id, decision, body.reason, w.principal))
    return route


_DECISION_DOC = ("{} the held redemption, with a reason (admin or reviewer). At or above the "
                 "year's second threshold two different reviewers must agree: the first "
                 "decision is recorded and the review stays open.")
router.add_api_route(
    "/v1/reviews/{review_id}/clear", _decide("clear"), methods=["POST"],
    response_model=ReviewPublic, operation_id="clearReview", summary="Clear Review",
    description=_DECISION_DOC.format("Clear (release for payment)"),
    responses=problem_responses(NotFound, ReviewClosed, SecondReviewerRequired, InsufficientBalance))
router.add_api_route(
    "/v1/reviews/{review_id}/reject", _decide("reject"), methods=["POST"],
    response_model=ReviewPublic, operation_id="rejectReview", summary="Reject Review",
    description=_DECISION_DOC.format("Reject (restore the draws to the vouchers)"),
    responses=problem_responses(NotFound, ReviewClosed, SecondReviewerRequired, InsufficientBalance))


@router.get("/v1/risk-rules", response_model=RulePrecisionList, operation_id="listRiskRules",
            responses=problem_responses(NotFound))
def list_risk_rules(session: SessionDep, _: Reader,
                    year: Annotated[int, Query(ge=1, le=9999, description="Budget year")]):
    """Each rule's flags this year, how many reviews confirmed or cleared them, and its
    precision (confirmed / decided, in basis points; null before any decision)."""
    policy = get_year(session, year)
    rules = backtest_service.risk_policy.effective(policy.risk_rules)
    counted: dict[str, tuple[int, int, int]] = {}
    for rule, flagged, confirmed, cleared in session.execute(
            select(RiskFlag.rule, func.count(),
                   func.sum(case((RiskFlag.outcome == "confirmed", 1), else_=0)),
                   func.sum(case((RiskFlag.outcome == "cleared", 1), else_=0)))
            .where(RiskFlag.year == year).group_by(RiskFlag.rule)):
        counted[rule] = (int(flagged), int(confirmed or 0), int(cleared or 0))
    items = []
    for rule in RULES:
        flagged, confirmed, cleared = counted.get(rule, (0, 0, 0))
        decided = confirmed + cleared
        items.append({"rule": rule, "enabled": bool(rules[rule]["enabled"]),
                      "weight": int(rules[rule]["weight"]), "flagged": flagged,
                      "confirmed": confirmed, "cleared": cleared,
                      "precision_bp": confirmed * 10_000 // decided if decided else None})
    return {"year": year, "review_threshold": policy.review_threshold,
            "second_review_threshold": policy.second_review_threshold, "items": items}


@router.post("/v1/years/{year}/risk-rules/backtest", response_model=BacktestPublic,
             operation_id="backtestRiskRules",
             responses=problem_responses(NotFound, Busy))
async def backtest_risk_rules(year: YearPath, request: Request,
                              _: Annotated[Principal, Depends(allow("admin", "auditor"))],
                              body: Annotated[BacktestBody | None, Body()] = None) -> Any:
    """Run the year's current rules (or a proposed change, not saved) over its redemptions and
    report what they would have flagged and held. Reads only: nothing is written. Runs on the
    heavy-read pool: 503 `busy` with Retry-After when it is full."""
    change = body.risk_rules.model_dump(exclude_unset=True) if body and body.risk_rules else None
    threshold = body.review_threshold if body else None
    return await heavy_read(request, lambda session: backtest_service.backtest(
        session, year, change, threshold))
