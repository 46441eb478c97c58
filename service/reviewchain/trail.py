"""The review chain's state and trail, used by the approve and reject paths of applications and
settlement batches (which must not import service.reviewchain.decide: it imports them).

An undecided object waits at `review_level`, one of its year's `review_levels`. Each decision
is a `ReviewStep`. Approving at the last level is the object's approval itself (the existing
approve path, which calls `require_final` and `finish`); before that it is `review_incomplete`.
"""

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from service.kit import clock, ids
from service.audit import service as audit
from service.auth.principal import Principal
from service.kit.errors import DomainError
from service.reviewchain.models import ReviewStep
from service.years.models import BudgetYear


class ReviewIncomplete(DomainError):
    status = 409
    code = "review_incomplete"
    title = "An earlier level of the review chain has not approved yet"


def levels_of(session: Session, year: int) -> list[str]:
    budget = session.get(BudgetYear, year)
    return list(budget.review_levels) if budget is not None and budget.review_levels \
        else ["city"]


def waiting_level(session: Session, obj: Any) -> str:
    """Where an undecided object waits (its first level if it never had one recorded)."""
    levels = levels_of(session, obj.year)
    return obj.review_level if obj.review_level in levels else levels[0]


def require_final(session: Session, object_type: str, obj: Any) -> str:
    """The approve path: only the last level's approval approves. Returns that level."""
    levels = levels_of(session, obj.year)
    level = waiting_level(session, obj)
    if level != levels[-1]:
        done = levels[:levels.index(level)]
        raise ReviewIncomplete(
            f"the {object_type} waits at the {level} level of the review chain "
            f"({' → '.join(levels)}); {', '.join(levels[levels.index(level):-1])} must approve "
            f"before it can be approved" + (f" (approved so far: {', '.join(done)})"
                                            if done else ""))
    return level


def record(session: Session, *, object_type: str, obj: Any, level: str, decision: str,
           reason: str | None, to_level: str | None, principal: Principal | None
           ) -> ReviewStep:
    """Append one decision, taken by `principal` (None: the system), to the object's trail and
    move the object to `to_level`."""
    seq = session.execute(select(func.coalesce(func.max(ReviewStep.seq), 0)).where(
        ReviewStep.object_type == object_type, ReviewStep.object_id == obj.id)).scalar_one()
    step = ReviewStep(id=ids.new_id("rvw"), object_type=object_type, object_id=obj.id,
                      year=obj.year, seq=int(seq) + 1, level=level, decision=decision,
                      reason=reason, to_level=to_level,
                      actor_id=principal.key_id if principal else "system",
                      actor_role=principal.role if principal else "admin", at=clock.now())
    session.add(step)
    obj.review_level = to_level
    session.add(obj)
    return step


def finish(session: Session, object_type: str, obj: Any, *, level: str, decision: str,
           reason: str | None, principal: Principal | None) -> dict[str, Any]:
    """The chain ends (final approval or a rejection): record it; returns what the object's
    own audit event (application.approve, settlement.reject, ...) adds to its summary."""
    record(session, object_type=object_type, obj=obj, level=level, decision=decision,
           reason=reason, to_level=None, principal=principal)
    return {"review_level": level, "decision": decision, "review_reason": reason,
            "reviewer_role": principal.role if principal else "admin",
            **({"reviewer_district": principal.district}
               if principal is not None and principal.district else {})}


def audit_step(session: Session, object_type: str, obj: Any, step: ReviewStep, *,
               principal: Principal | None) -> None:
    """An intermediate step (approve to the next level, send back) is its own audit event."""
    audit.record(session, action=f"{object_type}.review", object_type=object_type,
                 object_id=obj.id,
                 summary={"level": step.level, "decision": step.decision, "reason": step.reason,
                          "to_level": step.to_level, "actor_id": step.actor_id,
                          "actor_role": step.actor_role,
                          **({"district": principal.district}
                             if principal is not None and principal.district else {})})


def _public(step: ReviewStep) -> dict[str, Any]:
    return {"level": step.level, "decision": step.decision, "reason": step.reason,
            "actor_id": step.actor_id, "actor_role": step.actor_role, "to_level": step.to_level,
            "at": step.at}


def reviews_of(session: Session, object_type: str, object_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(ReviewStep).where(
        ReviewStep.object_type == object_type, ReviewStep.object_id == object_id)
        .order_by(ReviewStep.seq)).scalars().all()
    return [_public(r) for r in rows]


def steps_of(session: Session, object_type: str, object_id: str) -> list[ReviewStep]:
    return list(session.execute(select(ReviewStep).where(
        ReviewStep.object_type == object_type, ReviewStep.object_id == object_id)
        .order_by(ReviewStep.seq)).scalars().all())
