"""Redemption (PRODUCT.md §3.5): the rules, decided for a whole batch of requests at once.

A redemption is `min(eligible subsidy not yet redeemed on the invoice, voucher balance)` for the
enterprise's invoice, drawn from one named voucher or from its usable vouchers in draw order
(`vouchers.draw_order`: earliest expiry first, then oldest); several vouchers may be drawn. (The
enterprise's cap for the year is reserved when vouchers are issued, so a voucher's balance is
never more than the cap left.)

Refusals, checked in this order: the first that applies is the answer, and nothing is written.

1. `not_found` (404): the invoice does not exist or is not the enterprise's; a named voucher
   does not exist.
2. `no_usable_voucher` (409): the named voucher is another party's, or belongs to a year the
   invoice's service period does not fall in.
3. `invoice_not_eligible` (409): no budget year covers the invoice's service period.
4. `year_closed` (409): the budget year is closed, or its redemption deadline has passed.
5. `credit_blocked` (409): the enterprise is credit-blocked.
6. `other_subsidy` (409): the invoice or its contract was subsidised under another programme
   (就高不重复).
7. `provider_not_approved` (409): the provider is not on the year's approved list.
8. `related_party` (409): the provider and the enterprise are related (or the same USCC).
9. `invoice_not_eligible` (409): the invoice is dated before the year's `eligible_from`.
10. `no_usable_voucher` (409): the named voucher, or every voucher of the year, is expired,
    revoked, exhausted or not yet valid (`vouchers.unusable_reason`).
11. `nothing_to_redeem` (409): no eligible subsidy is left on the invoice for the year, or an
    objection to its payment was upheld (a barred invoice, docs/notice.md).

How a batch runs (service/uow.py, docs/write-path.md): the unit of work has locked every voucher
of the batch's enterprises (by id) and the batch's invoices (by id); `redeem_group` then reads
what the rules need for all requests in a few statements, decides each request in arrival order
against an in-memory tally (so two requests on one invoice or one voucher see each other), and
writes the accepted ones set-based: one INSERT per table, one UPDATE statement each for the
voucher rows, the voucher accounts and the payable accounts (legs aggregated per account, in id
order). A refused request costs no statement of its own. The same function serves a single
redemption: a batch of one.
"""

from collections import defaultdict, namedtuple
from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, exists, func, or_, select
from sqlmodel import Session

from service.kit import clock, ids
from service.audit import service as audit
from service.auth.principal import Principal
from service.kit.errors import (
    CreditBlocked,
    DomainError,
    InvoiceNotEligible,
    NotFound,
    NothingToRedeem,
    NoUsableVoucher,
    OtherSubsidy,
    ProviderNotApproved,
    RelatedParty,
    YearClosed,
)
from service.holds import tally as hold_tally
from service.invoices import access as invoice_access
from service.invoices import subsidy
from service.invoices.models import Invoice, InvoiceLine, InvoiceRow
from service.ledger import service as ledger
from service.ledger.models import LedgerAccount
from service.notices.models import BarredInvoice
from service.redemptions.models import Redemption, RedemptionDraw
from service.redemptions.restore import enterprise_share_paid
from service.risk import disclosure
from service.risk import flags as risk_flags
from service.risk import reviews as risk_reviews
from service.kit.rows import insert_many, update_many
from service.registry.models import ApprovedProvider, Enterprise, Provider
from service.registry.models import OtherSubsidy as OtherSubsidyClaim
from service.registry.models import RelatedParty as RelatedPartyPair
from service.vouchers import access as voucher_access
from service.vouchers import service as vouchers
from service.vouchers.models import Voucher
from service.years.models import BudgetYear


class InvoiceFacts(NamedTuple("InvoiceFacts", [
        *InvoiceRow.__annotations__.items(),  # the invoice row, in column order
        ("credit_blocked", bool), ("enterprise_uscc", str), ("provider_name", str),
        ("provider_uscc", str),
        ("other_programme", str | None),  # a claim under another programme (就高不重复)
        ("related", bool),  # a recorded related-party pair
        ("barred", bool)])):  # an upheld objection rejected its subsidy (docs/notice.md)
    """An invoice with what the rules ask of its parties: the one row shape of this path."""

    __slots__ = ()

    @property
    def net_total_fen(self) -> int:
        return self.total_fen - self.reversed_fen


# A voucher row as a plain tuple in column order, so a drawn balance can be _replace'd.
VoucherRow = namedtuple("VoucherRow", Voucher.__table__.c.keys())


class HoldClaim(NamedTuple):
    """A hold being captured (service/holds): the redemption draws on what it reserved, in its
    draw order, never more (TigerBeetle's post of a pending transfer, bounded by construction)."""

    hold_id: str
    year: int
    draws: tuple[tuple[str, int], ...]  # (voucher id, fen held)


class RedeemRequest(NamedTuple):
    invoice_id: str
    voucher_id: str | None = None
    hold: HoldClaim | None = None


class RedemptionRow(NamedTuple):
    """A redemption row as inserted, in column order."""

    id: str
    invoice_id: str
    enterprise_id: str
    provider_id: str
    year: int
    subsidy_fen: int
    clawed_back_fen: int
    beneficiary_type: str
    beneficiary_id: str
    status: str
    settlement_id: str | None
    created_at: Any
    # The invoice as the claim found it: kept for the what-if replay, not shown.
    invoice_paid_fen: int
    invoice_reversed_fen: int


class Accepted(NamedTuple):
    """One accepted request of a batch (TigerBeetle's one result per event): the row to insert,
    the vouchers it draws on, and what the risk rules made of it (service/risk/flags.assess).
    Frozen: a held redemption is a new record with status `under_review` and its review id."""

    row: RedemptionRow
    draws: tuple[tuple[Any, int], ...]  # (voucher row, amount), in draw order
    flags: tuple[dict, ...] = ()
    review_id: str | None = None
    hold_id: str | None = None  # a captured hold: drawn from the hold account, not the vouchers

    @property
    def risk_score(self) -> int:
        return sum(f["weight"] for f in self.flags)


# --- statements, built once --------------------------------------------------------------------

_inv = Invoice.__table__.c
_claim = select(OtherSubsidyClaim.programme).where(
    OtherSubsidyClaim.enterprise_id == _inv.enterprise_id,
    or_(OtherSubsidyClaim.invoice_number == _inv.invoice_number,
        OtherSubsidyClaim.invoice_number == _inv.invoice_key,
        and_(func.coalesce(_inv.contract_number, "") != "",
             OtherSubsidyClaim.contract_number == _inv.contract_number))).limit(1)
_related = exists().where(RelatedPartyPair.enterprise_id == _inv.enterprise_id,
                          RelatedPartyPair.provider_id == _inv.provider_id)
_barred = exists().where(BarredInvoice.invoice_id == _inv.id)
_INVOICES_READ = (
    select(Invoice.__table__, Enterprise.credit_blocked,
           Enterprise.uscc.label("enterprise_uscc"), Provider.name.label("provider_name"),
           Provider.uscc.label("provider_uscc"),
           _claim.scalar_subquery().label("other_programme"), _related.label("related"),
           _barred.label("barred"))
    .join(Enterprise, Enterprise.id == _inv.enterprise_id)
    .join(Provider, Provider.id == _inv.provider_id)
    .where(_inv.id.in_(bindparam("ids", expanding=True))).order_by(_inv.id))
_INVOICES = _INVOICES_READ.with_for_update(of=Invoice.__table__)
_LINES = select(InvoiceLine.invoice_id, InvoiceLine.category, InvoiceLine.amount_fen).where(
    InvoiceLine.invoice_id.in_(bindparam("ids", expanding=True)))
_v = Voucher.__table__.c
_VOUCHERS_READ = select(Voucher.__table__).where(or_(
    _v.enterprise_id.in_(bindparam("enterprises", expanding=True)),
    _v.id.in_(bindparam("named", expanding=True)))).order_by(_v.id)
_VOUCHERS = _VOUCHERS_READ.with_for_update()
_YEARS = select(BudgetYear.__table__).where(
    BudgetYear.__table__.c.year.in_(bindparam("years", expanding=True)))
_APPROVED = select(ApprovedProvider.year, ApprovedProvider.provider_id).where(
    ApprovedProvider.year.in_(bindparam("years", expanding=True)),
    ApprovedProvider.provider_id.in_(bindparam("providers", expanding=True)))
_REDEEMED = select(Redemption.invoice_id, Redemption.year,
                   func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen)).where(
    Redemption.invoice_id.in_(bindparam("ids", expanding=True))).group_by(
    Redemption.invoice_id, Redemption.year)
# Locked by id, after the vouchers and invoices: the global order every batch keeps.
_ACCOUNTS = select(LedgerAccount.code, LedgerAccount.id).where(
    LedgerAccount.code.in_(bindparam("codes", expanding=True))).order_by(
    LedgerAccount.id).with_for_update()


# --- the rules ---------------------------------------------------------------------------------

def pick_year(invoice: InvoiceFacts, named: Any, years: dict[int, Any], lines: Sequence[Any],
              redeemed: dict[tuple[str, int], int], today: date) -> Any:
    """The named voucher's year when the invoice's service falls in it; otherwise the first
    open year that still has subsidy left on the invoice (a period across the new year)."""
    if named is not None:
        if subsidy.overlap_days(invoice.service_start, invoice.service_end, named.year) == 0:
            raise NoUsableVoucher(f"voucher {named.code} belongs to {named.year}, a year "
                                  "the invoice's service period does not fall in")
        return years[named.year]
    covering = [years[y] for y in subsidy.years_of(invoice.service_start, invoice.service_end)
                if y in years]
    if not covering:
        raise InvoiceNotEligible("no budget year covers the invoice's service period")
    open_years = [y for y in covering if y.status == "open" and today <= y.redemption_deadline]
    if len(open_years) > 1:
        for policy in open_years:
            if remaining(invoice, lines, policy, redeemed) > 0:
                return policy
    return open_years[0] if open_years else covering[-1]


def remaining(invoice: InvoiceFacts, lines: Sequence[Any], policy: Any,
              redeemed: dict[tuple[str, int], int]) -> int:
    return (subsidy.eligible_for_year(invoice, lines, policy)
            - redeemed.get((invoice.id, policy.year), 0))


def refuse_by_policy(invoice: InvoiceFacts, policy: Any, approved: bool, today: date) -> None:
    """Refusals 4–9 of the module docstring, in that order."""
    if policy.status == "closed" or today > policy.redemption_deadline:
        raise YearClosed(f"budget year {policy.year} is closed for redemptions "
                         f"(deadline {policy.redemption_deadline})")
    if invoice.credit_blocked:
        raise CreditBlocked("the enterprise is credit-blocked: no redemptions")
    if invoice.other_programme is not None:
        raise OtherSubsidy(f"the invoice or its contract is already subsidised under "
                           f"{invoice.other_programme} (就高不重复: the highest, never both)")
    if not approved:
        raise ProviderNotApproved(
            f"provider {invoice.provider_name} is not approved for {policy.year}; the bureau "
            f"approves it with PUT /v1/years/{policy.year}/approved-providers/"
            f"{invoice.provider_id}")
    if invoice.related or invoice.enterprise_uscc == invoice.provider_uscc:
        raise RelatedParty("the provider and the enterprise are related parties")
    if subsidy.dated_before_eligible(invoice.issued_on, policy) or subsidy.overlap_days(
            invoice.service_start, invoice.service_end, policy.year) == 0:
        raise InvoiceNotEligible(
            f"the invoice is dated before {policy.eligible_from} or its service period lies "
            f"outside {policy.year}")


def draw_from(candidates: Sequence[Any], left: int) -> list[tuple[Any, int]]:
    """Draw `left` fen from the usable vouchers in draw order, each up to its balance: the
    (voucher, amount) pairs. A pure function: the what-if replay draws with it too."""
    draws = []
    for voucher in candidates:
        if left == 0:
            break
        balance = voucher.balance_fen
        amount = left if left < balance else balance
        draws.append((voucher, amount))
        left -= amount
    return draws


_SAYS = {"expired": lambda v: "is expired", "revoked": lambda v: "is revoked",
         "other_year": lambda v: f"belongs to {v.year}", "exhausted": lambda v: "is exhausted",
         "not_yet_valid": lambda v: f"is valid only from {v.valid_from}"}


# --- the batch ---------------------------------------------------------------------------------

class _Batch:
    """What the rules read, for every request of the batch, and the tally of its decisions."""

    def __init__(self, session: Session, requests: Sequence[tuple[Principal, RedeemRequest]],
                 *, lock: bool = True, enterprises: Sequence[str] = (),
                 named: Sequence[str] = (), providers: Sequence[str] = (),
                 years: Sequence[int] = ()):
        session.flush()  # what the ORM holds must be in the rows read below
        db = session.connection()  # Core rows on the session's transaction, no ORM layer
        vouchers_stmt, invoices_stmt = (_VOUCHERS, _INVOICES) if lock else \
            (_VOUCHERS_READ, _INVOICES_READ)
        invoice_ids = sorted({r.invoice_id for _, r in requests})
        named = sorted({r.voucher_id for _, r in requests if r.voucher_id} | set(named)
                       | {v for _, r in requests if r.hold for v, _ in r.hold.draws})
        enterprises = sorted({p.enterprise_id for p, _ in requests if p.enterprise_id}
                             | set(enterprises))
        # Locked in the global order (service/uow.py takes the same locks before the batch):
        # vouchers by id, then invoices by id.
        self.vouchers = {row.id: VoucherRow._make(row) for row in db.execute(
            vouchers_stmt, {"enterprises": enterprises or [""], "named": named or [""]})}
        if lock:  # the ledger must know of expired holds before their fen are drawn again
            hold_tally.release_expired(session, voucher_ids=list(self.vouchers))
        self.invoices = {row.id: InvoiceFacts._make(row) for row in
                         db.execute(invoices_stmt, {"ids": invoice_ids})}
        self.lines: dict[str, list] = defaultdict(list)
        for row in db.execute(_LINES, {"ids": invoice_ids}):
            self.lines[row.invoice_id].append(row)
        wanted = {y for inv in self.invoices.values()
                  for y in subsidy.years_of(inv.service_start, inv.service_end)}
        wanted |= {v.year for v in self.vouchers.values()} | set(years)
        self.years = {row.year: row for row in db.execute(_YEARS, {"years": sorted(wanted)})}
        providers = sorted({inv.provider_id for inv in self.invoices.values()} | set(providers))
        self.approved = {(y, p) for y, p in db.execute(
            _APPROVED, {"years": sorted(self.years) or [0], "providers": providers or [""]})}
        self.redeemed: dict[tuple[str, int], int] = defaultdict(int)
        for invoice_id, year, net in db.execute(_REDEEMED, {"ids": invoice_ids}):
            self.redeemed[(invoice_id, year)] = int(net or 0)
        # What a draw may take is the balance less what live holds reserve (docs/holds.md).
        self.held = defaultdict(int, hold_tally.held_by_voucher(session, self.vouchers))
        self.balance = {v.id: v.balance_fen - self.held[v.id] for v in self.vouchers.values()}

    def voucher(self, voucher_id: str) -> Any:
        row = self.vouchers[voucher_id]
        return row._replace(balance_fen=self.balance[voucher_id])

    def candidates(self, enterprise_id: str, year: int, named: Any, today: date) -> list:
        """Refusal 10: the vouchers to draw on, in draw order."""
        if named is not None:
            voucher = self.voucher(named.id)
            why = vouchers.unusable_reason(voucher, today, year)
            if why:
                raise NoUsableVoucher(f"voucher {named.code} {_SAYS[why](voucher)}")
            return [self.voucher(named.id)]
        usable = [v for v in (self.voucher(i) for i, row in self.vouchers.items()
                              if row.enterprise_id == enterprise_id)
                  if vouchers.unusable_reason(v, today, year) is None]
        if not usable:
            raise NoUsableVoucher(f"the enterprise has no usable voucher for {year}")
        return sorted(usable, key=vouchers.draw_order)

    def check(self, principal: Principal, request: RedeemRequest,
              today: date) -> tuple[InvoiceFacts, Any, list, int]:
        """Refusals 1–11 of the module docstring for one request against the batch's tally:
        the invoice, the year, the vouchers to draw on and the subsidy left on the invoice."""
        # Who may touch which row is the domains' access rule (invoices/access.py,
        # vouchers/access.py), applied to the rows the batch read; only enterprises reach here
        # (the route and the console's preview are theirs), so it admits their own rows.
        invoice = self.invoices.get(request.invoice_id)
        if invoice is None or not invoice_access.admits(principal, invoice):
            raise NotFound(f"no invoice {request.invoice_id}")
        named = None
        if request.voucher_id is not None:
            named = self.vouchers.get(request.voucher_id)
            if named is None:
                raise NotFound(f"no voucher {request.voucher_id}")
            if not voucher_access.admits(principal, named):
                raise NoUsableVoucher("the named voucher is not yours")
        lines = self.lines[invoice.id]
        hold = request.hold
        policy = self.years[hold.year] if hold else pick_year(invoice, named, self.years, lines,
                                                              self.redeemed, today)
        refuse_by_policy(invoice, policy, (policy.year, invoice.provider_id) in self.approved,
                         today)
        candidates = [self.voucher(v)._replace(balance_fen=held) for v, held in hold.draws] \
            if hold else self.candidates(invoice.enterprise_id, policy.year, named, today)
        left = remaining(invoice, lines, policy, self.redeemed)
        if invoice.barred:
            raise NothingToRedeem("an objection to the payment of this invoice's subsidy was "
                                  "upheld: it is never redeemed again")
        if left <= 0:
            raise NothingToRedeem("the invoice has no eligible subsidy left to redeem "
                                  "(unpaid, fully redeemed, or no eligible lines)")
        return invoice, policy, candidates, left

    def decide(self, principal: Principal, request: RedeemRequest, today: date) -> Accepted:
        """One request against the batch's tally: the accepted redemption, or a refusal."""
        invoice, policy, candidates, left = self.check(principal, request, today)
        draws = draw_from(candidates, left)
        for voucher_id, held in request.hold.draws if request.hold else ():
            self.held[voucher_id] -= held  # the hold resolves: what it kept is drawn or freed
            self.balance[voucher_id] += held
        for voucher, amount in draws:
            self.balance[voucher.id] -= amount
        total = sum(amount for _, amount in draws)
        self.redeemed[(invoice.id, policy.year)] += total
        if policy.settlement_mode == "reimbursement":
            beneficiary_type, beneficiary_id, status = "enterprise", invoice.enterprise_id, \
                "payable"
        else:
            all_years = sum(v for (i, _), v in self.redeemed.items() if i == invoice.id)
            beneficiary_type, beneficiary_id = "provider", invoice.provider_id
            status = "payable" if enterprise_share_paid(invoice.paid_fen, invoice.net_total_fen,
                                                        all_years) else "pending"
        return Accepted(RedemptionRow(
            id=ids.new_id("rdm"), invoice_id=invoice.id, enterprise_id=invoice.enterprise_id,
            provider_id=invoice.provider_id, year=policy.year, subsidy_fen=total,
            clawed_back_fen=0, beneficiary_type=beneficiary_type, beneficiary_id=beneficiary_id,
            status=status, settlement_id=None, created_at=clock.now(),
            invoice_paid_fen=invoice.paid_fen, invoice_reversed_fen=invoice.reversed_fen),
            tuple(draws), hold_id=request.hold.hold_id if request.hold else None)


def redeem_group(session: Session, writes: Sequence[Any]) -> list[dict | DomainError]:
    """uow's group function for redemptions: decides each write (args: a RedeemRequest) and
    writes the accepted ones; answers each with its public representation or its refusal."""
    today = clock.today()
    batch = _Batch(session, [(w.principal, w.args) for w in writes])
    answers: list[Accepted | DomainError] = []
    for w in writes:
        try:
            answers.append(batch.decide(w.principal, w.args, today))
        except DomainError as exc:
            answers.append(exc)
    decided = [(w, a) for w, a in zip(writes, answers) if isinstance(a, Accepted)]
    if decided:  # flags never refuse: they may hold a redemption for review (service/risk)
        assessed = iter(risk_flags.assess(session, batch.invoices, [a for _, a in decided],
                                          batch.years))
        answers = [next(assessed) if isinstance(a, Accepted) else a for a in answers]
        _write(session, batch, [(w, a) for w, a in zip(writes, answers)
                                if isinstance(a, Accepted)])
    return [_public(a, w.principal) if isinstance(a, Accepted) else a
            for w, a in zip(writes, answers)]


class Preview(NamedTuple):
    """What a redemption of the invoice would give now, or why it would be refused."""
    invoice_id: str
    subsidy_fen: int  # 0 when refused
    refusal: DomainError | None


def preview(session: Session, *, principal: Principal,
            invoice_ids: Sequence[str]) -> dict[str, Preview]:
    """Read-only: each invoice decided on its own, by the checks `redeem_group` applies, as if
    the enterprise redeemed it now letting the service pick the vouchers. Nothing is locked or
    written (the portal shows this beside each invoice; the redemption itself decides again)."""
    today = clock.today()
    requests = [RedeemRequest(invoice_id) for invoice_id in invoice_ids]
    batch = _Batch(session, [(principal, r) for r in requests], lock=False)
    answers = {}
    for request in requests:
        try:
            _invoice, _policy, candidates, left = batch.check(principal, request, today)
        except DomainError as exc:
            answers[request.invoice_id] = Preview(request.invoice_id, 0, exc)
            continue
        given = sum(amount for _, amount in draw_from(candidates, left))
        answers[request.invoice_id] = Preview(request.invoice_id, given, None)
    return answers


class Quote(NamedTuple):
    """A provider's quote a hold reserves for (service/holds): the invoice it expects to post."""

    enterprise_id: str
    provider_id: str
    year: int
    voucher_id: str
    contract_number: str | None
    service_start: date
    service_end: date
    lines: tuple[tuple[str, int], ...]  # (category, amount_fen)
    allow_other_vouchers: bool = False


class QuoteLine(NamedTuple):
    category: str
    amount_fen: int


def reserve(session: Session, *, principal: Principal, quote: Quote,
            today: date) -> tuple[int, list[tuple[Any, int]]]:
    """What a hold on the quote reserves: the subsidy the quoted lines would earn if invoiced and
    paid as quoted (§3.4, `remaining` on an invoice not yet posted), at most the enterprise's
    cap left for the year (less what it redeemed and what its live holds reserve), drawn from
    the named voucher (then, when allowed, the others in draw order) up to what each has
    available. Refusals 2–11 of the module docstring, in that order, as a redemption answers
    them: (the quoted fen, the draws). Locks the enterprise's vouchers like a redemption."""
    batch = _Batch(session, [], enterprises=[quote.enterprise_id], named=[quote.voucher_id],
                   providers=[quote.provider_id], years=[quote.year])
    named = batch.vouchers[quote.voucher_id]
    if named.enterprise_id != quote.enterprise_id:
        raise NoUsableVoucher(f"voucher {named.code} is not this enterprise's")
    invoice = _quote_facts(session, quote, today)
    lines = [QuoteLine(*line) for line in quote.lines]
    policy = pick_year(invoice, named, batch.years, lines, {}, today)
    refuse_by_policy(invoice, policy, (policy.year, quote.provider_id) in batch.approved, today)
    candidates = batch.candidates(quote.enterprise_id, policy.year, named, today)
    if quote.allow_other_vouchers:
        candidates += [v for v in batch.candidates(quote.enterprise_id, policy.year, None, today)
                       if v.id != named.id]
    quoted = subsidy.eligible_for_year(invoice, lines, policy)
    redeemed = session.execute(_ENTERPRISE_REDEEMED, {"e": quote.enterprise_id,
                                                      "y": policy.year}).scalar_one()
    cap_left = policy.enterprise_cap_fen - int(redeemed) - hold_tally.held_in_year(
        session, policy.year, enterprise_id=quote.enterprise_id)
    draws = draw_from(candidates, max(0, min(quoted, cap_left)))
    if not draws:
        raise NothingToRedeem("the quoted lines earn no subsidy, or nothing is left to hold "
                              "on the voucher or under the enterprise's cap")
    return quoted, draws


_ENTERPRISE_REDEEMED = select(func.coalesce(func.sum(
    Redemption.subsidy_fen - Redemption.clawed_back_fen), 0)).where(
    Redemption.enterprise_id == bindparam("e"), Redemption.year == bindparam("y"),
    Redemption.status != "rejected")


def _quote_facts(session: Session, quote: Quote, today: date) -> InvoiceFacts:
    """The quote as the invoice it would become, issued today and paid in full, with what the
    rules ask of its parties (the registry facts `_INVOICES_READ` reads for an invoice)."""
    ent = session.get(Enterprise, quote.enterprise_id)
    prov = session.get(Provider, quote.provider_id)
    claim = None
    if quote.contract_number:
        claim = session.execute(select(OtherSubsidyClaim.programme).where(
            OtherSubsidyClaim.enterprise_id == ent.id,
            OtherSubsidyClaim.contract_number == quote.contract_number).limit(1)).scalar()
    related = session.execute(select(exists().where(
        RelatedPartyPair.enterprise_id == ent.id,
        RelatedPartyPair.provider_id == prov.id))).scalar()
    total = sum(amount for _, amount in quote.lines)
    return InvoiceFacts(
        id="", invoice_key="", invoice_number="", invoice_code=None, provider_id=prov.id,
        enterprise_id=ent.id, issued_on=today, service_start=quote.service_start,
        service_end=quote.service_end, contract_number=quote.contract_number, total_fen=total,
        tax_fen=0, paid_fen=total, reversed_fen=0, created_at=clock.now(), line_amounts=None,
        credit_blocked=ent.credit_blocked, enterprise_uscc=ent.uscc, provider_name=prov.name,
        provider_uscc=prov.uscc, other_programme=claim, related=bool(related), barred=False)


def _write(session: Session, batch: _Batch, accepted: list[tuple[Any, Accepted]]) -> None:
    payables = _payable_accounts(session, [a.row for _, a in accepted])
    hold_accounts = {a.row.year: ledger.account_id(session, a.row.year, hold_tally.ACCOUNT_KIND)
                     for _, a in accepted if a.hold_id}
    redemptions, draws, transfers = [], [], []
    touched: dict[str, Any] = {}
    for w, a in accepted:
        r = a.row
        payable = payables[_owner(r)]
        redemptions.append(r._asdict())
        for n, (voucher, amount) in enumerate(a.draws, start=1):
            draws.append({"redemption_id": r.id, "voucher_id": voucher.id, "draw_no": n,
                          "amount_fen": amount, "restored_fen": 0})
            transfers.append({"id": ids.new_id("trf"), "year": r.year,
                              "debit_account_id": hold_accounts[r.year] if a.hold_id
                              else voucher.ledger_account_id,
                              "credit_account_id": payable, "amount_fen": amount,
                              "kind": "redeem", "reference": r.id,
                              "created_at": r.created_at})
            touched[voucher.id] = voucher
        audit.record(session, action="redemption.create", object_type="redemption",
                     object_id=r.id, by=w.principal, request_id=w.request_id,
                     summary={"invoice_id": r.invoice_id, "year": r.year,
                              "subsidy_fen": r.subsidy_fen,
                              "draws": [{"voucher_id": v.id, "amount_fen": amt}
                                        for v, amt in a.draws],
                              "beneficiary_type": r.beneficiary_type,
                              "beneficiary_id": r.beneficiary_id,
                              **risk_reviews.audit_summary(a)})
    # Paired assertion (TigerBeetle style): what the draws took is what the transfers move.
    assert sum(t["amount_fen"] for t in transfers) == sum(d["amount_fen"] for d in draws)
    insert_many(session, Redemption.__table__, redemptions)
    insert_many(session, RedemptionDraw.__table__, draws)
    risk_reviews.record(session, [a for _, a in accepted], batch.years)
    update_many(session, Voucher.__table__, [
        {"id": v, "balance_fen": batch.balance[v] + batch.held[v],
         "status": "exhausted" if batch.balance[v] + batch.held[v] == 0 else touched[v].status}
        for v in sorted(touched)], key="id", set_=("balance_fen", "status"))
    # The voucher accounts are spent by ledger.post_many's conditional debits; the rules drew
    # no more than each voucher holds, so every leg must apply.
    ledger.post_many(session, transfers)


def _owner(r: RedemptionRow) -> tuple:
    """The account a redemption credits: its beneficiary's payable, or the year's held account
    while it is under review."""
    if r.status == "under_review":
        return (r.year, "held", None, None)
    return (r.year, "payable", r.beneficiary_type, r.beneficiary_id)


def _payable_accounts(session: Session, accepted: list[RedemptionRow]) -> dict[tuple, str]:
    """The beneficiaries' payable accounts, read in one statement (created on first use)."""
    owners = {_owner(a) for a in accepted}
    codes = {ledger.account_code(*owner): owner for owner in owners}
    found = {codes[code]: acc for code, acc in session.connection().execute(
        _ACCOUNTS, {"codes": sorted(codes)})}
    for owner in sorted(owners - found.keys(), key=str):
        found[owner] = ledger.account_id(session, *owner)
    return found


# Kept on the row for the what-if replay, not shown: the invoice as the claim found it.
_SNAPSHOT = ("invoice_paid_fen", "invoice_reversed_fen")


def _public(a: Accepted, principal: Principal) -> dict:
    out = {k: v for k, v in a.row._asdict().items() if k not in _SNAPSHOT}
    out["net_subsidy_fen"] = a.row.subsidy_fen
    out["draws"] = [{"voucher_id": v.id, "amount_fen": amount, "restored_fen": 0}
                    for v, amount in a.draws]
    out["flags"] = disclosure.visible_flags(
        None, principal, [risk_reviews.public_flag(f) for f in a.flags])
    out["risk_score"] = a.risk_score
    if a.review_id:
        out["review_id"] = a.review_id
    return out
