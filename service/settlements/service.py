"""Settlement batches (PRODUCT.md §3.6): gather payable redemptions up to a cutoff, net each
beneficiary's outstanding clawbacks, approve, pay with a bank reference, export."""

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import tuple_, update
from sqlmodel import Session, select

from service.kit import clock, ids
from service.audit import service as audit
from service.auth.principal import Principal
from service.kit.errors import DomainError, InvalidState, NotFound
from service.ledger import service as ledger
from service.notices import freeze
from service.redemptions.models import Clawback, Redemption
from service.reviewchain import trail as chain
from service.settlements import notice, payees
from service.settlements.models import Settlement, SettlementLine
from service.years.service import get_year


class NothingToSettle(DomainError):
    status = 409
    code = "nothing_to_settle"
    title = "Nothing is payable up to the cutoff"


class BeneficiaryAccountMissing(DomainError):
    """Approval for payment needs every beneficiary the batch pays to have a bank account and a
    bank on file; the problem names each one that has not (`beneficiaries`)."""

    status = 409
    code = "beneficiary_account_missing"
    title = "A beneficiary of the batch has no bank account on file"

    def __init__(self, beneficiaries: list[dict[str, Any]]):
        named = "; ".join(f"{b['beneficiary_type']} {b['beneficiary_id']} {b['beneficiary_name']}"
                          f" (no {', '.join(b['missing'])})" for b in beneficiaries[:10])
        if len(beneficiaries) > 10:
            named += f"; and {len(beneficiaries) - 10} more"
        super().__init__(
            f"{len(beneficiaries)} beneficiar{'y' if len(beneficiaries) == 1 else 'ies'} of the "
            f"batch cannot be paid, no bank account on file: {named}. Register bank_account and "
            "bank_name (and account_name where the account is not held in the registered name) "
            "with PATCH /v1/enterprises/{id} or /v1/providers/{id}, then approve again")
        self.beneficiaries = beneficiaries

    def problem(self) -> dict[str, Any]:
        return {**super().problem(), "beneficiaries": self.beneficiaries}


def create(session: Session, *, year: int, cutoff: datetime | None = None) -> Settlement:
    # The year row serialises batch creation, so a redemption or a clawback fen can only ever
    # be claimed by one batch; the conditional update below is the second guard.
    budget = get_year(session, year, for_update=True)
    cutoff = cutoff or clock.now()
    # Compare in Shanghai time: SQLite keeps timestamps as Shanghai wall-clock text.
    cutoff = cutoff.replace(tzinfo=clock.SHANGHAI) if cutoff.tzinfo is None else \
        cutoff.astimezone(clock.SHANGHAI)
    settlement = Settlement(id=ids.new_id("stl"), year=year, cutoff=cutoff,
                            review_level=budget.review_levels[0])
    session.add(settlement)
    session.flush()
    r = Redemption.__table__.c
    claimed = session.execute(
        update(Redemption)
        .where(r.year == year, r.status == "payable", r.settlement_id.is_(None),
               r.created_at <= cutoff)
        .values(settlement_id=settlement.id, status="settling")
        .returning(r.id, r.beneficiary_type, r.beneficiary_id, r.subsidy_fen, r.clawed_back_fen)
        .execution_options(synchronize_session=False)).all()
    gross: dict[tuple[str, str], int] = defaultdict(int)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for _id, b_type, b_id, subsidy_fen, clawed in claimed:
        gross[(b_type, b_id)] += subsidy_fen - clawed
        counts[(b_type, b_id)] += 1
    if not claimed:
        raise NothingToSettle(f"no payable redemptions of {year} up to {cutoff.isoformat()}")
    names = _names(session, gross)
    total = 0
    for key, amount in sorted(gross.items()):
        recovered = _allocate_clawbacks(session, year, key, amount)
        line = SettlementLine(settlement_id=settlement.id, line_id=ids.new_id("sln"),
                              beneficiary_type=key[0],
                              beneficiary_id=key[1], beneficiary_name=names[key][0],
                              beneficiary_uscc=names[key][1], redemption_count=counts[key],
                              gross_fen=amount, clawback_fen=recovered,
                              amount_fen=amount - recovered)
        session.add(line)
        total += line.amount_fen
    settlement.total_fen = total
    session.add(settlement)
    session.flush()
    audit.record(session, action="settlement.create", object_type="settlement",
                 object_id=settlement.id,
                 summary={"year": year, "cutoff": cutoff.isoformat(), "total_fen": total,
                          "redemptions": len(claimed), "beneficiaries": len(gross)})
    return settlement


def _allocate_clawbacks(session: Session, year: int, beneficiary: tuple[str, str],
                        payable: int) -> int:
    """Net what the beneficiary still owes against this batch, oldest clawback first. What the
    batch cannot cover stays owed and carries to the next one."""
    left = payable
    rows = session.exec(select(Clawback).where(
        Clawback.year == year, Clawback.beneficiary_type == beneficiary[0],
        Clawback.beneficiary_id == beneficiary[1],
        Clawback.amount_fen > Clawback.recovered_fen + Clawback.allocated_fen)
        .order_by(Clawback.created_at, Clawback.id).with_for_update()).all()
    for clawback in rows:
        if left == 0:
            break
        part = min(left, clawback.amount_fen - clawback.recovered_fen - clawback.allocated_fen)
        clawback.allocated_fen += part
        session.add(clawback)
        left -= part
    return payable - left


def _names(session: Session, keys) -> dict[tuple[str, str], tuple[str, str]]:
    return {key: (row.name, row.uscc) for key, row in payees.parties(session, keys).items()}


def get(session: Session, settlement_id: str, *, for_update: bool = False) -> Settlement:
    row = session.get(Settlement, settlement_id, with_for_update=for_update or None,
                      populate_existing=for_update)
    if row is None:
        raise NotFound(f"no settlement {settlement_id}")
    return row


def lines_of(session: Session, settlement_id: str) -> list[SettlementLine]:
    return list(session.exec(select(SettlementLine).where(
        SettlementLine.settlement_id == settlement_id)
        .order_by(SettlementLine.beneficiary_type, SettlementLine.beneficiary_id)))


def payment_lines(session: Session, settlement_id: str) -> list[SettlementLine]:
    """The lines a payment file carries: never a frozen or a withheld one (docs/notice.md)."""
    lines = [line for line in lines_of(session, settlement_id) if not line.withheld]
    frozen = freeze.frozen_ids(session, [line.line_id for line in lines])
    return [line for line in lines if line.line_id not in frozen]


def approve(session: Session, *, settlement_id: str, principal: Principal | None,
            review_reason: str | None = None) -> Settlement:
    settlement = get(session, settlement_id, for_update=True)
    if settlement.status != "draft":
        raise InvalidState(f"settlement is {settlement.status}; only a draft can be approved")
    # Approved for payment only by the last level of the year's review chain.
    level = chain.require_final(session, "settlement", settlement)
    lines = lines_of(session, settlement.id)
    missing = payees.without_account(session, lines)
    if missing:
        raise BeneficiaryAccountMissing(missing)
    payees.fix(session, lines)
    settlement.status = "approved"
    settlement.approved_at = clock.now()
    review = chain.finish(session, "settlement", settlement, level=level, decision="approve",
                          reason=review_reason, principal=principal)
    audit.record(session, action="settlement.approve", object_type="settlement",
                 object_id=settlement.id, summary={"total_fen": settlement.total_fen, **review})
    return settlement


def pay(session: Session, *, settlement_id: str, bank_reference: str) -> Settlement:
    settlement = get(session, settlement_id, for_update=True)
    if settlement.status not in ("approved", "in_notice"):
        raise InvalidState(f"settlement is {settlement.status}; approve it before paying")
    notice.require_payable(settlement, get_year(session, settlement.year), clock.today())
    year = settlement.year
    paid = ledger.get_or_create_account(session, year, "paid")
    lines = lines_of(session, settlement.id)
    frozen = freeze.frozen_ids(session, [line.line_id for line in lines])
    for line in lines:
        if line.line_id in frozen:
            _withhold(session, year, line)
            continue
        payable = ledger.get_or_create_account(session, year, "payable", line.beneficiary_type,
                                               line.beneficiary_id)
        if line.amount_fen > 0:
            ledger.post(session, year=year, debit=payable, credit=paid, amount_fen=line.amount_fen,
                        kind="payout", reference=settlement.id)
        if line.clawback_fen > 0:
            receivable = ledger.get_or_create_account(session, year, "receivable",
                                                      line.beneficiary_type, line.beneficiary_id)
            ledger.post(session, year=year, debit=payable, credit=receivable,
                        amount_fen=line.clawback_fen, kind="clawback_recovery",
                        reference=settlement.id)
            _recover(session, year, line)
    withheld = [line for line in lines if line.line_id in frozen]
    r = Redemption.__table__.c
    paying = [r.settlement_id == settlement.id, r.status == "settling"]
    if withheld:
        paying.append(tuple_(r.beneficiary_type, r.beneficiary_id).not_in(
            [(line.beneficiary_type, line.beneficiary_id) for line in withheld]))
    session.execute(update(Redemption).where(*paying)
                    .values(status="paid").execution_options(synchronize_session=False))
    settlement.total_fen = sum(line.amount_fen for line in lines if line.line_id not in frozen)
    settlement.status = "paid"
    settlement.bank_reference = bank_reference
    settlement.paid_at = clock.now()
    session.add(settlement)
    summary = {"total_fen": settlement.total_fen, "bank_reference": bank_reference}
    if withheld:
        summary["withheld_line_ids"] = [line.line_id for line in withheld]
        summary["withheld_fen"] = sum(line.amount_fen for line in withheld)
    audit.record(session, action="settlement.pay", object_type="settlement",
                 object_id=settlement.id, summary=summary)
    return settlement


def _withhold(session: Session, year: int, line: SettlementLine) -> None:
    """A frozen line leaves the batch as it is paid (docs/notice.md): nothing is posted for it,
    the clawbacks it netted are owed again, and its redemptions stay `settling` on this batch —
    neither paid nor payable — until the objections naming it are resolved."""
    line.withheld = True
    session.add(line)
    if line.clawback_fen > 0:
        _unallocate(session, year, line)


def publish(session: Session, *, settlement_id: str) -> Settlement:
    """公示: an approved batch goes into notice for the year's notice_working_days, from the
    next working day after today (docs/notice.md)."""
    settlement = get(session, settlement_id, for_update=True)
    if settlement.status != "approved":
        raise InvalidState(f"settlement is {settlement.status}; only an approved batch is "
                           "published")
    year = get_year(session, settlement.year)
    if year.notice_working_days == 0:
        raise notice.NoticeNotUsed(f"budget year {year.year} has notice_working_days 0: the "
                                   "batch is paid without a notice")
    today = clock.today()
    settlement.notice_starts_on, settlement.notice_ends_on = notice.window(year, today)
    settlement.published_on = today
    settlement.status = "in_notice"
    session.add(settlement)
    audit.record(session, action="settlement.publish", object_type="settlement",
                 object_id=settlement.id,
                 summary={"total_fen": settlement.total_fen,
                          "notice_working_days": year.notice_working_days,
                          "notice_starts_on": settlement.notice_starts_on.isoformat(),
                          "notice_ends_on": settlement.notice_ends_on.isoformat()})
    return settlement


def _recover(session: Session, year: int, line: SettlementLine) -> None:
    left = line.clawback_fen
    rows = session.exec(select(Clawback).where(
        Clawback.year == year, Clawback.beneficiary_type == line.beneficiary_type,
        Clawback.beneficiary_id == line.beneficiary_id, Clawback.allocated_fen > 0)
        .order_by(Clawback.created_at, Clawback.id).with_for_update()).all()
    for clawback in rows:
        part = min(left, clawback.allocated_fen)
        clawback.allocated_fen -= part
        clawback.recovered_fen += part
        session.add(clawback)
        left -= part
        if left == 0:
            break


def to_public(session: Session, settlement: Settlement) -> dict[str, Any]:
    lines = lines_of(session, settlement.id)
    states = freeze.states(session, [line.line_id for line in lines])
    return {**settlement.model_dump(),
            "lines": [{**line.model_dump(exclude={"settlement_id"}),
                       "frozen": states[line.line_id].frozen,
                       "objection_ids": list(states[line.line_id].objection_ids)}
                      for line in lines],
            "reviews": chain.reviews_of(session, "settlement", settlement.id),
            "review_levels": chain.levels_of(session, settlement.year)}


def reject(session: Session, *, settlement_id: str, principal: Principal | None,
           reason: str) -> Settlement:
    """A draft batch rejected in the review chain: it ends `rejected`, and what it claimed is
    released exactly as it was before the batch was created — its redemptions are payable again
    and unclaimed, the clawbacks it netted are owed again — so the next batch can take them.
    Nothing was posted to the ledger when the draft was created, so nothing is reversed there."""
    settlement = get(session, settlement_id, for_update=True)
    if settlement.status != "draft":
        raise InvalidState(f"settlement is {settlement.status}; only a draft can be rejected")
    level = chain.waiting_level(session, settlement)
    r = Redemption.__table__.c
    released = session.execute(
        update(Redemption).where(r.settlement_id == settlement.id, r.status == "settling")
        .values(settlement_id=None, status="payable")
        .execution_options(synchronize_session=False)).rowcount
    for line in lines_of(session, settlement.id):
        if line.clawback_fen > 0:
            _unallocate(session, settlement.year, line)
    settlement.status = "rejected"
    settlement.rejected_at = clock.now()
    settlement.reject_reason = reason
    review = chain.finish(session, "settlement", settlement, level=level, decision="reject",
                          reason=reason, principal=principal)
    audit.record(session, action="settlement.reject", object_type="settlement",
                 object_id=settlement.id,
                 summary={"total_fen": settlement.total_fen, "reason": reason,
                          "redemptions_released": released, **review})
    return settlement


def _unallocate(session: Session, year: int, line: SettlementLine) -> None:
    """Undo `_allocate_clawbacks` for one line of a rejected draft, newest clawback first."""
    left = line.clawback_fen
    rows = session.exec(select(Clawback).where(
        Clawback.year == year, Clawback.beneficiary_type == line.beneficiary_type,
        Clawback.beneficiary_id == line.beneficiary_id, Clawback.allocated_fen > 0)
        .order_by(Clawback.created_at.desc(), Clawback.id.desc()).with_for_update()).all()
    for clawback in rows:
        part = min(left, clawback.allocated_fen)
        clawback.allocated_fen -= part
        session.add(clawback)
        left -= part
        if left == 0:
            break
