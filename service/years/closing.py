"""Mid-year reclaim of idle voucher balance, and closing a budget year (PRODUCT.md §3.7)."""

from datetime import date
from typing import Any

from sqlmodel import Session, select

from service.kit import clock
from service.audit import service as audit
from service.kit.errors import DeadlineNotReached, FieldError, ValidationFailed
from service.kit.money import BP_PER_UNIT, floor_div
from service.holds import tally as hold_tally
from service.vouchers import service as vouchers
from service.vouchers.models import Voucher
from service.years.service import get_year, require_open


def reclaim(session: Session, *, year: int, issued_before: date, max_used_bp: int,
            reclaim_bp: int, apply: bool) -> dict[str, Any]:
    """The reclaim rule: an active voucher issued before `issued_before` that has used less than
    `max_used_bp` of its face gives back `reclaim_bp` of its current balance (rounded down).
    With apply=False nothing is written: the response is the preview of exactly what apply
    would do (applied to the same data)."""
    budget = get_year(session, year, for_update=apply)
    require_open(budget)
    if not (0 < max_used_bp <= BP_PER_UNIT and 0 < reclaim_bp <= BP_PER_UNIT):
        raise ValidationFailed("max_used_bp and reclaim_bp are 1..10000", errors=[
            FieldError(field="reclaim_bp", message="1..10000 basis points")])
    stmt = select(Voucher).where(Voucher.year == year, Voucher.status == "active",
                                 Voucher.balance_fen > 0,
                                 Voucher.created_at < _start_of(issued_before)) \
        .order_by(Voucher.valid_until, Voucher.created_at, Voucher.id)
    if apply:
        stmt = stmt.with_for_update()
    plan, total = [], 0
    rows = list(session.exec(stmt))
    if apply:  # the ledger must know of expired holds before their fen are returned
        hold_tally.release_expired(session, voucher_ids=[v.id for v in rows])
    # What pending holds reserve is not idle: a share of the available balance is reclaimed.
    held = hold_tally.held_by_voucher(session, [v.id for v in rows])
    for voucher in rows:
        used = voucher.face_fen - voucher.balance_fen - voucher.returned_fen
        if used * BP_PER_UNIT >= max_used_bp * voucher.face_fen:
            continue
        amount = floor_div((voucher.balance_fen - held.get(voucher.id, 0)) * reclaim_bp,
                           BP_PER_UNIT)
        if amount <= 0:
            continue
        plan.append({"voucher_id": voucher.id, "code": voucher.code,
                     "enterprise_id": voucher.enterprise_id, "face_fen": voucher.face_fen,
                     "used_fen": used, "balance_fen": voucher.balance_fen,
                     "reclaim_fen": amount, "balance_after_fen": voucher.balance_fen - amount})
        total += amount
        if apply:
            vouchers.return_balance(session, voucher, kind="reclaim", amount_fen=amount)
            if voucher.balance_fen == 0:
                voucher.status = "exhausted"
                session.add(voucher)
    rule = {"issued_before": issued_before.isoformat(), "max_used_bp": max_used_bp,
            "reclaim_bp": reclaim_bp}
    if apply and plan:
        audit.record(session, action="year.reclaim", object_type="budget_year",
                     object_id=str(year), summary={**rule, "vouchers": len(plan),
                                                   "reclaimed_fen": total})
    return {"year": year, "applied": apply, "rule": rule, "vouchers": plan,
            "voucher_count": len(plan), "reclaimed_fen": total}


def _start_of(day: date):
    from datetime import datetime, time

    return datetime.combine(day, time(0, 0), tzinfo=clock.SHANGHAI)


def close_year(session: Session, *, year: int, force: bool = False,
               reason: str | None = None) -> dict[str, Any]:
    """Expire every voucher, return balances to the pool, freeze the year. Settlements and
    clawbacks keep working afterwards; new invoices and redemptions for the year do not."""
    budget = get_year(session, year, for_update=True)
    require_open(budget)
    today = clock.today()
    if today <= budget.redemption_deadline and not force:
        raise DeadlineNotReached(
            f"the {year} redemption deadline is {budget.redemption_deadline}; close after it, "
            "or force with a reason")
    if force and today <= budget.redemption_deadline and not reason:
        raise ValidationFailed("closing before the deadline needs a reason", errors=[
            FieldError(field="reason", message="required when forcing an early close")])
    expired, returned = 0, 0
    closing = list(session.exec(select(Voucher).where(
        Voucher.year == year, Voucher.status.in_(("active", "exhausted")))
        .order_by(Voucher.id).with_for_update()))
    # Pending holds first (docs/holds.md): a void recorded with its reason, each fen back on
    # its voucher before the balances go back to the pool.
    hold_tally.void_pending(session, year=year, reason="budget year closed")
    for voucher in closing:
        returned += vouchers.return_balance(session, voucher, kind="expire")
        voucher.status = "expired"
        session.add(voucher)
        expired += 1
    budget.status = "closed"
    budget.closed_at = clock.now()
    session.add(budget)
    summary = {"expired_vouchers": expired, "returned_fen": returned, "forced": force,
               "reason": reason, "before_deadline": today <= budget.redemption_deadline}
    audit.record(session, action="year.close", object_type="budget_year", object_id=str(year),
                 summary=summary)
    return {"year": year, "status": "closed", **summary}

