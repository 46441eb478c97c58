"""What a scenario's outcome adds up to (docs/what-if.md): the year as it happened shaped like
a replay outcome, totals per enterprise and per day, groups (category, enterprise, district,
provider, month), and the per-enterprise change and concentration measures of a result."""

from __future__ import annotations

from array import array
from collections import defaultdict
from datetime import date
from typing import Any

from service.invoices import subsidy
from service.whatif import state
from service.whatif.yeardata import YearData, day_slices, grow, redemption_claims
from service.years.models import CATEGORIES
from service.years.service import rate_for


class Actual:
    """The year as it happened, shaped like a replay outcome."""

    def __init__(self, data: YearData, policy: Any):
        self.granted = array("q", data.actual)
        _, self.claim_invoice, self.claim_day, _ = redemption_claims(data)
        self.refused_count = self.refused_fen = 0
        self.pool_exhausted_on = None
        self.capped: set = set()
        self.granted_count = len(self.granted)
        self.weighted = [subsidy.weighted_amount(data.lines(s), policy)
                         for s in range(len(data.shapes))]


def outcome_of(data: YearData, spec: Any, policy: Any):
    if spec.actual:
        return Actual(data, policy)
    return state.run(data, policy, growth_bp=int(spec.overrides.get("invoice_growth_bp") or 0),
                      follow_cap=spec.vouchers == "follow_cap",
                      include_unredeemed=spec.include_unredeemed)


def enterprise_totals(data: YearData, outcome: Any) -> dict[int, int]:
    """Per enterprise with a claim (granted or not), what it was granted: a replay's running
    total per enterprise, or the claims summed."""
    if outcome.claim_invoice is data.rd_invoice:  # the redemptions: their enterprises known
        claim_ent = data.rd_ent
    else:
        claim_ent = array("l", map(data.inv_ent.__getitem__, outcome.claim_invoice))
    sums = getattr(outcome, "ent_net", None)
    if not sums:
        sums = [0] * (len(data.enterprises) or 1)
        for e, amount in zip(claim_ent, outcome.granted):
            if amount:
                sums[e] += amount
    return {e: sums[e] for e in set(claim_ent)}


def groups(data: YearData, outcome: Any, policy: Any, overrides: dict,
            group_by: str, totals: dict[int, int] | None = None) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    if group_by == "category":
        growth = int(overrides.get("invoice_growth_bp") or 0)
        rates = [rate_for(policy, c) for c in CATEGORIES]
        for inv, amount in zip(outcome.claim_invoice, outcome.granted):
            for category, part in split(data, inv, amount, rates, growth):
                out[category] += part
        return out
    if group_by in ("enterprise", "district"):
        totals = totals if totals is not None else enterprise_totals(data, outcome)
        keys = data.enterprises if group_by == "enterprise" else \
            [d or "-" for d in data.districts]
        for e, amount in totals.items():
            out[keys[e]] += amount
        return out
    sums: dict[int, int] = defaultdict(int)
    if group_by == "provider":
        inv_prov = data.inv_prov
        for inv, amount in zip(outcome.claim_invoice, outcome.granted):
            if amount:
                sums[inv_prov[inv]] += amount
        for inv in set(outcome.claim_invoice):
            out[data.providers[inv_prov[inv]]] += 0
        for p, amount in sums.items():
            out[data.providers[p]] += amount
        return out
    for day, amount in day_totals(data, outcome).items():
        out[date.fromordinal(day).strftime("%Y-%m")] += amount
    return out


def day_totals(data: YearData, outcome: Any) -> dict[int, int]:
    """Per day with a claim, what the claims of that day were granted. The redemptions are in
    time order: each day's claims are one slice of the outcome, summed at C speed."""
    sums: dict[int, int] = defaultdict(int)
    if outcome.claim_day is data.rd_day:
        granted = outcome.granted
        for day, lo, hi in day_slices(data):
            sums[day] += sum(granted[lo:hi])
        return sums
    for day, amount in zip(outcome.claim_day, outcome.granted):
        sums[day] += amount
    return sums


def split(data: YearData, inv: int, amount: int, rates: list[int],
           growth: int) -> list[tuple[str, int]]:
    """A claim's subsidy by line category, in proportion to each category's weighted amount
    (rounded down, the remainder to the largest): exact in total."""
    shape = data.shapes[data.inv_shape[inv]]
    weights = [(c, grow(a, growth) * r) for c, a, r in zip(CATEGORIES, shape, rates)
               if a and r]
    total = sum(w for _, w in weights)
    if amount == 0 or total == 0:
        return []
    parts = [(c, amount * w // total) for c, w in weights]
    rest = amount - sum(p for _, p in parts)
    if rest:
        big = max(range(len(parts)), key=lambda i: weights[i][1])
        parts[big] = (parts[big][0], parts[big][1] + rest)
    return parts


def permille(new: int, old: int) -> int | None:
    if old == 0:
        return 0 if new == 0 else None
    diff = new - old
    sign = -1 if diff < 0 else 1
    return sign * (abs(diff) * 1000 // abs(old))


def bucket(new: int, old: int) -> str:
    if new == old:
        return "no_change"
    if new < old:
        return "lose_more_5" if (old - new) * 100 > 5 * old else "lose_less_5"
    if old == 0:
        return "gain_more_5"
    return "gain_more_5" if (new - old) * 100 > 5 * old else "gain_less_5"


def gini_bp(values: list[int]) -> int:
    """The Gini coefficient over enterprises, in basis points, rounded down: with x sorted
    ascending, G = (2 Σ i·x_i − (n + 1) Σ x) / (n Σ x)."""
    n, total = len(values), sum(values)
    if n == 0 or total <= 0:
        return 0
    ranked = sum(i * x for i, x in enumerate(sorted(values), start=1))
    return max(0, 10_000 * (2 * ranked - (n + 1) * total) // (n * total))


def top10_share_bp(values: list[int]) -> int:
    total = sum(values)
    if total <= 0:
        return 0
    return 10_000 * sum(sorted(values, reverse=True)[:10]) // total
