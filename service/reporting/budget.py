"""The budget picture of a year (PRODUCT.md §5a): every figure comes from the ledger.

Flows (issued, returned, redeemed, by month) and balances (outstanding, payable, paid) come from
running totals of the transfers kept by a database trigger, the top lists from running totals
per party: a call reads at most a few thousand rows whatever the size of the year
(docs/decisions.md)."""

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import Session, select

from service.holds import tally as hold_tally
from service.kit import clock
from service.registry.models import Enterprise, Provider
from service.reporting.models import RedemptionPartyTotal, TransferRollup
from service.years.service import get_year

RETURN_KINDS = ("revoke", "reclaim", "expire", "revoked_return", "expired_return")


_rollup = TransferRollup.__table__.c
_parts = RedemptionPartyTotal.__table__.c

# Built once: the statements are the same on every call, only the parameters change, so
# SQLAlchemy's compiled-statement cache is hit without walking a new statement each time.
ROLLUP_SQL = (select(_rollup.kind, _rollup.month, _rollup.debit_kind, _rollup.credit_kind,
                     func.sum(_rollup.amount_fen))
              .where(_rollup.year == bindparam("year"))
              .group_by(_rollup.kind, _rollup.month, _rollup.debit_kind, _rollup.credit_kind))


def _top_sql(party, party_type: str, *, sharded: bool):
    if sharded:  # a provider's total is in up to 16 parts (one per shard)
        total = func.sum(_parts.redeemed_fen)
        leaders = select(_parts.party_id, total.label("total")).group_by(_parts.party_id)
    else:  # one row per enterprise and year: the largest are read off the ranking index
        total = _parts.redeemed_fen
        leaders = select(_parts.party_id, total.label("total"))
    leaders = (leaders.where(_parts.year == bindparam("year"), _parts.party_type == party_type)
               .order_by(total.desc(), _parts.party_id).limit(bindparam("top")).subquery())
    return (select(party.c.id, party.c.name, party.c.uscc, leaders.c.total)
            .join(leaders, leaders.c.party_id == party.c.id)
            .order_by(leaders.c.total.desc(), party.c.id))


TOP_ENTERPRISES_SQL = _top_sql(Enterprise.__table__, "enterprise", sharded=False)
TOP_PROVIDERS_SQL = _top_sql(Provider.__table__, "provider", sharded=True)


class Rollup:
    """One year's transfers summed per (kind, month, debited and credited account kind), read
    from the trigger-kept rollup rows: kinds × months × 16 shards at most, however long the
    year."""

    def __init__(self, session: Session, year: int):
        self.rows = [(kind, month, debit_kind, credit_kind, int(total or 0))
                     for kind, month, debit_kind, credit_kind, total
                     in session.execute(ROLLUP_SQL, {"year": year})]

    def by_kind(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for kind, _, _, _, total in self.rows:
            totals[kind] += total
        return totals

    def balances_by_account_kind(self) -> dict[str, int]:
        """Σ (credits − debits) of the year's accounts of each kind, as the accounts hold it:
        every posting moves an account and writes its transfer in one transaction."""
        balances: dict[str, int] = defaultdict(int)
        for _, _, debit_kind, credit_kind, total in self.rows:
            balances[credit_kind] += total
            balances[debit_kind] -= total
        return balances

    def by_kind_and_month(self) -> dict[tuple[str, str], int]:
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for kind, month, _, _, total in self.rows:
            totals[kind, month] += total
        return totals


def budget(session: Session, year_number: int, *, top: int = 10) -> dict[str, Any]:
    year = get_year(session, year_number)
    rollup = Rollup(session, year.year)
    totals = rollup.by_kind()
    balances = rollup.balances_by_account_kind()
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
        # A voucher's unspent balance includes what its pending holds moved to the hold
        # account (docs/holds.md); held_fen is what live holds reserve of it now.
        "outstanding_fen": balances["voucher"] + balances["hold"],
        "held_fen": hold_tally.held_in_year(session, year.year),
        "redeemed_fen": redeemed,
        "payable_fen": balances["payable"],
        "paid_fen": balances["paid"],
        "clawback_fen": totals["clawback"],
        "clawback_outstanding_fen": -balances["receivable"],
        "utilisation_bp": (issued - returned) * 10_000 // year.pool_fen if year.pool_fen else 0,
        "by_month": _series(year.year, rollup),
        "top_enterprises": top_enterprises(session, year.year, top),
        "top_providers": top_providers(session, year.year, top),
        "projected_redeemed_fen": projection(year.year, redeemed, issued - returned),
        "as_of": clock.now().isoformat(),
    }


MONTH_FIELDS = {"issue": ("issued_fen", 1), "redeem": ("redeemed_fen", 1),
                "reversal": ("redeemed_fen", -1), "clawback": ("redeemed_fen", -1),
                "payout": ("paid_fen", 1)}


def by_month(session: Session, year: int) -> list[dict[str, Any]]:
    return _series(year, Rollup(session, year))


def _series(year: int, rollup: Rollup) -> list[dict[str, Any]]:
    """The twelve months of the year, and any later month with movements (redemptions until
    the deadline in the next January, say), by the Shanghai month of the transfer."""
    series = {f"{year}-{m:02d}": {"issued_fen": 0, "redeemed_fen": 0, "paid_fen": 0}
              for m in range(1, 13)}
    for (kind, month), total in rollup.by_kind_and_month().items():
        if kind not in MONTH_FIELDS:
            continue
        entry = series.setdefault(month, {"issued_fen": 0, "redeemed_fen": 0, "paid_fen": 0})
        name, sign = MONTH_FIELDS[kind]
        entry[name] += sign * total
    return [{"month": m, **v} for m, v in sorted(series.items())]


def top_enterprises(session: Session, year: int, top: int) -> list[dict[str, Any]]:
    return _top(session, TOP_ENTERPRISES_SQL, year, top, "enterprise_id")


def top_providers(session: Session, year: int, top: int) -> list[dict[str, Any]]:
    return _top(session, TOP_PROVIDERS_SQL, year, top, "provider_id")


def _top(session: Session, statement, year: int, top: int, key: str) -> list[dict[str, Any]]:
    """Largest net redeemed first, ties by id, with each party's name and USCC."""
    rows = session.execute(statement, {"year": year, "top": top})
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
