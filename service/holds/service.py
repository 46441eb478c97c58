"""Holds (docs/holds.md): place, capture, void, read. A hold's amount and its refusals are the
redemption's own (service/redemptions/redeem.py: `reserve` for a quote, `redeem_group` for the
capture); what is held and how a hold goes back to its vouchers is holds/tally.py."""

from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import update
from sqlmodel import Session, select

from service.audit import service as audit
from service.auth.principal import Principal
from service.holds import access
from service.holds import tally
from service.holds.errors import HoldInvoiceMismatch, HoldNotPending, WrongSettlementMode
from service.holds.models import Hold, HoldDraw
from service.invoices import access as invoice_access
from service.invoices.models import Invoice
from service.invoices.subsidy import overlap_days
from service.kit import clock, ids
from service.kit.errors import DomainError, NotFound, NoUsableVoucher
from service.kit.rows import insert_many, one_readable
from service.ledger import service as ledger
from service.redemptions.redeem import HoldClaim, Quote, RedeemRequest, redeem_group, reserve
from service.registry.models import Enterprise
from service.vouchers.models import Voucher
from service.years.models import BudgetYear

DEFAULT_EXPIRY_S = 7 * 24 * 3600
MAX_EXPIRY_S = 30 * 24 * 3600


class HoldRequest(NamedTuple):
    voucher_code: str
    enterprise_uscc: str
    year: int
    service_start: Any
    service_end: Any
    lines: tuple[tuple[str, int], ...]
    contract_number: str | None = None
    expires_in_s: int = DEFAULT_EXPIRY_S
    allow_other_vouchers: bool = False


def place(session: Session, *, principal: Principal, data: HoldRequest) -> dict:
    """Reserve the quote's subsidy on the enterprise's voucher: vouchers → the year's hold
    account. Refused, in order: an unknown year (404) or one not in deduction mode, an unknown
    enterprise (404), a code that is not this enterprise's voucher, then the redemption's own
    refusals (`reserve`)."""
    policy = session.get(BudgetYear, data.year)
    if policy is None:
        raise NotFound(f"no budget year {data.year}")
    if policy.settlement_mode != "deduction":
        raise WrongSettlementMode(f"budget year {data.year} settles by {policy.settlement_mode}; "
                                  "holds exist only in deduction mode")
    enterprise = session.execute(select(Enterprise).where(
        Enterprise.uscc == data.enterprise_uscc)).scalar_one_or_none()
    if enterprise is None:
        raise NotFound(f"no enterprise {data.enterprise_uscc}")
    voucher = session.execute(select(Voucher.id, Voucher.enterprise_id).where(
        Voucher.code == data.voucher_code)).one_or_none()
    if voucher is None or voucher.enterprise_id != enterprise.id:
        raise NoUsableVoucher("the voucher code is not this enterprise's")
    quote = Quote(enterprise.id, principal.provider_id, data.year, voucher.id,
                  data.contract_number, data.service_start, data.service_end, data.lines,
                  data.allow_other_vouchers)
    quoted, draws = reserve(session, principal=principal, quote=quote, today=clock.today())
    now = clock.now()
    hold = Hold(id=ids.new_id("hld"), enterprise_id=enterprise.id,
                provider_id=principal.provider_id, year=data.year, voucher_id=voucher.id,
                contract_number=data.contract_number, service_start=data.service_start,
                service_end=data.service_end,
                lines=[{"category": c, "amount_fen": a} for c, a in data.lines],
                quoted_fen=quoted, amount_fen=sum(a for _, a in draws), status="pending",
                expires_at=now + timedelta(seconds=data.expires_in_s), created_at=now)
    session.add(hold)
    session.flush()
    insert_many(session, HoldDraw.__table__, [
        {"hold_id": hold.id, "voucher_id": v.id, "draw_no": n, "amount_fen": amount}
        for n, (v, amount) in enumerate(draws, start=1)])
    hold_account = ledger.account_id(session, data.year, tally.ACCOUNT_KIND)
    ledger.post_many(session, [
        {"id": ids.new_id("trf"), "year": data.year, "debit_account_id": v.ledger_account_id,
         "credit_account_id": hold_account, "amount_fen": amount, "kind": "hold_place",
         "reference": hold.id, "created_at": now} for v, amount in draws])
    audit.record(session, action="hold.place", object_type="hold", object_id=hold.id,
                 summary={"year": hold.year, "enterprise_id": hold.enterprise_id,
                          "quoted_fen": quoted, "amount_fen": hold.amount_fen,
                          "draws": [{"voucher_id": v.id, "amount_fen": a} for v, a in draws],
                          "expires_at": hold.expires_at.isoformat()})
    return to_public(session, [hold])[0]


class _GroupWrite(NamedTuple):
    """What `redeem_group` reads of a write: the capture is a batch of one of its own."""

    principal: Principal
    args: RedeemRequest
    request_id: str | None = None


def capture(session: Session, *, principal: Principal, hold_id: str, invoice_id: str) -> dict:
    """Redeem the invoice from what the hold reserved (beneficiary: the provider), through the
    redemption's own write path — its refusals, its risk flags — for at most the held amount;
    release the rest to the vouchers in the same transaction."""
    hold = get_hold(session, hold_id, principal)
    _pending(hold)
    invoice = one_readable(session, invoice_access.readable(principal).where(
        Invoice.id == invoice_id), f"no invoice {invoice_id}")
    _matches(hold, invoice)
    draws = tuple((d.voucher_id, d.amount_fen) for d in _draws(session, hold.id))
    answer = redeem_group(session, [_GroupWrite(principal, RedeemRequest(
        invoice_id, hold=HoldClaim(hold.id, hold.year, draws)))])[0]
    if isinstance(answer, DomainError):
        raise answer
    keep = {d["voucher_id"]: d["amount_fen"] for d in answer["draws"]}
    if tally.release(session, hold, status="captured", keep=keep,
                     summary={"invoice_id": invoice_id, "redemption_id": answer["id"]}) < 0:
        raise HoldNotPending("the hold was resolved by another request first")
    session.execute(update(Hold).where(Hold.id == hold.id).values(redemption_id=answer["id"])
                    .execution_options(synchronize_session=False))
    session.expire(hold)
    return {"hold": to_public(session, [session.get(Hold, hold.id)])[0], "redemption": answer}


def void(session: Session, *, principal: Principal, hold_id: str,
         reason: str | None = None) -> dict:
    """Release everything the hold reserved: its provider, its enterprise or the bureau."""
    hold = get_hold(session, hold_id, principal)
    _pending(hold)
    if tally.release(session, hold, status="voided", reason=reason) < 0:
        raise HoldNotPending("the hold was resolved by another request first")
    session.expire(hold)
    return to_public(session, [session.get(Hold, hold.id)])[0]


def get_hold(session: Session, hold_id: str, principal: Principal) -> Hold:
    return one_readable(session, access.readable(principal).where(Hold.id == hold_id),
                        f"no hold {hold_id}")


def _pending(hold: Hold) -> None:
    """A hold resolves at most once: capture and void need it pending, and not past expiry."""
    status = tally.status_of(hold)
    if status != "pending":
        raise HoldNotPending(f"the hold is {status}")


def _matches(hold: Hold, invoice: Invoice) -> None:
    """The invoice a hold captures: this provider's and enterprise's, of the hold's year, with
    the hold's contract number when it had one."""
    if invoice.provider_id != hold.provider_id or invoice.enterprise_id != hold.enterprise_id:
        raise HoldInvoiceMismatch("the invoice is not between the hold's provider and enterprise")
    if overlap_days(invoice.service_start, invoice.service_end, hold.year) == 0:
        raise HoldInvoiceMismatch(f"the invoice's service period lies outside {hold.year}")
    if hold.contract_number and invoice.contract_number != hold.contract_number:
        raise HoldInvoiceMismatch(f"the hold is for contract {hold.contract_number}")


def _draws(session: Session, hold_id: str) -> list:
    return list(session.execute(select(HoldDraw).where(HoldDraw.hold_id == hold_id)
                                .order_by(HoldDraw.draw_no)).scalars())


_SHOWN = ("id", "enterprise_id", "provider_id", "year", "voucher_id", "contract_number",
          "service_start", "service_end", "quoted_fen", "amount_fen", "captured_fen",
          "released_fen", "redemption_id", "reason", "expires_at", "created_at", "resolved_at")


def to_public(session: Session, holds: list[Hold]) -> list[dict]:
    """Holds as their readers see them: the status derived at read time (tally.status_of)."""
    draws: dict[str, list] = {h.id: [] for h in holds}
    if holds:
        for d in session.execute(select(HoldDraw).where(HoldDraw.hold_id.in_(list(draws)))
                                 .order_by(HoldDraw.hold_id, HoldDraw.draw_no)).scalars():
            draws[d.hold_id].append({"voucher_id": d.voucher_id, "amount_fen": d.amount_fen})
    now = clock.now()
    out = []
    for h in holds:
        row = {k: getattr(h, k) for k in _SHOWN}
        row["status"] = tally.status_of(h, now)
        if row["status"] == "expired" and h.status == "pending":  # before the ledger knows
            row["released_fen"] = h.amount_fen
        row["lines"] = h.lines
        row["draws"] = draws[h.id]
        out.append(row)
    return out
