"""Invoices in the simulated year: each provider posts the day's invoices in batches, records
its customers' payments in a weekly run (never more than is still owed after red-letter
reversals), and now and then issues a red-letter invoice — after settlement (a clawback
follows), after redemption but before settlement (the vouchers get it back), or before payment.
A payment goes through the service's own grouped write path (`pay_group`), as a batch of one
inside the payment run's transaction."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlmodel import Session

from service.auth.principal import Principal
from service.invoices import service as invoices_service
from service.invoices.schemas import MAX_BATCH, InvoiceCreate, PaymentCreate, ReversalCreate
from service.invoices.service import PaymentRequest, pay_group
from service.uow import group_of_one
from simulation.catalogue import REVERSAL_REASONS
from simulation.redemptions import want_redeem
from simulation.state import REQUEST_ID, Demo, PlannedInvoice


def do_post(demo: Demo, day: date, actor, payloads: list[int]) -> None:
    principal = demo.prv_principal(demo.providers[actor[1]])
    for start in range(0, len(payloads), MAX_BATCH):
        chunk = [demo.invoices[i] for i in payloads[start:start + MAX_BATCH]]
        posted = demo.tx(day, principal, _poster(demo, principal, chunk))
        for inv, invoice_id in zip(chunk, posted, strict=True):
            inv.id = invoice_id


def _poster(demo: Demo, principal: Principal,
            chunk: list[PlannedInvoice]) -> Callable[[Session], list[str]]:
    items = [InvoiceCreate(
        invoice_number=inv.number, invoice_code=inv.code,
        enterprise_uscc=demo.enterprises[inv.enterprise].uscc, issued_on=inv.issued_on,
        service_start=inv.service_start, service_end=inv.service_end,
        contract_number=inv.contract_number, total_fen=inv.total_fen,
        tax_fen=inv.total_fen * 6 // 106, lines=inv.lines) for inv in chunk]

    def post(session: Session) -> list[str]:
        return [row["id"] for row in invoices_service.post_invoices(
            session, principal=principal, items=items)]
    return post


def do_pay(demo: Demo, day: date, actor, payloads: list[tuple]) -> None:
    principal = demo.prv_principal(demo.providers[actor[1]])
    runs = []  # never more than what is still owed after red-letter reversals
    for inv_idx, paid_on, amount in payloads:
        inv = demo.invoices[inv_idx]
        amount = min(amount, inv.total_fen - inv.reversed_fen - inv.paid_fen)
        if amount > 0:
            runs.append((inv, PaymentCreate(amount_fen=amount, paid_on=paid_on)))
    if not runs:
        return

    def pay(session: Session) -> None:
        for inv, data in runs:
            group_of_one(session, pay_group, principal=principal,
                         args=PaymentRequest(inv.id, data), request_id=REQUEST_ID)
    demo.tx(day, principal, pay)
    for inv, data in runs:
        inv.paid_fen += data.amount_fen
        if inv.paid_fen >= inv.total_fen - inv.reversed_fen or demo.rng.random() < 0.5:
            want_redeem(demo, day, inv)


def do_reverse(demo: Demo, day: date, _actor, payload: tuple) -> None:
    kind, fraction, pick = payload
    cutoff1 = date(demo.year, 6, 30)
    if kind == "after":  # settled and paid in the first batch: a clawback follows
        candidates = [i for i in demo.invoices if i.redeemed_on and not i.reversed
                      and max(i.redeemed_on) <= cutoff1]
    elif kind == "before":  # redeemed recently, not yet in a batch: vouchers get it back
        candidates = [i for i in demo.invoices if i.redeemed_on and not i.reversed
                      and min(i.redeemed_on) > cutoff1
                      and (day - max(i.redeemed_on)).days <= 60]
    else:  # a wrong invoice corrected before it was paid
        candidates = [i for i in demo.invoices if i.id and not i.paid_fen and not i.reversed
                      and i.posting_day < day]
    if not candidates:
        return
    inv = candidates[int(pick * len(candidates))]
    inv.reversed = True
    p = demo.providers[inv.provider]
    principal = demo.prv_principal(p)
    number = f"{day.year % 100:02d}218{p.idx + 1:03d}{inv.idx + 1:012d}"

    net = inv.total_fen - inv.reversed_fen
    data = ReversalCreate(
        invoice_number=number, issued_on=day,
        amount_fen=net if fraction >= 1 else max(1, int(net * fraction)),
        reason="发票信息有误，全额红冲" if fraction >= 1 else
        REVERSAL_REASONS[inv.idx % len(REVERSAL_REASONS)])
    demo.tx(day, principal, lambda s: invoices_service.reverse(
        s, invoice_id=inv.id, principal=principal, data=data))
    inv.reversed_fen += data.amount_fen
