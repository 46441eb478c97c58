"""The year's performance indicators (绩效, issue 24 §3; docs/performance.md): output and effect
figures of the fund, from the same reads as the budget and the annual report.

Definitions (each in one function below):

- a redemption **stands** while some of its subsidy does (`subsidy_fen > clawed_back_fen`):
  reversed, rejected and wholly clawed-back redemptions do not; held ones (under review) do
  until they are rejected — the same redemptions `redeemed_fen` counts;
- ratios are basis points rounded down, 0 when the denominator is 0 (`money.share_bp`);
- `median_days_to_payout`: over the year's paid redemptions, the whole days from the Shanghai
  date of the redemption to that of its batch's payment; the middle value of the sorted days,
  for an even count ⌊(lower middle + upper middle) / 2⌋; 0 with none;
- `by_category` / `by_district`: the year's standing subsidy (Σ subsidy − clawed back) per line
  category (shared out by weight, as the annual report's categories sheet) and per district of
  the enterprise, with `share_bp` = ⌊subsidy × 10000 / Σ subsidy⌋ — floored, so the shares may
  sum to a little under 10000."""

from itertools import groupby
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from service.auth.principal import Principal
from service.invoices.models import Invoice, InvoiceLine
from service.invoices.subsidy import base_for_year
from service.kit.money import share_bp
from service.notices import access as objection_access
from service.redemptions.models import Redemption
from service.registry.models import Enterprise
from service.reporting import budget as budget_module
from service.reporting import report
from service.reporting.queries import days_between
from service.risk import access as review_access
from service.risk.models import Review
from service.settlements.models import Settlement
from service.years.models import BudgetYear
from service.years.service import get_year

STREAM_ROWS = 1000


def indicators(session: Session, year_number: int, *, principal: Principal) -> dict[str, Any]:
    year = get_year(session, year_number)
    figures = budget_module.budget(session, year.year, top=0)
    issued, redeemed, paid = figures["issued_fen"], figures["redeemed_fen"], figures["paid_fen"]
    return {
        "year": year.year,
        "enterprises_supported": enterprises_supported(session, year.year),
        "pool_fen": year.pool_fen,
        "issued_fen": issued,
        "redeemed_fen": redeemed,
        "paid_fen": paid,
        "voucher_use_bp": share_bp(redeemed, issued),
        "budget_execution_bp": share_bp(paid, year.pool_fen),
        "leveraged_fees_fen": leveraged_fees(session, year),
        "median_days_to_payout": median_days_to_payout(session, year.year),
        "by_category": by_category(session, year),
        "by_district": by_district(session, year.year),
        "objections": objection_counts(session, year.year, principal),
        "reviews": review_counts(session, year.year, principal),
    }


def _standing():
    return Redemption.subsidy_fen > Redemption.clawed_back_fen


def enterprises_supported(session: Session, year: int) -> int:
    """Distinct enterprises with a redemption of the year that stands."""
    return int(session.exec(select(func.count(func.distinct(Redemption.enterprise_id)))
                            .where(Redemption.year == year, _standing())).one())


def leveraged_fees(session: Session, year: BudgetYear) -> int:
    """Σ over the distinct invoices with a standing redemption of the year of their subsidy base
    for the year (PRODUCT.md §3.4, `invoices.subsidy.base_for_year`): the compute fees the
    vouchers drew in. Read invoice by invoice through a server-side cursor."""
    standing = (select(Redemption.invoice_id)
                .where(Redemption.year == year.year, _standing()).distinct())
    rows = session.execute(
        select(Invoice, InvoiceLine.category, InvoiceLine.amount_fen)
        .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
        .where(Invoice.id.in_(standing))
        .order_by(Invoice.id, InvoiceLine.line_no).execution_options(yield_per=STREAM_ROWS))
    total = 0
    for _, group in groupby(rows, key=lambda row: row[0].id):
        lines = list(group)
        total += base_for_year(lines[0][0], lines, year)
    return total


def median_days_to_payout(session: Session, year: int) -> int:
    """The median of the whole days from each paid redemption of the year to its batch's
    payment (Shanghai dates); for an even count the mean of the two middle values rounded
    down; 0 when nothing is paid. Counted per day in the database, so memory stays small."""
    days = days_between(session, Redemption.created_at, Settlement.paid_at)
    counts = sorted((int(d), int(n)) for d, n in session.execute(
        select(days, func.count()).select_from(Redemption)
        .join(Settlement, Settlement.id == Redemption.settlement_id)
        .where(Redemption.year == year, Redemption.status == "paid",
               Settlement.status == "paid")
        .group_by(days)))
    total = sum(n for _, n in counts)
    if total == 0:
        return 0
    return (_nth(counts, (total - 1) // 2) + _nth(counts, total // 2)) // 2


def _nth(counts: list[tuple[int, int]], index: int) -> int:
    """The value at 0-based `index` of the sorted list that (value, count) pairs stand for."""
    for value, n in counts:
        if index < n:
            return value
        index -= n
    raise IndexError(index)


def by_category(session: Session, year: BudgetYear) -> list[dict[str, Any]]:
    """The annual report's category allocation (report.categories), with each share."""
    rows = list(report.categories(session, year))
    total = sum(row["redeemed_fen"] for row in rows)
    return [{"category": row["category"], "subsidy_fen": row["redeemed_fen"],
             "share_bp": share_bp(row["redeemed_fen"], total)} for row in rows]


def by_district(session: Session, year: int) -> list[dict[str, Any]]:
    """Standing subsidy per district of the redeeming enterprise ("" where it has none)."""
    district = func.coalesce(Enterprise.district, "")
    rows = session.execute(
        select(district, func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen))
        .select_from(Redemption).join(Enterprise, Enterprise.id == Redemption.enterprise_id)
        .where(Redemption.year == year, _standing())
        .group_by(district).order_by(district)).all()
    total = sum(int(amount) for _, amount in rows)
    return [{"district": name, "subsidy_fen": int(amount),
             "share_bp": share_bp(int(amount), total)} for name, amount in rows]


def objection_counts(session: Session, year: int, principal: Principal) -> dict[str, int]:
    """Objections to the year's 公示 notices (docs/notice.md), through notices/access.py:
    every one received, and how many of those were upheld and dismissed (the rest are open)."""
    mine = objection_access.readable(principal).subquery()
    rows = session.execute(
        select(mine.c.status, func.count())
        .join(Settlement, Settlement.id == mine.c.settlement_id)
        .where(Settlement.year == year).group_by(mine.c.status)).all()
    counts = {status: n for status, n in rows}
    return {"received": sum(counts.values()), "upheld": counts.get("upheld", 0),
            "dismissed": counts.get("dismissed", 0)}


def review_counts(session: Session, year: int, principal: Principal) -> dict[str, int]:
    """Redemptions of the year held for review (each has one review), and how many of those
    reviews cleared and rejected them (the rest are still open); through risk/access.py."""
    reviews = review_access.readable(principal).where(Review.year == year).subquery()
    counts = {status: int(n) for status, n in session.execute(
        select(reviews.c.status, func.count()).group_by(reviews.c.status))}
    return {"held": sum(counts.values()), "cleared": counts.get("cleared", 0),
            "rejected": counts.get("rejected", 0)}
