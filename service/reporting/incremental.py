"""Reconciliation that reads only what changed (docs/reconciliation.md).

Each clean reconciliation records a watermark: the ledger transfers created before
`covered_before` (their count, Σ amount, Σ row hash, Σ per kind, and per account Σ debits and
Σ credits in reconciliation_account_total) and the audit chain up to its head. The next run adds
the transfers created since to those running totals and compares every account, voucher and
policy figure with them; the checks over the large entity tables (invoices, redemptions,
statements) read only the invoices and beneficiaries the new transfers touched. One pass over
the old transfers' hash notices an old transfer edited, added or removed; then (or without a
watermark, or when the audit event it ended at changed) it runs the full reconciliation."""

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, union, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.audit import service as audit
from service.audit.models import AuditChainHead, AuditEvent
from service.invoices.models import Invoice, UsageStatement
from service.kit import clock
from service.kit.db import reading, run_transaction
from service.kit.timestamps import in_shanghai
from service.ledger.models import LedgerAccount, LedgerTransfer
from service.redemptions.models import Clawback, Redemption
from service.reporting import reconciliation as rec
from service.reporting.models import ReconciliationAccountTotal, ReconciliationWatermark
from service.reporting.reconciliation_sql import RowChecksum, YearMonth, prepare_session
from service.years.service import get_year

# Transfers created within this of the run are read again by the next one: a transaction that
# took its timestamp before the run may commit after it (far longer than any transaction here).
MARGIN = timedelta(minutes=10)
T = LedgerTransfer


def reconcile(session: Session, year_number: int, *, full: bool = False,
              record_on: Engine | None = None) -> dict[str, Any]:
    """The reconciliation of a year with `kind`, `since` and `fallback`; when clean, its
    watermark is recorded (in a transaction of its own on `record_on`)."""
    year = get_year(session, year_number)
    prepare_session(session)
    mark = None if full else session.get(ReconciliationWatermark, year.year)
    fallback = None if full else _unusable(session, mark)
    bound = clock.now() - MARGIN
    if mark is not None:
        session.expunge(mark)  # read, never written back from this session
        mark.covered_before = in_shanghai(mark.covered_before)
        bound = max(bound, mark.covered_before)
    base, new = None, []
    if not (full or fallback):
        bind = session.get_bind()
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The one pass over every old transfer runs on its own connection meanwhile (a
            # session bound to one connection cannot be shared: then it runs in line).
            old = pool.submit(_old_transfers_apart, bind, mark) \
                if isinstance(bind, Engine) else None
            accounts, base = _accounts_and_totals(session, year.year)
            new = _transfers_since(session, year.year, mark.covered_before)
            result = _incremental(session, year, mark, accounts, base, new)
            fallback = old.result() if old else _old_transfers_changed(session, mark)
        if fallback:
            base, new = None, []
    if full or fallback:
        result = rec.reconcile(session, year.year)
    result.update(kind="full" if full or fallback else "incremental", fallback=fallback,
                  since=None if mark is None or full else _since(mark))
    if result["ok"] and record_on is not None:
        state = _next_state(session, year.year, mark if base is not None else None, base, new,
                            bound, "full" if base is None else "incremental")
        session.rollback()  # the read is over: its snapshot and connection go before the write
        run_transaction(record_on, lambda s: _record(s, state))
    return result


def _since(mark: ReconciliationWatermark) -> dict[str, Any]:
    return {"run": mark.run, "kind": mark.kind, "covered_before": mark.covered_before,
            "transfer_count": mark.transfer_count, "audit_seq": mark.audit_seq,
            "recorded_at": mark.recorded_at}


def _unusable(session: Session, mark: ReconciliationWatermark | None) -> str | None:
    """Why the watermark cannot be built on (then the full reconciliation runs), or None."""
    if mark is None:
        return "no clean reconciliation of this year yet"
    if mark.audit_seq:
        anchor = session.execute(select(AuditEvent.hash)
                                 .where(AuditEvent.seq == mark.audit_seq)).scalar()
        if anchor != mark.audit_hash:
            return "the audit event the watermark ends at is missing or changed"
    return None


def _old_transfers_changed(session: Session, mark) -> str | None:
    if _old_sums(session, mark.year, mark.covered_before) != (
            mark.transfer_count, mark.transfer_fen, mark.transfer_checksum):
        return "ledger transfers the watermark covers were changed, added or removed since"
    return None


def _old_transfers_apart(engine: Engine, mark) -> str | None:
    with Session(reading(engine)) as session:
        if engine.dialect.name == "postgresql":
            # One core for this scan: the rest of the run is on the other one meanwhile.
            session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        return _old_transfers_changed(session, mark)


def _checksum():
    return RowChecksum(T.id, T.debit_account_id, T.credit_account_id, T.amount_fen, T.kind,
                       T.reference)


def _accounts_and_totals(session: Session, year: int) -> tuple[list, dict[str, list[int]]]:
    """The year's accounts (rec.accounts_of) and, by account, the debits and credits the
    watermark recorded, in one read."""
    R = ReconciliationAccountTotal
    accounts = session.execute(
        rec.accounts_query(year).add_columns(R.debits_fen, R.credits_fen)
        .outerjoin(R, (R.year == year) & (R.account_id == LedgerAccount.id))).all()
    return accounts, {a.id: [int(a.debits_fen), int(a.credits_fen)] for a in accounts
                      if a.debits_fen is not None}


def _transfers_since(session: Session, year: int, since) -> list:
    """The year's transfers created at or after `since`, each with its row hash."""
    return list(session.execute(
        select(T.id, T.debit_account_id, T.credit_account_id, T.amount_fen, T.kind, T.reference,
               T.created_at, _checksum()).where(T.year == year, T.created_at >= since)))


def _incremental(session: Session, year, mark, accounts, base, new) -> dict[str, Any]:
    posted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for account_id, totals in base.items():
        posted[account_id] = list(totals)
    kinds = defaultdict(int, mark.kind_totals)
    for row in new:
        posted[row.debit_account_id][0] += row.amount_fen
        posted[row.credit_account_id][1] += row.amount_fen
        kinds[row.kind] += row.amount_fen
    by_id = {a.id: a for a in accounts}
    touched = [by_id[i] for i in {r.debit_account_id for r in new}
               | {r.credit_account_id for r in new} if i in by_id]
    vouchers = {a.owner_id for a in touched if a.kind == "voucher"}
    beneficiaries = {(a.owner_type, a.owner_id) for a in touched
                     if a.kind in ("payable", "receivable")}
    beneficiaries |= {("held", "")} if any(a.kind == "held" for a in touched) else set()
    references = select(T.reference).where(T.year == year.year,
                                           T.created_at >= mark.covered_before)
    # A reversal's transfers name the redemption, a clawback's the clawback.
    invoices = select(Redemption.invoice_id).where(Redemption.id.in_(union(
        references, select(Clawback.redemption_id).where(Clawback.id.in_(references)))))
    checks = [
        _new_transfers_valid(mark, new),
        rec._account_totals(accounts, posted),
        rec._balance_limits(accounts, posted),
        rec._voucher_balances(session, year.year, accounts, posted, only=vouchers),
        rec._pool_limit(session, year, accounts, posted, kind_totals=dict(kinds)),
        rec._enterprise_caps(session, year),
        rec._invoice_subsidy(session, year, only=invoices),
        rec._payables(session, year.year, accounts, posted, only=beneficiaries),
        rec._settlements_paid(session, year.year, accounts, posted),
        rec._receivables(session, year.year, accounts, posted),
        rec._holds(session, year.year, accounts, posted),
        _audit_chain(session, mark),
        rec._usage_statements(session, year.year, only=_usage_keys(session, mark, invoices)),
    ]
    return {"year": year.year, "ok": all(c["ok"] for c in checks), "checks": checks,
            "pending_holds_over_7_days": rec._stale_holds(session, year.year)}


def _new_transfers_valid(mark, new) -> dict[str, Any]:
    bad = [r for r in new if r.amount_fen <= 0 or r.debit_account_id == r.credit_account_id]
    return rec.check("transfers_positive_and_balanced", "every transfer positive, two accounts",
                     f"{mark.transfer_count + len(new)} transfers",
                     [{"transfer_id": r.id, "amount_fen": r.amount_fen, "kind": r.kind}
                      for r in bad[:rec.MAX_LISTED]])


def _audit_chain(session: Session, mark) -> dict[str, Any]:
    result = audit.verify_since(session, seq=mark.audit_seq, hash=mark.audit_hash)
    issues = [] if result["ok"] else [{"first_broken_seq": result["first_broken_seq"],
                                        "problem": result["problem"]}]
    return rec.check("audit_chain_intact", "unbroken SM3 chain", f"{result['checked']} events",
                     issues)


def _usage_keys(session: Session, mark, invoices) -> set[tuple[str, str, str]]:
    """(provider, enterprise, month) of the statements and invoices written since the
    watermark and of the invoices the new transfers' redemptions are for."""
    since = mark.covered_before
    month = YearMonth(Invoice.issued_on)
    return {tuple(row) for row in session.execute(union(
        select(UsageStatement.provider_id, UsageStatement.enterprise_id, UsageStatement.month)
        .where(UsageStatement.created_at >= since),
        select(Invoice.provider_id, Invoice.enterprise_id, month)
        .where(Invoice.created_at >= since),
        select(Invoice.provider_id, Invoice.enterprise_id, month)
        .where(Invoice.id.in_(invoices))))}


def _next_state(session: Session, year: int, mark, base, new, bound, kind) -> dict[str, Any]:
    """The watermark a clean run leaves: the totals up to `bound` (from the previous watermark
    and the new transfers before `bound`, or, after a full run, from every transfer)."""
    if base is None:
        base, (count, fen, checksum), kinds = {}, _old_sums(session, year, bound), {}
        totals = _sums_by_account(session, year, bound)
        kinds = {k: int(v) for k, v in session.execute(
            select(T.kind, func.sum(T.amount_fen))
            .where(T.year == year, T.created_at < bound).group_by(T.kind))}
    else:
        count, fen, checksum = mark.transfer_count, mark.transfer_fen, mark.transfer_checksum
        kinds, totals = dict(mark.kind_totals), {k: list(v) for k, v in base.items()}
        for row in new:
            if _before(row.created_at, bound):
                totals.setdefault(row.debit_account_id, [0, 0])[0] += row.amount_fen
                totals.setdefault(row.credit_account_id, [0, 0])[1] += row.amount_fen
                kinds[row.kind] = kinds.get(row.kind, 0) + row.amount_fen
                count, fen, checksum = count + 1, fen + row.amount_fen, checksum + int(row[7])
    head = session.get(AuditChainHead, audit.HEAD_ID)
    changed = {k: v for k, v in totals.items() if base.get(k) != v}
    return {"year": year, "run": mark.run if mark is not None else None, "kind": kind,
            "covered_before": bound, "transfer_count": count, "transfer_fen": fen,
            "transfer_checksum": checksum, "kind_totals": kinds,
            "audit_seq": head.last_seq if head else 0,
            "audit_hash": head.last_hash if head else audit.GENESIS_HASH,
            "totals": changed, "replace": mark is None}


def _old_sums(session: Session, year: int, before) -> tuple[int, int, int]:
    """Count, Σ amount and Σ row hash of the year's transfers created before `before`."""
    row = session.execute(select(func.count(), func.coalesce(func.sum(T.amount_fen), 0),
                                 func.coalesce(func.sum(_checksum()), 0))
                          .where(T.year == year, T.created_at < before)).one()
    return tuple(int(v) for v in row)


def _sums_by_account(session: Session, year: int, before) -> dict[str, list[int]]:
    totals: dict[str, list[int]] = {}
    for side, column in ((0, T.debit_account_id), (1, T.credit_account_id)):
        for account_id, amount in session.execute(
                select(column, func.sum(T.amount_fen))
                .where(T.year == year, T.created_at < before).group_by(column)):
            totals.setdefault(account_id, [0, 0])[side] = int(amount)
    return totals


def _before(created_at, bound) -> bool:
    return in_shanghai(created_at) < bound


def _record(session: Session, state: dict[str, Any]) -> None:
    """Move the year's watermark on from the one this run started from; if another run moved
    it first, leave it (the next run starts from that one)."""
    year, totals, base_run = state.pop("year"), state.pop("totals"), state.pop("run")
    replace = state.pop("replace")
    W = ReconciliationWatermark
    values = {**state, "recorded_at": clock.now()}
    if base_run is None:
        current = session.get(W, year)
        session.execute(delete(W).where(W.year == year))
        values["run"] = (current.run + 1) if current else 1
        session.add(W(year=year, **values))
    else:
        moved = session.execute(update(W).where(W.year == year, W.run == base_run)
                                .values(run=base_run + 1, **values)).rowcount
        if moved != 1:
            return
    A = ReconciliationAccountTotal
    if replace:
        session.execute(delete(A).where(A.year == year))
    else:
        session.execute(delete(A).where(A.year == year, A.account_id.in_(list(totals))))
    session.add_all([A(year=year, account_id=k, debits_fen=d, credits_fen=c)
                     for k, (d, c) in totals.items()])
    session.flush()
