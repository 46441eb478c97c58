"""The eligible-subsidy formula of PRODUCT.md §5a: one exact rational, rounded down once.

    Σ_eligible_lines(amount_fen × rate_bp(category)) × overlap_days(service period, Y)
    × share / (10000 × service_days × total_fen)

where share is min(paid_fen, net_total_fen) in reimbursement mode and net_total_fen in deduction
mode. Reversals shrink every line pro rata (net/total), which is why total_fen is the divisor.
"""

from collections.abc import Iterable
from datetime import date
from typing import Any

from service.kit.money import BP_PER_UNIT, floor_div
from service.years.models import BudgetYear
from service.years.service import rate_for


def overlap_days(start: date, end: date, year: int) -> int:
    first = max(start, date(year, 1, 1))
    last = min(end, date(year, 12, 31))
    return max(0, (last - first).days + 1)


def service_days(start: date, end: date) -> int:
    return (end - start).days + 1


def years_of(start: date, end: date) -> range:
    return range(start.year, end.year + 1)


def dated_before_eligible(issued_on: date, policy: BudgetYear) -> bool:
    """The year's earliest eligible invoice date (`eligible_from`): an invoice issued before it
    earns nothing that year, and a redemption of it is refused (invoice_not_eligible). The
    reconciliation's SQL mirrors this (service/reporting/reconciliation_sql.py)."""
    return issued_on < policy.eligible_from


def eligible_subsidy(*, lines: Iterable[tuple[str, int]], total_fen: int, reversed_fen: int,
                     paid_fen: int, service_start: date, service_end: date,
                     policy: BudgetYear) -> int:
    """lines: (category, amount_fen) pairs as posted."""
    if total_fen <= 0:
        return 0
    return subsidy_of(weighted_amount(lines, policy), total_fen=total_fen,
                      reversed_fen=reversed_fen, paid_fen=paid_fen,
                      overlap=overlap_days(service_start, service_end, policy.year),
                      days=service_days(service_start, service_end),
                      reimbursement=policy.settlement_mode == "reimbursement")


def weighted_amount(lines: Iterable[tuple[str, int]], policy: BudgetYear) -> int:
    """Σ amount_fen × rate_bp(category) over the lines: the numerator's first factor."""
    return sum(amount * rate_for(policy, category) for category, amount in lines)


def subsidy_of(weighted: int, *, total_fen: int, reversed_fen: int, paid_fen: int, overlap: int,
               days: int, reimbursement: bool) -> int:
    """The formula once its policy-dependent parts are known: `weighted` (weighted_amount),
    the service days inside the year and in all. Pure integers, so the what-if replay
    (service/whatif/replay.py) calls it for every claim, as a redemption does."""
    if total_fen <= 0:
        return 0
    net = total_fen - reversed_fen
    share = min(paid_fen, net) if reimbursement else net
    if weighted <= 0 or overlap <= 0 or share <= 0:
        return 0
    return floor_div(weighted * overlap * share, BP_PER_UNIT * days * total_fen)


def eligible_for_year(invoice: Any, lines: Iterable[Any], policy: BudgetYear) -> int:
    """The eligible subsidy of an invoice (its row: issued_on, total_fen, reversed_fen, paid_fen,
    service_start, service_end) and its lines (category, amount_fen) for one budget year."""
    if dated_before_eligible(invoice.issued_on, policy):
        return 0
    return eligible_subsidy(
        lines=[(line.category, line.amount_fen) for line in lines], total_fen=invoice.total_fen,
        reversed_fen=invoice.reversed_fen, paid_fen=invoice.paid_fen,
        service_start=invoice.service_start, service_end=invoice.service_end, policy=policy)


def base_for_year(invoice: Any, lines: Iterable[Any], policy: BudgetYear) -> int:
    """The subsidy base of an invoice for one budget year (PRODUCT.md §3.4): the amount of its
    eligible lines, pro-rated by the service days inside the year and, in reimbursement mode,
    limited to the share paid — the eligible subsidy's own formula (`subsidy_of`) at a rate of
    100%, so it rounds down once, as the subsidy does. Nothing before `eligible_from`."""
    if dated_before_eligible(invoice.issued_on, policy):
        return 0
    eligible = sum(line.amount_fen for line in lines
                   if line.category in policy.eligible_categories)
    return subsidy_of(eligible * BP_PER_UNIT, total_fen=invoice.total_fen,
                      reversed_fen=invoice.reversed_fen, paid_fen=invoice.paid_fen,
                      overlap=overlap_days(invoice.service_start, invoice.service_end,
                                           policy.year),
                      days=service_days(invoice.service_start, invoice.service_end),
                      reimbursement=policy.settlement_mode == "reimbursement")
