"""Redemptions and clawbacks (PRODUCT.md §3.5).

Lock order everywhere: voucher rows (draw order) → invoice row. The voucher balance is spent by
a conditional debit of its ledger account, so it cannot be overdrawn; the invoice lock makes
concurrent redemptions of one invoice see each other's amounts.
"""

from collections.abc import Sequence

from datetime import date
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, update
from sqlmodel import Session, select

from service import clock, ids
from service.audit import service as audit
from service.auth.principal import Principal
from service.errors import (
    CreditBlocked,
    InvoiceNotEligible,
    NotFound,
    NothingToRedeem,
    NoUsableVoucher,
    OtherSubsidy,
    ProviderNotApproved,
    RelatedParty,
    YearClosed,
)
from service.invoices import subsidy
from service.invoices.models import Invoice, InvoiceLine
from service.ledger import service as ledger
from service.redemptions.models import Clawback, Redemption, RedemptionDraw
from service.registry.models import ApprovedProvider, Enterprise, Provider
from service.registry.models import OtherSubsidy as OtherSubsidyClaim
from service.registry.models import RelatedParty as RelatedPartyPair
from service.vouchers import service as vouchers
from service.vouchers.models import Voucher
from service.years.models import BudgetYear


def _lines(session: Session, invoice_id: str) -> list[InvoiceLine]:
    return list(session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)))


def eligible(session: Session, invoice: Invoice, policy: BudgetYear,
             lines: Sequence[InvoiceLine] | None = None) -> int:
    from service.invoices.service import eligible_for_year

    return eligible_for_year(invoice, lines if lines is not None else
                             _lines(session, invoice.id), policy)


def redeemed_net(session: Session, invoice_id: str, year: int | None = None) -> int:
    stmt = select(func.coalesce(func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen), 0)
                  ).where(Redemption.invoice_id == invoice_id)
    if year is not None:
        stmt = stmt.where(Redemption.year == year)
    return int(session.exec(stmt).one())


def _years(session: Session, years: list[int], provider_id: str) -> list[tuple[Any, bool]]:
    """The budget years asked for (plain rows), each with whether the provider is approved."""
    by = BudgetYear.__table__.c
    approved = exists().where(ApprovedProvider.year == by.year,
                              ApprovedProvider.provider_id == provider_id).label("approved")
    return [(row, bool(row.approved)) for row in session.execute(
        select(BudgetYear.__table__, approved).where(by.year.in_(years)).order_by(by.year))]


def _pick_year(session: Session, invoice: Any, voucher: Voucher | None,
               lines: Sequence[Any]) -> tuple[Any, bool]:
    """The named voucher's year when the invoice's service falls in it; otherwise the first
    open year that still has subsidy left on the invoice. With it: is the provider approved."""
    if voucher is not None:
        if subsidy.overlap_days(invoice.service_start, invoice.service_end, voucher.year) == 0:
            raise NoUsableVoucher(f"voucher {voucher.code} belongs to {voucher.year}, a year "
                                  "the invoice's service period does not fall in")
        return _years(session, [voucher.year], invoice.provider_id)[0]
    years = _years(session, list(subsidy.years_of(invoice.service_start, invoice.service_end)),
                   invoice.provider_id)
    if not years:
        raise InvoiceNotEligible("no budget year covers the invoice's service period")
    today = clock.today()
    open_years = [y for y in years if y[0].status == "open" and today <= y[0].redemption_deadline]
    if len(open_years) > 1:  # a period across the new year: the first with subsidy left
        for policy, approved in open_years:
            if eligible(session, invoice, policy, lines) > redeemed_net(session, invoice.id,
                                                                        policy.year):
                return policy, approved
    return open_years[0] if open_years else years[-1]


def _invoice_in_context(session: Session, invoice_id: str):
    """The invoice with what the rules ask of its parties, in one query: the enterprise's
    credit block and USCC, the provider's name and USCC, a claim under another programme
    (就高不重复) and a recorded related-party pair."""
    inv = Invoice.__table__.c
    claim = select(OtherSubsidyClaim.programme).where(
        OtherSubsidyClaim.enterprise_id == inv.enterprise_id,
        or_(OtherSubsidyClaim.invoice_number == inv.invoice_number,
            OtherSubsidyClaim.invoice_number == inv.invoice_key,
            and_(func.coalesce(inv.contract_number, "") != "",
                 OtherSubsidyClaim.contract_number == inv.contract_number))).limit(1)
    related = exists().where(RelatedPartyPair.enterprise_id == inv.enterprise_id,
                             RelatedPartyPair.provider_id == inv.provider_id)
    return session.execute(
        select(Invoice.__table__, Enterprise.credit_blocked,
               Enterprise.uscc.label("enterprise_uscc"), Provider.name.label("provider_name"),
               Provider.uscc.label("provider_uscc"),
               claim.scalar_subquery().label("other_programme"), related.label("related"))
        .join(Enterprise, Enterprise.id == inv.enterprise_id)
        .join(Provider, Provider.id == inv.provider_id)
        .where(inv.id == invoice_id)).first()


def redeem(session: Session, *, principal: Principal, invoice_id: str,
           voucher_id: str | None = None) -> dict:
    """Redeem the invoice's remaining eligible subsidy; returns the public representation.

    The hot path of the service: reads are merged into as few statements as the rules allow,
    and the rows it writes go out as plain INSERT/UPDATE statements, not through the ORM's
    unit of work.
    """
    invoice = found = _invoice_in_context(session, invoice_id)  # a plain row, not ORM
    if found is None or found.enterprise_id != principal.enterprise_id:
        raise NotFound(f"no invoice {invoice_id}")
    named = None
    if voucher_id is not None:
        named = session.get(Voucher, voucher_id)
        if named is None:
            raise NotFound(f"no voucher {voucher_id}")
        if named.enterprise_id != principal.enterprise_id:
            raise NoUsableVoucher("the named voucher is not yours")
    lines = session.execute(  # posted once, never changed: read before locking
        select(InvoiceLine.category, InvoiceLine.amount_fen)
        .where(InvoiceLine.invoice_id == invoice.id)).all()
    policy, approved = _pick_year(session, invoice, named, lines)
    today = clock.today()
    if policy.status == "closed" or today > policy.redemption_deadline:
        raise YearClosed(f"budget year {policy.year} is closed for redemptions "
                         f"(deadline {policy.redemption_deadline})")
    if found.credit_blocked:
        raise CreditBlocked("the enterprise is credit-blocked: no redemptions")
    if found.other_programme is not None:
        raise OtherSubsidy(f"the invoice or its contract is already subsidised under "
                           f"{found.other_programme} (就高不重复: the highest, never both)")
    if not approved:
        raise ProviderNotApproved(f"provider {found.provider_name} is not approved for "
                                  f"{policy.year}")
    if found.related or found.enterprise_uscc == found.provider_uscc:
        raise RelatedParty("the provider and the enterprise are related parties")
    if invoice.issued_on < policy.eligible_from or subsidy.overlap_days(
            invoice.service_start, invoice.service_end, policy.year) == 0:
        raise InvoiceNotEligible(
            f"the invoice is dated before {policy.eligible_from} or its service period lies "
            f"outside {policy.year}")

    # Lock what is spent, in the global order: vouchers, then the invoice.
    candidates = _lock_vouchers(session, invoice.enterprise_id, policy.year, today, named)
    invoice = session.execute(select(Invoice.__table__).where(Invoice.id == invoice.id)
                              .with_for_update()).one()
    remaining = eligible(session, invoice, policy, lines) - redeemed_net(session, invoice.id,
                                                                       policy.year)
    if remaining <= 0:
        raise NothingToRedeem("the invoice has no eligible subsidy left to redeem "
                              "(unpaid, fully redeemed, or no eligible lines)")

    redemption_id = ids.new_id("rdm")
    beneficiary_type, beneficiary_id = (("enterprise", invoice.enterprise_id)
                                        if policy.settlement_mode == "reimbursement"
                                        else ("provider", invoice.provider_id))
    payable = ledger.account_id(session, policy.year, "payable", beneficiary_type,
                                beneficiary_id)
    draws, spent, left = [], [], remaining
    for voucher in candidates:
        if left == 0:
            break
        amount = min(left, voucher.balance_fen)
        ledger.post(session, year=policy.year, debit=voucher.ledger_account_id, credit=payable,
                    amount_fen=amount, kind="redeem", reference=redemption_id)
        balance = voucher.balance_fen - amount
        spent.append({"v_id": voucher.id, "v_balance": balance,
                      "v_status": "exhausted" if balance == 0 else voucher.status})
        draws.append({"redemption_id": redemption_id, "voucher_id": voucher.id,
                      "draw_no": len(draws) + 1, "amount_fen": amount, "restored_fen": 0})
        left -= amount
    total = remaining - left
    status = "payable"
    if beneficiary_type == "provider" and not _enterprise_share_paid(session, invoice, total):
        status = "pending"
    redemption = {"id": redemption_id, "invoice_id": invoice.id,
                  "enterprise_id": invoice.enterprise_id, "provider_id": invoice.provider_id,
                  "year": policy.year, "subsidy_fen": total, "clawed_back_fen": 0,
                  "beneficiary_type": beneficiary_type, "beneficiary_id": beneficiary_id,
                  "status": status, "settlement_id": None, "created_at": clock.now()}
    session.execute(insert(Redemption.__table__).values(redemption))
    session.execute(insert(RedemptionDraw.__table__), draws)
    v = Voucher.__table__.c
    session.execute(update(Voucher.__table__).where(v.id == bindparam("v_id"))
                    .values(balance_fen=bindparam("v_balance"), status=bindparam("v_status")),
                    spent)
    audit.record(session, action="redemption.create", object_type="redemption",
                 object_id=redemption_id,
                 summary={"invoice_id": invoice.id, "year": policy.year, "subsidy_fen": total,
                          "draws": [{"voucher_id": d["voucher_id"], "amount_fen": d["amount_fen"]}
                                    for d in draws],
                          "beneficiary_type": beneficiary_type, "beneficiary_id": beneficiary_id})
    return {**redemption, "net_subsidy_fen": total,
            "draws": [{"voucher_id": d["voucher_id"], "amount_fen": d["amount_fen"],
                       "restored_fen": 0} for d in draws]}


def _lock_vouchers(session: Session, enterprise_id: str, year: int, today: date,
                   named: Voucher | None) -> list:
    """Lock the vouchers the redemption may draw on, in draw order (plain rows, not ORM
    objects: they are written back with one UPDATE)."""
    v = Voucher.__table__.c
    if named is not None:
        locked = session.execute(select(Voucher.__table__).where(v.id == named.id)
                                 .with_for_update()).one()
        why = _unusable(locked, year, today)
        if why:
            raise NoUsableVoucher(f"voucher {locked.code} {why}")
        return [locked]
    candidates = session.execute(
        select(Voucher.__table__).where(v.enterprise_id == enterprise_id, v.year == year,
                                        v.status == "active", v.balance_fen > 0,
                                        v.valid_until >= today, v.valid_from <= today)
        .order_by(v.valid_until, v.created_at, v.id).with_for_update()).all()
    if not candidates:
        raise NoUsableVoucher(f"the enterprise has no usable voucher for {year}")
    return candidates


def _unusable(voucher: Voucher, year: int, today) -> str | None:
    status = vouchers.display_status(voucher, today)
    if status in ("expired", "revoked"):
        return f"is {status}"
    if voucher.year != year:
        return f"belongs to {voucher.year}"
    if voucher.balance_fen == 0:
        return "is exhausted"
    if voucher.valid_from > today:
        return f"is valid only from {voucher.valid_from}"
    return None


def _enterprise_share_paid(session: Session, invoice: Any, redeeming_fen: int = 0) -> bool:
    """Deduction mode: the provider is owed the subsidy once the enterprise paid the rest.
    `redeeming_fen`: a redemption of this invoice that is being written and not yet counted."""
    return invoice.paid_fen >= (invoice.total_fen - invoice.reversed_fen
                                - redeemed_net(session, invoice.id) - redeeming_fen)


def release_pending(session: Session, invoice: Invoice) -> None:
    pending = list(session.exec(select(Redemption).where(Redemption.invoice_id == invoice.id,
                                                         Redemption.status == "pending")))
    if pending and _enterprise_share_paid(session, invoice):
        for redemption in pending:
            redemption.status = "payable"
            session.add(redemption)


def get_redemption(session: Session, redemption_id: str, principal: Principal) -> Redemption:
    row = session.get(Redemption, redemption_id)
    if row is None or not principal.can_see(row.enterprise_id, row.provider_id):
        raise NotFound(f"no redemption {redemption_id}")
    return row


def to_public(session: Session, rows: Sequence[Redemption]) -> list[dict]:
    if not rows:
        return []
    draws: dict[str, list[dict]] = {r.id: [] for r in rows}
    for d in session.exec(select(RedemptionDraw).where(
            RedemptionDraw.redemption_id.in_(list(draws)))
            .order_by(RedemptionDraw.redemption_id, RedemptionDraw.draw_no)):
        draws[d.redemption_id].append({"voucher_id": d.voucher_id, "amount_fen": d.amount_fen,
                                       "restored_fen": d.restored_fen})
    return [{**r.model_dump(), "net_subsidy_fen": r.subsidy_fen - r.clawed_back_fen,
             "draws": draws[r.id]} for r in rows]


# --- reversals -------------------------------------------------------------------------------


def lock_vouchers_drawn_on(session: Session, invoice_id: str) -> None:
    voucher_ids = select(RedemptionDraw.voucher_id).join(
        Redemption, Redemption.id == RedemptionDraw.redemption_id).where(
        Redemption.invoice_id == invoice_id)
    session.exec(select(Voucher.id).where(Voucher.id.in_(voucher_ids))
                 .order_by(Voucher.valid_until, Voucher.created_at, Voucher.id)
                 .with_for_update()).all()


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
                payable = ledger.account_id(session, redemption.year, "payable",
                                            redemption.beneficiary_type,
                                            redemption.beneficiary_id)
                _give_back_to_vouchers(session, redemption, amount, source_account_id=payable,
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


def _give_back_to_vouchers(session: Session, redemption: Redemption, amount: int, *,
                           source_account_id: str, kind: str, reference: str) -> list[dict]:
    """Credit `amount` of the redemption back to the vouchers it drew on, last drawn first,
    from the source account (the payable before settlement, the clawed-back account after).
    A voucher that is no longer usable — revoked, or expired (stored or by date) — passes what
    it gets straight on to the pool and the enterprise's cap. Returns what went where. The one
    way a redemption's draws are undone: the unsettled take-back and the clawback share it."""
    draws = session.exec(select(RedemptionDraw).where(
        RedemptionDraw.redemption_id == redemption.id).order_by(RedemptionDraw.draw_no)).all()
    today = clock.today()
    given: list[dict] = []
    left = amount
    for draw in reversed(draws):
        part = min(left, draw.amount_fen - draw.restored_fen)
        if part <= 0:
            continue
        # Lock and re-read: a redemption of another invoice may have drawn on this voucher
        # since the reversal locked the vouchers it knew about (a stale read loses that draw).
        voucher = session.get(Voucher, draw.voucher_id, with_for_update=True,
                              populate_existing=True)
        ledger.post(session, year=redemption.year, debit=source_account_id,
                    credit=voucher.ledger_account_id, amount_fen=part, kind=kind,
                    reference=reference)
        draw.restored_fen += part
        voucher.balance_fen += part
        status = vouchers.display_status(voucher, today)
        if status in ("revoked", "expired"):
            session.add_all([draw, voucher])
            session.flush()
            vouchers.return_balance(session, voucher, kind=f"{status}_return", amount_fen=part,
                                    reference=reference)
        elif voucher.status == "exhausted":
            voucher.status = "active"
        session.add_all([draw, voucher])
        given.append({"voucher_id": voucher.id, "amount_fen": part,
                      "to_pool": status in ("revoked", "expired")})
        left -= part
        if left == 0:
            break
    assert left == 0, f"redemption {redemption.id}: {left} fen found no draw to go back to"
    return given


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
    restored = _give_back_to_vouchers(session, redemption, amount, source_account_id=clawed.id,
                                      kind="clawback_restore", reference=clawback.id)
    audit.record(session, action="clawback.create", object_type="clawback", object_id=clawback.id,
                 summary={"redemption_id": redemption.id, "amount_fen": amount,
                          "beneficiary_type": redemption.beneficiary_type,
                          "beneficiary_id": redemption.beneficiary_id,
                          "restored": restored})
