"""Redemptions in the simulated year: an invoice is redeemed at its enterprise's next monthly
redemption session once it is paid (in full, or half of the time in part) and the enterprise
holds a voucher; an enterprise whose voucher runs out applies once more while the pool lasts.
Each session is one transaction; each redemption in it goes through the service's own grouped
write path (`redeem_group`), as a batch of one inside that transaction."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session

from service.auth.principal import Principal
from service.kit.errors import NothingToRedeem
from service.redemptions.redeem import RedeemRequest, redeem_group
from service.uow import group_of_one
from service.vouchers import service as vouchers
from simulation.catalogue import MIN_VOUCHER_FEN, YUAN
from simulation.days import P_APPLY, P_REDEEM, add_months, workday
from simulation.schedule import application
from simulation.state import REQUEST_ID, Demo, PlannedEnterprise, PlannedInvoice


def redeem_one(session: Session, *, principal: Principal, invoice_id: str) -> dict:
    """One redemption inside the caller's transaction: a batch of one, the vouchers chosen by
    the service (earliest expiry first)."""
    return group_of_one(session, redeem_group, principal=principal,
                        args=RedeemRequest(invoice_id), request_id=REQUEST_ID)


def excluded(demo: Demo, inv: PlannedInvoice) -> bool:
    """Invoices the service would refuse: the demo's enterprises know better than to try."""
    return ((inv.enterprise, inv.provider) in demo.related
            or inv.contract_number in demo.claimed_contracts
            or demo.providers[inv.provider].approval == "never")


def want_redeem(demo: Demo, day: date, inv: PlannedInvoice) -> None:
    e = demo.enterprises[inv.enterprise]
    if not inv.redeem or e.blocked or excluded(demo, inv):
        return
    if e.has_voucher:
        schedule_redeem(demo, day, inv.idx)
    elif e.applying and inv.idx not in e.waiting:
        e.waiting.append(inv.idx)


def schedule_redeem(demo: Demo, day: date, inv_idx: int) -> None:
    if inv_idx in demo.pending_redeem:
        return
    inv = demo.invoices[inv_idx]
    e = demo.enterprises[inv.enterprise]
    when = day + timedelta(days=demo.rng.randint(1, 5))
    if when.day > e.redeem_day:
        when = add_months(when, 1)
    when = workday(when.replace(day=e.redeem_day))
    if when <= demo.last_day:
        demo.pending_redeem.add(inv_idx)
        demo.at(when, P_REDEEM, "redeem", ("ent", e.idx), inv_idx)


def do_redeem(demo: Demo, day: date, actor, payloads: list[int]) -> None:
    """An enterprise's redemption session: its invoices due today, redeemed in one
    transaction; what could not be redeemed waits for a listed provider or a new voucher."""
    e = demo.enterprises[actor[1]]
    principal = demo.ent_principal(e)
    demo.pending_redeem.difference_update(payloads)
    if e.blocked:
        return

    def redeem(session: Session) -> tuple[list, list, list, int]:
        usable = vouchers.usable_vouchers(session, enterprise_id=e.id, year=demo.year,
                                          today=day)
        done, no_voucher, unapproved = [], [], []
        for inv_idx in payloads:
            inv = demo.invoices[inv_idx]
            if excluded(demo, inv):
                continue
            if not demo.providers[inv.provider].listed:
                unapproved.append(inv_idx)  # tried again once the provider is listed
                continue
            if not usable:
                no_voucher.append(inv_idx)
                continue
            try:
                with session.begin_nested():
                    redeem_one(session, principal=principal, invoice_id=inv.id)
            except NothingToRedeem:
                continue  # e.g. reversed in full after it was paid
            done.append(inv_idx)
            usable = vouchers.usable_vouchers(session, enterprise_id=e.id, year=demo.year,
                                              today=day)
        room = demo.room(session, e.id) if not usable else 0
        return done, no_voucher, unapproved, room
    done, no_voucher, unapproved, room = demo.tx(day, principal, redeem)
    for inv_idx in unapproved:
        demo.provider_waiting[demo.invoices[inv_idx].provider].append(inv_idx)
    for inv_idx in done:
        demo.invoices[inv_idx].redeemed_on.append(day)
    if no_voucher:
        _used_up(demo, day, e, no_voucher, room)


def _used_up(demo: Demo, day: date, e: PlannedEnterprise, no_voucher: list[int],
             room: int) -> None:
    """Used up: apply once more for the rest of the year while the pool lasts."""
    e.has_voucher = False
    e.waiting.extend(i for i in no_voucher if i not in e.waiting)
    if (not e.supplemented and not e.stopped and room >= MIN_VOUCHER_FEN
            and day <= date(demo.year, 11, 15)):
        e.supplemented = e.applying = True
        want = int(e.request_fen * demo.rng.uniform(0.5, 1.0))
        want = max(MIN_VOUCHER_FEN, min(room, want) // (1000 * YUAN) * 1000 * YUAN)
        demo.at(workday(day + timedelta(days=demo.rng.randint(3, 12))), P_APPLY,
                "apply", ("ent", e.idx), application(demo, e, want))
    else:
        e.waiting.clear()
