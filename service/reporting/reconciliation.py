"""Reconciliation (PRODUCT.md §3.7): recompute from the ledger transfers and compare with the
entity tables and the policy limits. Each check reports pass/fail and names its discrepancies."""

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, func, literal, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.audit import service as audit
from service.holds.models import Hold, HoldDraw
from service.kit import clock
from service.kit.db import reading
from service.invoices.models import Invoice, UsageStatement
from service.ledger.models import LedgerAccount, LedgerTransfer
from service.redemptions.models import Clawback, Redemption, RedemptionDraw
from service.reporting.budget import RETURN_KINDS
from service.reporting.reconciliation_sql import (
    YearMonth,
    eligible_subsidy,
    prepare_session,
)
from service.settlements.models import Settlement, SettlementLine
from service.vouchers.models import EnterpriseYear, Voucher
from service.years.models import BudgetYear
from service.years.service import get_year

MAX_LISTED = 100  # discrepancies listed per check; the count is always complete


def check(name: str, expected: Any, actual: Any, discrepancies: list[dict]) -> dict[str, Any]:
    return {"name": name, "ok": not discrepancies, "expected": expected, "actual": actual,
            "discrepancy_count": len(discrepancies), "discrepancies": discrepancies[:MAX_LISTED]}


def reconcile(session: Session, year_number: int) -> dict[str, Any]:
    year = get_year(session, year_number)
    prepare_session(session)
    with ThreadPoolExecutor(max_workers=1) as pool:
        bind = session.get_bind()
        # The chain check is Python hashing, the rest is the database aggregating: on its own
        # connection the chain check runs while the database works. (A session bound to one
        # connection cannot be shared with a thread, so it checks the chain in line.)
        chain = pool.submit(_audit_chain_apart, bind) if isinstance(bind, Engine) else None
        posted = _posted_from_transfers(session, year.year)
        accounts = accounts_of(session, year.year)
        checks = [
            _transfers_valid(session, year.year),
            _account_totals(accounts, posted),
            _balance_limits(accounts, posted),
            _voucher_balances(session, year.year, accounts, posted),
            _pool_limit(session, year, accounts, posted),
            _enterprise_caps(session, year),
            _invoice_subsidy(session, year),
            _payables(session, year.year, accounts, posted),
            _settlements_paid(session, year.year, accounts, posted),
            _receivables(session, year.year, accounts, posted),
            _holds(session, year.year, accounts, posted),
        ]
        usage = _usage_statements(session, year.year)
        checks += [chain.result() if chain else _audit_chain(session), usage]
    return {"year": year.year, "ok": all(c["ok"] for c in checks), "checks": checks,
            "pending_holds_over_7_days": _stale_holds(session, year.year)}


def accounts_of(session: Session, year: int) -> list:
    """The year's ledger accounts as plain rows of what the checks read (tens of thousands in a
    large year: no ORM entities, no timestamps)."""
    return session.execute(accounts_query(year)).all()


def accounts_query(year: int):
    """accounts_of's statement (the incremental run joins the recorded totals to it)."""
    A = LedgerAccount
    return select(A.id, A.code, A.kind, A.owner_type, A.owner_id, A.debits_posted_fen,
                  A.credits_posted_fen, A.must_not_go_negative, A.must_not_go_positive) \
        .where(A.year == year)


def _posted_from_transfers(session: Session, year: int) -> dict[str, list[int]]:
    """account id → [debits, credits] recomputed from the transfers."""
    posted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for account_id, total in session.execute(
            select(LedgerTransfer.debit_account_id, func.sum(LedgerTransfer.amount_fen))
            .where(LedgerTransfer.year == year).group_by(LedgerTransfer.debit_account_id)):
        posted[account_id][0] = int(total)
    for account_id, total in session.execute(
            select(LedgerTransfer.credit_account_id, func.sum(LedgerTransfer.amount_fen))
            .where(LedgerTransfer.year == year).group_by(LedgerTransfer.credit_account_id)):
        posted[account_id][1] = int(total)
    return posted


def _balance(posted: dict[str, list[int]], account_id: str) -> int:
    debits, credits = posted.get(account_id, (0, 0))
    return credits - debits


def _transfers_valid(session: Session, year: int) -> dict[str, Any]:
    bad = session.exec(select(LedgerTransfer).where(
        LedgerTransfer.year == year,
        or_(LedgerTransfer.amount_fen <= 0,
            LedgerTransfer.debit_account_id == LedgerTransfer.credit_account_id))
        .limit(MAX_LISTED)).all()
    count = session.exec(select(func.count()).select_from(LedgerTransfer)
                         .where(LedgerTransfer.year == year)).one()
    return check("transfers_positive_and_balanced", "every transfer positive, two accounts",
                 f"{count} transfers",
                 [{"transfer_id": t.id, "amount_fen": t.amount_fen, "kind": t.kind}
                  for t in bad])


def _account_totals(accounts: list[LedgerAccount], posted) -> dict[str, Any]:
    issues = []
    for a in accounts:
        debits, credits = posted.get(a.id, (0, 0))
        if (a.debits_posted_fen, a.credits_posted_fen) != (debits, credits):
            issues.append({"account": a.code, "stored_debits_fen": a.debits_posted_fen,
                           "stored_credits_fen": a.credits_posted_fen,
                           "transfer_debits_fen": debits, "transfer_credits_fen": credits})
    return check("account_totals_match_transfers", "account totals = Σ transfers",
                 f"{len(accounts)} accounts", issues)


def _balance_limits(accounts: list[LedgerAccount], posted) -> dict[str, Any]:
    issues = []
    for a in accounts:
        balance = _balance(posted, a.id)
        if a.must_not_go_negative and balance < 0 or a.must_not_go_positive and balance > 0:
            issues.append({"account": a.code, "balance_fen": balance})
    return check("balances_within_limits", "no forbidden negative or positive balance",
                 f"{len(accounts)} accounts", issues)


def _voucher_balances(session: Session, year: int, accounts, posted,
                      only: set[str] | None = None) -> dict[str, Any]:
    """A voucher's balance counts what its pending holds reserve; its ledger account does not
    (those fen sit in the year's hold account until the hold resolves: docs/holds.md). With
    `only` (the incremental run), face − returned − drawn is recomputed for those vouchers
    alone; every voucher's balance is still compared with the ledger."""
    by_owner = {a.owner_id: a for a in accounts if a.kind == "voucher"}
    in_holds = dict(session.execute(
        select(HoldDraw.voucher_id, func.sum(HoldDraw.amount_fen))
        .join(Hold, Hold.id == HoldDraw.hold_id)
        .where(Hold.year == year, Hold.status == "pending")
        .group_by(HoldDraw.voucher_id)).all())
    draws = (select(RedemptionDraw.voucher_id,
                    func.sum(RedemptionDraw.amount_fen - RedemptionDraw.restored_fen))
             .join(Voucher, Voucher.id == RedemptionDraw.voucher_id).where(Voucher.year == year)
             .group_by(RedemptionDraw.voucher_id))
    if only is not None:
        draws = draws.where(RedemptionDraw.voucher_id.in_(sorted(only)))
    drawn = dict(session.execute(draws).all())
    issues, total = [], 0
    for v in session.execute(select(Voucher.id, Voucher.code, Voucher.face_fen,
                                    Voucher.returned_fen, Voucher.balance_fen)
                             .where(Voucher.year == year)):
        total += 1
        account = by_owner.get(v.id)
        ledger_balance = (_balance(posted, account.id) if account else 0) + int(
            in_holds.get(v.id) or 0)
        from_draws = v.face_fen - v.returned_fen - int(drawn.get(v.id) or 0) \
            if only is None or v.id in only else ledger_balance
        if not v.balance_fen == ledger_balance == from_draws:
            issues.append({"voucher_id": v.id, "code": v.code, "balance_fen": v.balance_fen,
                           "ledger_balance_fen": ledger_balance,
                           "face_less_returned_less_drawn_fen": from_draws})
    return check("voucher_balances_match_ledger", "voucher balance = ledger + pending holds = "
                 "face − returned − drawn", f"{total} vouchers", issues)


def _holds(session: Session, year: int, accounts, posted) -> dict[str, Any]:
    """What pending holds reserve is what the year's hold account holds (docs/holds.md). A hold
    past its expiry that the ledger has not yet released is still pending in both."""
    pending = int(session.execute(select(func.coalesce(func.sum(Hold.amount_fen), 0)).where(
        Hold.year == year, Hold.status == "pending")).scalar_one())
    in_ledger = sum(_balance(posted, a.id) for a in accounts if a.kind == "hold")
    issues = [] if pending == in_ledger else [{"pending_holds_fen": pending,
                                               "hold_account_fen": in_ledger}]
    return check("pending_holds_match_ledger", "pending holds = the hold account",
                 f"{pending} fen held", issues)


def _stale_holds(session: Session, year: int) -> list[dict[str, Any]]:
    """Holds still pending a week after they were placed, oldest first."""
    cutoff = clock.now() - timedelta(days=7)
    return [{"hold_id": h.id, "enterprise_id": h.enterprise_id, "provider_id": h.provider_id,
             "amount_fen": h.amount_fen, "created_at": h.created_at.isoformat(),
             "expires_at": h.expires_at.isoformat()}
            for h in session.exec(select(Hold).where(
                Hold.year == year, Hold.status == "pending", Hold.created_at < cutoff)
                .order_by(Hold.created_at, Hold.id).limit(MAX_LISTED))]


def _pool_limit(session: Session, year: BudgetYear, accounts, posted,
                kind_totals: dict[str, int] | None = None) -> dict[str, Any]:
    totals = defaultdict(int, kind_totals or {})
    if kind_totals is None:
        for kind, amount in session.execute(
                select(LedgerTransfer.kind, func.sum(LedgerTransfer.amount_fen))
                .where(LedgerTransfer.year == year.year).group_by(LedgerTransfer.kind)):
            totals[kind] = int(amount)
    net_issued = totals["issue"] - sum(totals[k] for k in RETURN_KINDS)
    pool = next((a for a in accounts if a.kind == "pool"), None)
    pool_balance = _balance(posted, pool.id) if pool else 0
    face = session.exec(select(func.coalesce(func.sum(Voucher.face_fen - Voucher.returned_fen), 0))
                        .where(Voucher.year == year.year)).one()
    issues = []
    if net_issued > year.pool_fen:
        issues.append({"problem": "issued less returned exceeds the pool",
                       "net_issued_fen": net_issued, "pool_fen": year.pool_fen})
    if pool_balance != year.pool_fen - net_issued:
        issues.append({"problem": "pool account ≠ pool − issued + returned",
                       "pool_account_fen": pool_balance,
                       "expected_fen": year.pool_fen - net_issued})
    if int(face) != net_issued:
        issues.append({"problem": "vouchers' face − returned ≠ ledger issued − returned",
                       "vouchers_fen": int(face), "ledger_fen": net_issued})
    return check("pool_limit", {"pool_fen": year.pool_fen},
                 {"net_issued_fen": net_issued, "pool_account_fen": pool_balance}, issues)


def _enterprise_caps(session: Session, year: BudgetYear) -> dict[str, Any]:
    """Each enterprise's vouchers, face less returned, within the cap and equal to what its
    counter reserves; compared in the database, which returns only the enterprises that differ."""
    net = (select(Voucher.enterprise_id, func.sum(Voucher.face_fen - Voucher.returned_fen)
                  .label("net"))
           .where(Voucher.year == year.year).group_by(Voucher.enterprise_id).subquery("net"))
    reserved = func.coalesce(EnterpriseYear.reserved_fen, 0)
    rows = session.execute(
        select(net.c.enterprise_id, net.c.net, reserved)
        .outerjoin(EnterpriseYear, (EnterpriseYear.enterprise_id == net.c.enterprise_id)
                   & (EnterpriseYear.year == year.year))
        .where(or_(net.c.net > year.enterprise_cap_fen, reserved != net.c.net))
        .order_by(net.c.enterprise_id)).all()
    count = session.execute(select(func.count(func.distinct(Voucher.enterprise_id)))
                            .where(Voucher.year == year.year)).scalar_one()
    issues = [{"enterprise_id": enterprise_id, "vouchers_net_fen": int(vouchers_net),
               "reserved_fen": int(reserved_fen), "cap_fen": year.enterprise_cap_fen}
              for enterprise_id, vouchers_net, reserved_fen in rows]
    return check("enterprise_caps", {"cap_fen": year.enterprise_cap_fen},
                 f"{count} enterprises", issues)


def _invoice_subsidy(session: Session, year: BudgetYear, only=None) -> dict[str, Any]:
    """`only`, a select of invoice ids (the incremental run): those invoices alone."""
    scope = [Redemption.year == year.year] + \
        ([] if only is None else [Redemption.invoice_id.in_(only)])
    redeemed = (select(Redemption.invoice_id,
                       func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen).label("net"))
                .where(*scope).group_by(Redemption.invoice_id)
                .cte("redeemed"))
    compared = eligible_subsidy(year, redeemed).subquery("compared")
    violators = session.execute(
        select(compared.c.invoice_id, compared.c.net, compared.c.eligible_fen)
        .where(compared.c.net > compared.c.eligible_fen)
        .order_by(compared.c.invoice_id)).all()
    count = session.execute(select(func.count()).select_from(
        select(Redemption.invoice_id).where(*scope).distinct().subquery())
    ).scalar_one()
    issues = [{"invoice_id": invoice_id, "redeemed_fen": int(net), "eligible_fen": int(eligible)}
              for invoice_id, net, eligible in violators]
    return check("invoice_subsidy_within_eligible", "Σ redemptions ≤ eligible subsidy",
                 f"{count} invoices", issues)


def _payables(session: Session, year: int, accounts, posted,
              only: set[tuple] | None = None) -> dict[str, Any]:
    """With `only` (the incremental run), those beneficiaries (and ("held", "")) alone."""
    ids = None if only is None else sorted({b_id for _, b_id in only if b_id})

    def scoped(stmt, column):
        return stmt if ids is None else stmt.where(column.in_(ids))

    def redemptions(stmt):
        # A redemption's beneficiary is its enterprise or its provider (redemptions/redeem.py):
        # their indexes find a few beneficiaries' redemptions without reading the others.
        if ids is None:
            return stmt
        of = {kind: sorted(b_id for t, b_id in only if t == kind)
              for kind in ("enterprise", "provider")}
        return stmt.where(or_(Redemption.enterprise_id.in_(of["enterprise"]),
                              Redemption.provider_id.in_(of["provider"])))
    expected: dict[tuple, int] = defaultdict(int)
    # Redeemed less what reversals took back before settlement: all that was taken back, less
    # what was taken back after settlement (the clawbacks, owed by the beneficiary instead).
    for b_type, b_id, net in session.execute(redemptions(
            select(Redemption.beneficiary_type, Redemption.beneficiary_id,
                   func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen))
            .where(Redemption.year == year, Redemption.status != "under_review")
            .group_by(Redemption.beneficiary_type, Redemption.beneficiary_id))):
        expected[(b_type, b_id)] += int(net)
    # Held for review (docs/risk.md): in the year's held account, not yet anyone's payable.
    held = None if only is not None and ("held", "") not in only else session.execute(
        select(func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen))
        .where(Redemption.year == year, Redemption.status == "under_review")).scalar()
    if held:
        expected[("held", "")] += int(held)
    for b_type, b_id, clawed in session.execute(scoped(
            select(Clawback.beneficiary_type, Clawback.beneficiary_id,
                   func.sum(Clawback.amount_fen)).where(Clawback.year == year)
            .group_by(Clawback.beneficiary_type, Clawback.beneficiary_id),
            Clawback.beneficiary_id)):
        expected[(b_type, b_id)] += int(clawed)
    for b_type, b_id, settled in session.execute(scoped(
            select(SettlementLine.beneficiary_type, SettlementLine.beneficiary_id,
                   func.sum(SettlementLine.gross_fen))
            .join(Settlement, Settlement.id == SettlementLine.settlement_id)
            # A withheld line (frozen by an objection, docs/notice.md) left the batch unpaid.
            .where(Settlement.year == year, Settlement.status == "paid",
                   SettlementLine.withheld.is_(False))
            .group_by(SettlementLine.beneficiary_type, SettlementLine.beneficiary_id),
            SettlementLine.beneficiary_id)):
        expected[(b_type, b_id)] -= int(settled)
    actual = {(a.owner_type, a.owner_id): _balance(posted, a.id)
              for a in accounts if a.kind == "payable"}
    for held_account in (a for a in accounts if a.kind == "held"):
        actual[("held", "")] = _balance(posted, held_account.id)
    if only is not None:
        expected = defaultdict(int, {k: v for k, v in expected.items() if k in only})
        actual = {k: v for k, v in actual.items() if k in only}
    issues = [{"beneficiary_type": k[0], "beneficiary_id": k[1], "expected_fen": expected.get(k, 0),
               "ledger_fen": actual.get(k, 0)}
              for k in sorted(set(expected) | set(actual)) if expected.get(k, 0) != actual.get(k, 0)]
    return check("payable_equals_redeemed_less_settled", sum(expected.values()),
                 sum(actual.values()), issues)


def _settlements_paid(session: Session, year: int, accounts, posted) -> dict[str, Any]:
    paid_lines = dict(session.execute(
        select(Settlement.id, func.sum(SettlementLine.amount_fen))
        .join(SettlementLine, SettlementLine.settlement_id == Settlement.id)
        .where(Settlement.year == year, Settlement.status == "paid",
               SettlementLine.withheld.is_(False))
        .group_by(Settlement.id)).all())
    totals = dict(session.execute(select(Settlement.id, Settlement.total_fen).where(
        Settlement.year == year, Settlement.status == "paid")).all())
    transfers = dict(session.execute(
        select(LedgerTransfer.reference, func.sum(LedgerTransfer.amount_fen))
        .where(LedgerTransfer.year == year, LedgerTransfer.kind == "payout")
        .group_by(LedgerTransfer.reference)).all())
    issues = []
    for sid in sorted(set(totals) | set(transfers)):
        line_sum, total, moved = (int(paid_lines.get(sid) or 0), int(totals.get(sid) or 0),
                                  int(transfers.get(sid) or 0))
        if not line_sum == total == moved:
            issues.append({"settlement_id": sid, "total_fen": total, "lines_fen": line_sum,
                           "payout_transfers_fen": moved})
    paid_account = next((a for a in accounts if a.kind == "paid"), None)
    paid_balance = _balance(posted, paid_account.id) if paid_account else 0
    expected = sum(int(v) for v in totals.values())
    if paid_balance != expected:
        issues.append({"problem": "paid-out account ≠ Σ paid settlements",
                       "paid_account_fen": paid_balance, "settlements_fen": expected})
    return check("settlements_paid_equal_payouts", expected, paid_balance, issues)


def _receivables(session: Session, year: int, accounts, posted) -> dict[str, Any]:
    owed: dict[tuple, int] = defaultdict(int)
    for b_type, b_id, amount, recovered in session.execute(
            select(Clawback.beneficiary_type, Clawback.beneficiary_id,
                   func.sum(Clawback.amount_fen), func.sum(Clawback.recovered_fen))
            .where(Clawback.year == year)
            .group_by(Clawback.beneficiary_type, Clawback.beneficiary_id)):
        owed[(b_type, b_id)] = int(amount) - int(recovered)
    actual = {(a.owner_type, a.owner_id): -_balance(posted, a.id)
              for a in accounts if a.kind == "receivable"}
    issues = [{"beneficiary_type": k[0], "beneficiary_id": k[1], "clawbacks_owed_fen":
               owed.get(k, 0), "ledger_receivable_fen": actual.get(k, 0)}
              for k in sorted(set(owed) | set(actual)) if owed.get(k, 0) != actual.get(k, 0)]
    return check("clawbacks_equal_receivables", sum(owed.values()), sum(actual.values()), issues)


def _audit_chain(session: Session) -> dict[str, Any]:
    result = audit.verify_since_checkpoint(session)
    issues = [] if result["ok"] else [{"first_broken_seq": result["first_broken_seq"],
                                        "problem": result["problem"]}]
    return check("audit_chain_intact", "unbroken SM3 chain", f"{result['checked']} events",
                 issues)


def _audit_chain_apart(engine: Engine) -> dict[str, Any]:
    with Session(reading(engine)) as session:
        prepare_session(session)
        return _audit_chain(session)


def _usage_statements(session: Session, year: int,
                      only: set[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    """`only`, (provider_id, enterprise_id, 'YYYY-MM') keys (the incremental run): those
    statement lines alone (_usage_statements_of)."""
    if only is not None:
        return _usage_statements_of(session, year, only)
    month = YearMonth(Invoice.issued_on)
    invoiced = (select(Invoice.provider_id, Invoice.enterprise_id, month.label("month"),
                       func.sum(Invoice.total_fen - Invoice.reversed_fen).label("net"))
                .where(Invoice.issued_on >= literal(date(year, 1, 1), Date),
                       Invoice.issued_on < literal(date(year + 1, 1, 1), Date))
                .group_by(Invoice.provider_id, Invoice.enterprise_id, month)
                .subquery("invoiced"))
    this_year = UsageStatement.month.like(f"{year}-%")
    net = func.coalesce(invoiced.c.net, 0)
    mismatched = session.execute(
        select(UsageStatement.provider_id, UsageStatement.enterprise_id, UsageStatement.month,
               UsageStatement.billed_fen, net)
        .outerjoin(invoiced, (invoiced.c.provider_id == UsageStatement.provider_id)
                   & (invoiced.c.enterprise_id == UsageStatement.enterprise_id)
                   & (invoiced.c.month == UsageStatement.month))
        .where(this_year, UsageStatement.billed_fen != net)
        .order_by(UsageStatement.month, UsageStatement.provider_id,
                  UsageStatement.enterprise_id)).all()
    count = session.execute(select(func.count()).select_from(UsageStatement)
                            .where(this_year)).scalar_one()
    issues = [{"provider_id": provider_id, "enterprise_id": enterprise_id, "month": month_,
               "statement_fen": billed, "invoiced_fen": int(invoiced_fen)}
              for provider_id, enterprise_id, month_, billed, invoiced_fen in mismatched]
    return check("usage_statements_match_invoices", "statement = Σ net invoices of the month",
                 f"{count} statement lines", issues)


def _usage_statements_of(session: Session, year: int,
                         keys: set[tuple[str, str, str]]) -> dict[str, Any]:
    """The usage check for a few (provider, enterprise, month) keys: their enterprises'
    statement lines and invoices of the year read by the enterprise indexes, compared here."""
    keys = {k for k in keys if k[2].startswith(f"{year}-")}
    enterprises = sorted({k[1] for k in keys})
    billed = {} if not keys else {
        (p, e, m): b for p, e, m, b in session.execute(
            select(UsageStatement.provider_id, UsageStatement.enterprise_id,
                   UsageStatement.month, UsageStatement.billed_fen)
            .where(UsageStatement.enterprise_id.in_(enterprises),
                   UsageStatement.month.like(f"{year}-%")))
        if (p, e, m) in keys}
    month = YearMonth(Invoice.issued_on)
    months = sorted({int(k[2][5:7]) for k in billed}) or [1]
    first, after = date(year, months[0], 1), \
        date(year + months[-1] // 12, months[-1] % 12 + 1, 1)
    invoiced = {} if not billed else dict(
        ((p, e, m), int(net)) for p, e, m, net in session.execute(
            select(Invoice.provider_id, Invoice.enterprise_id, month,
                   func.sum(Invoice.total_fen - Invoice.reversed_fen))
            .where(Invoice.enterprise_id.in_(sorted({k[1] for k in billed})),
                   Invoice.issued_on >= literal(first, Date),
                   Invoice.issued_on < literal(after, Date))
            .group_by(Invoice.provider_id, Invoice.enterprise_id, month)))
    issues = [{"provider_id": p, "enterprise_id": e, "month": m, "statement_fen": b,
               "invoiced_fen": invoiced.get((p, e, m), 0)}
              for (p, e, m), b in sorted(billed.items(), key=lambda kv: (kv[0][2], kv[0][0],
                                                                         kv[0][1]))
              if b != invoiced.get((p, e, m), 0)]
    return check("usage_statements_match_invoices", "statement = Σ net invoices of the month",
                 f"{len(billed)} statement lines", issues)
