"""Vouchers in the simulated year: enterprises apply, the bureau reviews the day's applications
in one session (approving some for less, rejecting a few, and never beyond what the pool and
the enterprise's cap leave), a few key projects get a voucher issued directly, and an
enterprise's paid invoices waiting for a voucher are redeemed once it comes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from service.vouchers import service as vouchers
from service.vouchers.schemas import ApplicationCreate
from simulation.catalogue import MIN_VOUCHER_FEN, YUAN
from simulation.days import P_DECIDE, workday
from simulation.redemptions import schedule_redeem
from simulation.state import Demo, PlannedEnterprise


def do_apply(demo: Demo, day: date, actor, plan: dict) -> None:
    e = demo.enterprises[actor[1]]
    if e.blocked:
        e.applying = False
        return
    principal = demo.ent_principal(e)
    data = ApplicationCreate(year=demo.year, requested_fen=plan["requested"],
                             project_name=plan["project"], purpose=plan["purpose"])
    app_id = demo.tx(day, principal,
                     lambda s: vouchers.apply(s, principal=principal, data=data).id)
    demo.at(workday(day + timedelta(days=plan["delay"])), P_DECIDE, "decide", "bureau",
            (e.idx, app_id, plan["outcome"]))


def do_decide(demo: Demo, day: date, _actor, payloads: list[tuple]) -> None:
    """The day's review session: each application approved (perhaps for less) or rejected."""

    def decide(session: Session) -> list[int | None]:
        return [_decide(demo, session, *payload) for payload in payloads]
    amounts = demo.tx(day, demo.bureau, decide)
    for (e_idx, _app, _outcome), amount in zip(payloads, amounts, strict=True):
        _voucher_arrived(demo, day, demo.enterprises[e_idx], amount)


def _decide(demo: Demo, session: Session, e_idx: int, app_id: str,
            outcome: tuple[str, Any]) -> int | None:
    e = demo.enterprises[e_idx]
    verdict, detail = outcome
    reason = None
    if e.blocked:
        reason = "申请单位已被列入信用惩戒名单"
    elif verdict == "reject":
        reason = detail
    else:
        requested = vouchers.get_application(session, app_id, demo.bureau).requested_fen
        amount = int(requested * detail) // (1000 * YUAN) * 1000 * YUAN
        amount = min(requested, max(MIN_VOUCHER_FEN, amount), demo.room(session, e.id))
        if amount < MIN_VOUCHER_FEN:
            reason = "本年度算力券额度已用完或已达单户年度上限"
    if reason:
        vouchers.reject(session, application_id=app_id, principal=demo.bureau, reason=reason)
        return None
    vouchers.approve(session, application_id=app_id, principal=demo.bureau,
                     approved_fen=amount)
    return amount


def do_direct_issue(demo: Demo, day: date, _actor, e_idx: int) -> None:
    e = demo.enterprises[e_idx]

    def issue(session: Session) -> int | None:
        amount = min(e.request_fen, demo.room(session, e.id))
        if amount < MIN_VOUCHER_FEN:
            return None
        vouchers.issue(session, enterprise_id=e.id, year=demo.year, face_fen=amount)
        return amount
    _voucher_arrived(demo, day, e, demo.tx(day, demo.bureau, issue))


def _voucher_arrived(demo: Demo, day: date, e: PlannedEnterprise, amount: int | None) -> None:
    e.applying = False
    if not amount:
        e.waiting.clear()  # nothing to redeem with: those invoices stay unsubsidised
        return
    e.has_voucher = True
    waiting, e.waiting = e.waiting, []
    for inv_idx in waiting:
        schedule_redeem(demo, day, inv_idx)
