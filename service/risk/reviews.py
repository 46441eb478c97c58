"""The review queue (issue 14 items 3 and 4, docs/risk.md).

A held redemption (`under_review`) has drawn its vouchers: its amount sits in the year's `held`
ledger account (voucher → held, a `redeem` transfer), neither payable nor in a settlement.
Clearing moves it to the beneficiary's payable account and gives the redemption the status it
would have had (`review_clear` transfer); rejecting gives the draws back to the vouchers exactly
as an unsettled reversal does (`restore.give_back_to_vouchers`, a `reversal` transfer from `held`) and
marks it `rejected`. At or above the year's second threshold (as it stood when the redemption
was held) two different reviewers must give the same decision. Every decision is audited, and
every flag of a decided review keeps its outcome: `cleared` or `confirmed`.
"""

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import case, func, select, update
from sqlmodel import Session

from service.kit import clock
from service.audit import service as audit
from service.auth.principal import Principal
from service.kit.errors import DomainError, NotFound
from service.invoices.models import Invoice
from service.ledger import service as ledger
from service.redemptions import restore
from service.redemptions.models import Redemption, RedemptionDraw
from service.risk import access, disclosure
from service.risk.models import Review, ReviewDecision, RiskFlag
from service.kit.rows import insert_many
from service.vouchers.models import Voucher
from service.years import calendar
from service.years.models import BudgetYear

DUE_WORKING_DAYS = 5
REVIEWER_ROLES = ("admin", "reviewer")


class ReviewClosed(DomainError):
    status = 409
    code = "review_closed"
    title = "The review is already decided"


class SecondReviewerRequired(DomainError):
    status = 409
    code = "second_reviewer_required"
    title = "A second, different reviewer must agree"


def held_account(session: Session, year: int) -> str:
    return ledger.account_id(session, year, "held")


# --- recording flags on the redemption path --------------------------------------------------

def audit_summary(a: Any) -> dict:
    """What an accepted redemption's (redeem.Accepted) audit event adds about its flags."""
    if not a.flags:
        return {}
    summary = {"risk_score": a.risk_score, "flags": [f["rule"] for f in a.flags]}
    if a.review_id:
        summary.update(status="under_review", review_id=a.review_id)
    return summary


def record(session: Session, accepted: Sequence[Any], policies: dict[int, Any]) -> None:
    """Insert the batch's flags and the reviews of its held redemptions (set-based)."""
    flags, reviews = [], []
    today = clock.today()
    for a in accepted:
        r = a.row
        for f in a.flags:
            flags.append({"redemption_id": r.id, "rule": f["rule"], "year": r.year,
                          "weight": f["weight"], "evidence": f["evidence"],
                          "message_zh": f["message_zh"], "message_en": f["message_en"],
                          "outcome": None, "created_at": r.created_at})
        if a.review_id:
            reviews.append({
                "id": a.review_id, "redemption_id": r.id, "year": r.year,
                "enterprise_id": r.enterprise_id, "provider_id": r.provider_id,
                "score": a.risk_score,
                "second_review_threshold": policies[r.year].second_review_threshold,
                "status": "open", "due_on": calendar.add_working_days(today, DUE_WORKING_DAYS),
                "created_at": r.created_at, "decided_at": None})
    insert_many(session, RiskFlag.__table__, flags)
    insert_many(session, Review.__table__, reviews)


def public_flag(f: dict) -> dict:
    return {k: f[k] for k in ("rule", "weight", "evidence", "message_zh", "message_en")}


def flags_of(session: Session, redemption_ids: Sequence[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {i: [] for i in redemption_ids}
    if not out:
        return out
    for row in session.execute(select(RiskFlag.__table__).where(
            RiskFlag.redemption_id.in_(list(out))).order_by(RiskFlag.redemption_id,
                                                            RiskFlag.rule)):
        out[row.redemption_id].append({
            "rule": row.rule, "weight": row.weight, "evidence": row.evidence,
            "message_zh": row.message_zh, "message_en": row.message_en,
            "outcome": row.outcome})
    return out


# --- deciding ----------------------------------------------------------------------------------

def get_readable(session: Session, principal: Principal, review_id: str, *,
                 lock: bool = False) -> Review:
    """One review `principal` may read (risk/access.py); another district's is 404 as if it
    did not exist."""
    stmt = access.readable(principal).where(Review.id == review_id)
    if lock:
        stmt = stmt.with_for_update()
    review = session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()
    if review is None:
        raise NotFound(f"no review {review_id}")
    return review


def decide(session: Session, review_id: str, decision: str, reason: str,
           principal: Principal) -> dict:
    """A reviewer's `clear` or `reject`. Final at once below the second threshold; at or above
    it, once two different reviewers gave the same decision."""
    review = get_readable(session, principal, review_id, lock=True)
    if review.status != "open":
        raise ReviewClosed(f"review {review_id} is already {review.status}")
    earlier = list(session.execute(select(ReviewDecision).where(
        ReviewDecision.review_id == review.id).order_by(ReviewDecision.seq)).scalars())
    if any(d.actor_id == principal.key_id for d in earlier):
        raise SecondReviewerRequired(
            "you have already decided this review: a second, different reviewer must agree")
    seq = len(earlier) + 1
    session.add(ReviewDecision(review_id=review.id, seq=seq, decision=decision, reason=reason,
                               actor_id=principal.key_id, actor_name=principal.name,
                               role=principal.role, at=clock.now()))
    session.flush()
    agreeing = 1 + sum(1 for d in earlier if d.decision == decision)
    needed = 2 if review.score >= review.second_review_threshold else 1
    summary = {"redemption_id": review.redemption_id, "decision": decision, "reason": reason,
               "seq": seq, "score": review.score, "agreeing": agreeing, "needed": needed}
    if agreeing < needed:
        audit.record(session, action="review.decision", object_type="review",
                     object_id=review.id, summary=summary)
        return to_public(session, [review], principal)[0]
    moved = _clear(session, review) if decision == "clear" else _reject(session, review)
    review.status = "cleared" if decision == "clear" else "rejected"
    review.decided_at = clock.now()
    session.add(review)
    session.execute(update(RiskFlag.__table__).where(
        RiskFlag.redemption_id == review.redemption_id).values(
        outcome="cleared" if decision == "clear" else "confirmed"))
    audit.record(session, action=f"review.{decision}", object_type="review",
                 object_id=review.id, summary={**summary, **moved})
    session.flush()
    return to_public(session, [review], principal)[0]


def _lock_money(session: Session, redemption_id: str) -> Redemption:
    """The global lock order: vouchers (by id) → invoice → redemption → accounts."""
    voucher_ids = select(RedemptionDraw.voucher_id).where(
        RedemptionDraw.redemption_id == redemption_id)
    session.execute(select(Voucher.id).where(Voucher.id.in_(voucher_ids)).order_by(Voucher.id)
                    .with_for_update()).all()
    invoice_id = select(Redemption.invoice_id).where(Redemption.id == redemption_id)
    session.execute(select(Invoice.id).where(Invoice.id.in_(invoice_id))
                    .with_for_update()).all()
    return session.get(Redemption, redemption_id, with_for_update=True, populate_existing=True)


def _clear(session: Session, review: Review) -> dict:

    redemption = _lock_money(session, review.redemption_id)
    amount = redemption.subsidy_fen - redemption.clawed_back_fen
    if amount <= 0 or redemption.status != "under_review":
        return {"released_fen": 0, "status": redemption.status}
    payable = ledger.account_id(session, redemption.year, "payable",
                                redemption.beneficiary_type, redemption.beneficiary_id)
    ledger.post(session, year=redemption.year, debit=held_account(session, redemption.year),
                credit=payable, amount_fen=amount, kind="review_clear", reference=redemption.id)
    policy = session.get(BudgetYear, redemption.year)
    status = "payable"
    if policy.settlement_mode == "deduction":
        invoice = session.get(Invoice, redemption.invoice_id)
        status = "payable" if restore.share_paid(session, invoice) else "pending"
    redemption.status = status
    session.add(redemption)
    return {"released_fen": amount, "status": status}


def _reject(session: Session, review: Review) -> dict:
    return reject_redemption(session, review.redemption_id, from_status="under_review",
                             source_account=lambda r: held_account(session, r.year))


def reject_redemption(session: Session, redemption_id: str, *, from_status: str,
                      source_account: Callable[[Redemption], str]) -> dict:
    """Reject one redemption that is `from_status`: its draws go back to the vouchers from the
    account its amount sits in (`source_account(redemption)`: `held` for a held redemption, the
    beneficiary's payable for an upheld objection, docs/notice.md), as a `reversal` transfer,
    and it becomes `rejected` with clawed_back_fen = subsidy_fen."""
    redemption = _lock_money(session, redemption_id)
    amount = redemption.subsidy_fen - redemption.clawed_back_fen
    restored: list[dict] = []
    if amount > 0 and redemption.status == from_status:
        restored = restore.give_back_to_vouchers(
            session, redemption, amount, source_account_id=source_account(redemption),
            kind="reversal", reference=redemption.id)
        redemption.clawed_back_fen += amount
    if redemption.status == from_status:
        redemption.status = "rejected"
    session.add(redemption)
    return {"restored_fen": max(amount, 0), "restored": restored, "status": redemption.status}


# --- reading -----------------------------------------------------------------------------------

def to_public(session: Session, reviews: Sequence[Any], principal: Principal) -> list[dict]:
    """Reviews as `principal` may see them (flags: service/risk/disclosure.py)."""
    if not reviews:
        return []
    review_ids = [r.id for r in reviews]
    decisions: dict[str, list[dict]] = {i: [] for i in review_ids}
    for d in session.execute(select(ReviewDecision.__table__).where(
            ReviewDecision.review_id.in_(review_ids)).order_by(ReviewDecision.review_id,
                                                               ReviewDecision.seq)):
        decisions[d.review_id].append({"seq": d.seq, "decision": d.decision, "reason": d.reason,
                                       "actor_id": d.actor_id, "actor_name": d.actor_name,
                                       "role": d.role, "at": d.at})
    flags = disclosure.visible_flag_lists(
        session, principal, flags_of(session, [r.redemption_id for r in reviews]))
    redemptions = {row.id: row for row in session.execute(
        select(Redemption.id, Redemption.invoice_id, Redemption.subsidy_fen,
               Redemption.status).where(Redemption.id.in_([r.redemption_id for r in reviews])))}
    today = clock.today()
    out = []
    for r in reviews:
        red = redemptions.get(r.redemption_id)
        out.append({
            "id": r.id, "redemption_id": r.redemption_id, "year": r.year,
            "enterprise_id": r.enterprise_id, "provider_id": r.provider_id,
            "invoice_id": red.invoice_id if red else None,
            "subsidy_fen": red.subsidy_fen if red else 0,
            "redemption_status": red.status if red else None,
            "score": r.score, "status": r.status,
            "needs_two_reviewers": r.score >= r.second_review_threshold,
            "flags": flags[r.redemption_id], "due_on": r.due_on,
            "overdue": r.status == "open" and today > r.due_on,
            "decisions": decisions[r.id], "created_at": r.created_at,
            "decided_at": r.decided_at})
    return out


def counts(session: Session, principal: Principal, year: int | None = None) -> dict[str, int]:
    """The open reviews `principal` reads and how many of them are overdue (the queue's
    header, the dashboard): from the same statement as the items."""
    stmt = access.readable(principal).where(Review.status == "open").with_only_columns(
        func.count(), func.coalesce(func.sum(
            case((Review.due_on < clock.today(), 1), else_=0)), 0))
    if year is not None:
        stmt = stmt.where(Review.year == year)
    open_, overdue = session.execute(stmt).one()
    return {"open": int(open_), "overdue": int(overdue or 0)}
