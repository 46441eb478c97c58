"""Redemptions and clawbacks (PRODUCT.md §3.5): reading them, releasing pending ones, and what a
red-letter reversal takes back. The redemption itself, batched, is in redeem.py.

Lock order everywhere: voucher rows → invoice row. The voucher balance is spent by a conditional
debit of its ledger account, so it cannot be overdrawn; the invoice lock makes concurrent
redemptions of one invoice see each other's amounts.
"""

from collections.abc import Sequence


from sqlmodel import Session, select

from service.kit import ids
from service.audit import service as audit
from service.auth.principal import Principal
from service.invoices import subsidy
from service.invoices.models import Invoice, InvoiceLine
from service.ledger import service as ledger
from service.redemptions import access
from service.redemptions.models import Clawback, Redemption, RedemptionDraw
from service.risk import disclosure
from service.risk import reviews as risk_reviews
from service.kit.rows import one_readable
from service.redemptions.restore import give_back_to_vouchers, redeemed_net, share_paid
from service.vouchers.models import Voucher
from service.years.models import BudgetYear


def _lines(session: Session, invoice_id: str) -> list[InvoiceLine]:
    return list(session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)))


def eligible(session: Session, invoice: Invoice, policy: BudgetYear,
             lines: Sequence[InvoiceLine] | None = None) -> int:
    return subsidy.eligible_for_year(invoice, lines if lines is not None else
                                     _lines(session, invoice.id), policy)


def release_pending(session: Session, invoice: Invoice) -> None:
    pending = list(session.exec(select(Redemption).where(Redemption.invoice_id == invoice.id,
                                                         Redemption.status == "pending")))
    if pending and share_paid(session, invoice):
        for redemption in pending:
            redemption.status = "payable"
            session.add(redemption)


def get_redemption(session: Session, redemption_id: str, principal: Principal) -> Redemption:
    return one_readable(session, access.readable(principal).where(Redemption.id == redemption_id),
                        f"no redemption {redemption_id}")


def to_public(session: Session, rows: Sequence[Redemption], principal: Principal) -> list[dict]:
    """Redemptions as `principal` may see them (flags: service/risk/disclosure.py)."""
    if not rows:
        return []
    draws: dict[str, list[dict]] = {r.id: [] for r in rows}
    for d in session.exec(select(RedemptionDraw).where(
            RedemptionDraw.redemption_id.in_(list(draws)))
            .order_by(RedemptionDraw.redemption_id, RedemptionDraw.draw_no)):
        draws[d.redemption_id].append({"voucher_id": d.voucher_id, "amount_fen": d.amount_fen,
                                       "restored_fen": d.restored_fen})
    flags = disclosure.visible_flag_lists(session, principal,
                                          risk_reviews.flags_of(session, list(draws)))
    return [{**r.model_dump(), "net_subsidy_fen": r.subsidy_fen - r.clawed_back_fen,
             "draws": draws[r.id], "flags": flags[r.id],
             "risk_score": sum(f["weight"] for f in flags[r.id])} for r in rows]


# --- reversals -------------------------------------------------------------------------------


def lock_vouchers_drawn_on(session: Session, invoice_id: str) -> None:
    voucher_ids = select(RedemptionDraw.voucher_id).join(
        Redemption, Redemption.id == RedemptionDraw.redemption_id).where(
        Redemption.invoice_id == invoice_id)
    session.exec(select(Voucher.id).where(Voucher.id.in_(voucher_ids))
                 .order_by(Voucher.id).with_for_update()).all()  # the global order: by id


def take_back_excess(session: Session, invoice: Invoice) -> int:
    """After a reversal: per year, subsidy above the new eligible amount is taken back, newest
    redemption first, and given back to the vouchers it was drawn from. Unsettled: the payable
    shrinks. Settled (in a batch): a clawback is owed by the beneficiary, netted in the next
    batch — the beneficiary repays the subsidy and the enterprise keeps its voucher capacity
    (PRODUCT.md §3.5)."""
    years = session.exec(select(Redemption.year).where(Redemption.invoice_id == invoice.id)
                         .distinct()).all()
    lines = _lines(session, invoice.id)
    taken = 0
    for year in sorted(years):
        policy = session.get(BudgetYear, year)
        excess = redeemed_net(session, invoice.id, year) - eligible(session, invoice, policy,
                                                                     lines)
        if excess <= 0:
            continue
        rows = session.exec(select(Redemption).where(
            Redemption.invoice_id == invoice.id, Redemption.year == year,
            Redemption.subsidy_fen > Redemption.clawed_back_fen)
            .order_by(Redemption.created_at.desc(), Redemption.id.desc())
            .with_for_update()).all()
        for redemption in rows:
            if excess == 0:
                break
            amount = min(excess, redemption.subsidy_fen - redemption.clawed_back_fen)
            if redemption.settlement_id is None:
                payable = risk_reviews.held_account(session, redemption.year) \
                    if redemption.status == "under_review" else ledger.account_id(
                        session, redemption.year, "payable", redemption.beneficiary_type,
                        redemption.beneficiary_id)
                give_back_to_vouchers(session, redemption, amount, source_account_id=payable,
                                       kind="reversal", reference=redemption.id)
            else:
                _record_clawback(session, redemption, amount)
            redemption.clawed_back_fen += amount
            if redemption.clawed_back_fen == redemption.subsidy_fen and \
                    redemption.settlement_id is None:
                redemption.status = "reversed"
            session.add(redemption)
            excess -= amount
            taken += amount
    session.flush()
    return taken


def _record_clawback(session: Session, redemption: Redemption, amount: int) -> None:
    receivable = ledger.get_or_create_account(session, redemption.year, "receivable",
                                              redemption.beneficiary_type,
                                              redemption.beneficiary_id)
    clawed = ledger.get_or_create_account(session, redemption.year, "clawed_back")
    clawback = Clawback(id=ids.new_id("clw"), year=redemption.year, redemption_id=redemption.id,
                        invoice_id=redemption.invoice_id,
                        beneficiary_type=redemption.beneficiary_type,
                        beneficiary_id=redemption.beneficiary_id, amount_fen=amount)
    session.add(clawback)
    session.flush()
    ledger.post(session, year=redemption.year, debit=receivable, credit=clawed, amount_fen=amount,
                kind="clawback", reference=clawback.id)
    # What is owed back was never the enterprise's benefit: its voucher capacity returns too.
    restored = give_back_to_vouchers(session, redemption, amount, source_account_id=clawed.id,
                                      kind="clawback_restore", reference=clawback.id)
    audit.record(session, action="clawback.create", object_type="clawback", object_id=clawback.id,
                 summary={"redemption_id": redemption.id, "amount_fen": amount,
                          "beneficiary_type": redemption.beneficiary_type,
                          "beneficiary_id": redemption.beneficiary_id,
                          "restored": restored})
