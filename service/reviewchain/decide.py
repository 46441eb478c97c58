"""Decisions in the review chain (POST /v1/applications/{id}/reviews and
POST /v1/settlements/{id}/reviews), and re-placing what waits when a year's levels change.

Refusal order, each refusal writing nothing: unknown or out-of-scope object 404 (a district
reviewer sees only its district's enterprises); object already decided 409 `invalid_state`;
a reviewer of another level than the one the object waits at 409 `wrong_review_level`;
send_back or reject without a reason 422; send_back at the first level 409 `cannot_send_back`;
then whatever the object's own approve or reject path refuses (pool, cap, year closed...).
"""

from datetime import date
from typing import Any

from sqlmodel import Session

from service.auth.principal import Principal
from service.kit.errors import DomainError, FieldError, InvalidState, ValidationFailed
from service.reviewchain import trail
from service.kit.rows import one_readable
from service.settlements import access as settlements_access
from service.settlements import service as settlements
from service.settlements.models import Settlement
from service.vouchers import service as vouchers


class WrongReviewLevel(DomainError):
    status = 409
    code = "wrong_review_level"
    title = "The object waits at another level of the review chain"


class CannotSendBack(DomainError):
    status = 409
    code = "cannot_send_back"
    title = "The first level of the review chain has no level before it to send back to"


def _load(session: Session, object_type: str, object_id: str, principal: Principal):
    if object_type == "application":
        obj = vouchers.get_application(session, object_id, principal, for_update=True)
        if obj.status != "submitted":
            raise InvalidState(f"application is already {obj.status}")
        return obj
    obj = one_readable(session, settlements_access.readable(principal).where(
        Settlement.id == object_id), f"no settlement {object_id}", for_update=True)
    if obj.status != "draft":
        raise InvalidState(f"settlement is {obj.status}; its review has ended")
    return obj


def decide(session: Session, *, object_type: str, object_id: str, principal: Principal,
           decision: str, reason: str | None, approved_fen: int | None = None,
           valid_until: date | None = None) -> Any:
    obj = _load(session, object_type, object_id, principal)
    levels = trail.levels_of(session, obj.year)
    level = trail.waiting_level(session, obj)
    if principal.role == "reviewer" and principal.review_level != level:
        raise WrongReviewLevel(
            f"the {object_type} waits at the {level} level; this key reviews at the "
            f"{principal.review_level} level")
    if decision in ("send_back", "reject") and not reason:
        raise ValidationFailed(f"a reason is required to {decision.replace('_', ' ')}",
                               errors=[FieldError(field="reason",
                                                  message=f"required for {decision}")])
    if object_type == "settlement" and (approved_fen is not None or valid_until is not None):
        raise ValidationFailed("approved_fen and valid_until are for applications", errors=[
            FieldError(field="approved_fen" if approved_fen is not None else "valid_until",
                       message="only for an application's last level")])
    index = levels.index(level)
    if decision == "approve" and index == len(levels) - 1:
        # The last level's approval is the approval itself (voucher issue, payable batch).
        if object_type == "application":
            return vouchers.approve(session, application_id=obj.id, principal=principal,
                                    approved_fen=approved_fen, valid_until=valid_until,
                                    review_reason=reason)
        return settlements.approve(session, settlement_id=obj.id, principal=principal,
                                   review_reason=reason)
    if decision == "reject":
        if object_type == "application":
            return vouchers.reject(session, application_id=obj.id, principal=principal,
                                   reason=reason)
        return settlements.reject(session, settlement_id=obj.id, principal=principal,
                                  reason=reason)
    if approved_fen is not None or valid_until is not None:
        raise ValidationFailed("approved_fen and valid_until go with the last level's approval",
                               errors=[FieldError(
                                   field="approved_fen" if approved_fen is not None
                                   else "valid_until",
                                   message=f"the application waits at {level}, not the last "
                                           f"level {levels[-1]}")])
    if decision == "send_back":
        if index == 0:
            raise CannotSendBack(f"{level} is the first level of the review chain "
                                 f"({' → '.join(levels)}); reject instead")
        to_level = levels[index - 1]
    else:
        to_level = levels[index + 1]
    step = trail.record(session, object_type=object_type, obj=obj, level=level,
                        decision=decision, reason=reason, to_level=to_level,
                        principal=principal)
    trail.audit_step(session, object_type, obj, step, principal=principal)
    return obj
