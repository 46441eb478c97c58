"""The budget picture of a year (PRODUCT.md §5a): every figure comes from the ledger."""

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from service import clock
from service.ledger.models import LedgerAccount, LedgerTransfer
from service.redemptions.models import Redemption
from service.registry.models import Enterprise, Provider
from service.reporting.queries import month_of
from service.years.service import get_year

RETURN_KINDS = ("revoke", "reclaim", "expire", "revoked_return", "expired_return")


def transfer_totals(session: Session, year: int) -> dict[str, int]:
    rows = session.execute(select(LedgerTransfer.kind, func.sum(LedgerTransfer.amount_fen))
                           .where(LedgerTransfer.year == year)
                           .group_by(LedgerTransfer.kind)).all()
    return defaultdict(int, {kind: int(total or 0) for kind, total in rows})


def balances_by_kind(session: Session, year: int) -> dict[str, int]:
    rows = session.execute(select(LedgerAccount.kind, func.sum(
        LedgerAccount.credits_posted_fen - LedgerAccount.debits_posted_fen))
        .where(LedgerAccount.year == year).group_by(LedgerAccount.kind)).all()
    return defaultdict(int, {kind: int(total or 0) for kind, total in rows})


def budget(session: Session, year_number: int, *, top: int = 10) -> dict[str, Any]:
    year = get_year(session, year_number)
    totals = transfer_totals(session, year.year)
    balances = balances_by_kind(session, year.year)
    issued = totals["issue"]
    returned = sum(totals[k] for k in RETURN_KINDS)
    redeemed = totals["redeem"] - totals["reversal"] - totals["clawback"]
    available = year.pool_fen - issued + returned
    return {
        "year": year.year,
        "status": year.status,
        "pool_fen": year.pool_fen,
        "issued_fen": issued,
        "returned_fen": returned,
        "available_fen": available,
        "outstanding_fen": balances["voucher"],
        "redeemed_fen": redeemed,
        "payable_fen": balances["payable"],
        "paid_fen": balances["paid"],
        "clawback_fen": totals["clawback"],
        "clawback_outstanding_fen": -balances["receivable"],
        "utilisation_bp": (issued - returned) * 10_000 // year.pool_fen if year.pool_fen else 0,
        "by_month": by_month(session, year.year),
        "top_enterprises": top_enterprises(session, year.year, top),
        "top_providers": top_providers(session, year.year, top),
        "projected_redeemed_fen": projection(year.year, redeemed, issued - returned),
        "as_of": clock.now().isoformat(),
    }


def by_month(session: Session, year: int) -> list[dict[str, Any]]:
    month = month_of(session, LedgerTransfer.created_at)
    rows = session.execute(select(month, LedgerTransfer.kind, func.sum(LedgerTransfer.amount_fen))
                           .where(LedgerTransfer.year == year,
                                  LedgerTransfer.kind.in_(("issue", "redeem", "reversal",
                                                           "clawback", "payout")))
                           .group_by(month, LedgerTransfer.kind)).all()
    series = {f"{year}-{m:02d}": {"issued_fen": 0, "redeemed_fen": 0, "paid_fen": 0}
              for m in range(1, 13)}
    field = {"issue": ("issued_fen", 1), "redeem": ("redeemed_fen", 1),
             "reversal": ("redeemed_fen", -1), "clawback": ("redeemed_fen", -1),
             "payout": ("paid_fen", 1)}
    for m, kind, total in rows:
        entry = series.setdefault(m, {"issued_fen": 0, "redeemed_fen": 0, "paid_fen": 0})
        name, sign = field[kind]
        entry[name] += sign * int(total or 0)
    return [{"month": m, **v} for m, v in sorted(series.items())]


def _net_redeemed():
    return func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen)


def top_enterprises(session: Session, year: int, top: int) -> list[dict[str, Any]]:
    return _top(session, year, top, Enterprise, Redemption.enterprise_id, "enterprise_id")


def top_providers(session: Session, year: int, top: int) -> list[dict[str, Any]]:
    return _top(session, year, top, Provider, Redemption.provider_id, "provider_id")


def _top(session: Session, year: int, top: int, party, party_column, key: str) -> list[dict]:
    total = _net_redeemed().label("total")
    rows = session.execute(
        select(party.id, party.name, party.uscc, total)
        .join(Redemption, party_column == party.id)
        .where(Redemption.year == year)
        .group_by(party.id, party.name, party.uscc)
        .order_by(total.desc(), party.id).limit(top)).all()
    return [{key: i, "name": n, "uscc": u, "redeemed_fen": int(t or 0)} for i, n, u, t in rows]


def projection(year: int, redeemed: int, ceiling: int) -> int:
    """Year-end redemption at the burn rate so far, never above what has been issued."""
    today = clock.today()
    start, end = date(year, 1, 1), date(year, 12, 31)
    if today < start:
        return 0
    if today > end:
        return redeemed
    elapsed = (today - start).days + 1
    days = (end - start).days + 1
    return min(max(ceiling, redeemed), redeemed * days // elapsed)
