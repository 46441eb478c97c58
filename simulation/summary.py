"""The figures of a simulated year, read back from the database: counts of every kind of row,
redemptions and vouchers by status, the settlement batches, and the budget from the ledger
accounts (`voucher demo` prints them)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.audit.models import AuditEvent
from service.kit.db import run_transaction
from service.invoices.models import Invoice, InvoiceLine, InvoicePayment, InvoiceReversal
from service.ledger.models import LedgerAccount
from service.redemptions.models import Clawback, Redemption
from service.registry.models import (
    ApprovedProvider,
    Enterprise,
    OtherSubsidy,
    Provider,
    RelatedParty,
)
from service.settlements.models import Settlement
from service.vouchers.models import Application, Voucher


def summary(engine: Engine, year: int) -> dict:
    """Counts and budget figures of one year, the budget read from the ledger accounts."""
    return run_transaction(engine, lambda session: _read(session, year))


def _read(session: Session, year: int) -> dict:
    def count(model, *where) -> int:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())

    def by_status(model) -> dict[str, int]:
        rows = session.exec(select(model.status, func.count()).where(model.year == year)
                            .group_by(model.status)).all()
        return {status: int(n) for status, n in sorted(rows)}

    batches = session.exec(select(Settlement).where(Settlement.year == year)
                           .order_by(Settlement.cutoff)).all()
    return {
        "year": year,
        "enterprises": count(Enterprise),
        "credit_blocked": count(Enterprise, Enterprise.credit_blocked.is_(True)),
        "providers": count(Provider),
        "approved_providers": count(ApprovedProvider, ApprovedProvider.year == year),
        "related_parties": count(RelatedParty),
        "other_subsidies": count(OtherSubsidy),
        "applications": by_status(Application),
        "vouchers": by_status(Voucher),
        "invoices": count(Invoice),
        "invoice_lines": count(InvoiceLine),
        "invoiced_fen": int(session.exec(select(func.coalesce(func.sum(Invoice.total_fen), 0))
                                         ).one()),
        "payments": count(InvoicePayment),
        "reversals": count(InvoiceReversal),
        "redemptions": by_status(Redemption),
        "clawbacks": count(Clawback, Clawback.year == year),
        "settlements": [{"cutoff": s.cutoff.date().isoformat(), "status": s.status,
                         "total_fen": s.total_fen} for s in batches],
        "audit_events": count(AuditEvent),
        "budget": _budget(session, year),
    }


def _budget(session: Session, year: int) -> dict[str, int]:
    """The year's budget from the balances of its ledger accounts, by kind."""
    balances: dict[str, int] = defaultdict(int)
    for kind, balance in session.exec(
            select(LedgerAccount.kind,
                   func.sum(LedgerAccount.credits_posted_fen - LedgerAccount.debits_posted_fen))
            .where(LedgerAccount.year == year).group_by(LedgerAccount.kind)).all():
        balances[kind] = int(balance or 0)
    pool_fen = -balances["funding"]
    return {
        "pool_fen": pool_fen,
        "available_fen": balances["pool"],
        "issued_fen": pool_fen - balances["pool"],  # net of balances returned
        "outstanding_fen": balances["voucher"],
        "redeemed_fen": (balances["payable"] + balances["held"] + balances["paid"]
                         + balances["receivable"]),  # held: redeemed, under review
        "payable_fen": balances["payable"],
        "paid_fen": balances["paid"],
        "clawed_back_fen": balances["clawed_back"],
        "clawback_owed_fen": -balances["receivable"],
    }
