"""Several invoices between one enterprise and provider within a window, each below a limit,
that together redeem most of the enterprise's cap left (docs/risk.md)."""

from datetime import timedelta

from service.kit import catalogue
from service.kit.money import format_yuan as yuan
from service.risk.rules.subject import Found, Subject


def possible(c: Subject, s: dict) -> bool:
    """A cheap bound first: the window's sum is at most what the pair redeemed in all, and
    `together >= share × (cap − after + together)` needs
    `together × (1 − share) >= share × (cap − after)`."""
    pair_after = c.t.pair_total.get((c.year, c.e, c.p), 0) + c.net
    after = c.t.enterprise_total.get((c.year, c.e), 0) + c.net
    return pair_after * (10_000 - s["share_bp"]) >= s["share_bp"] * (
        c.policy.enterprise_cap_fen - after)


def check(c: Subject, s: dict) -> Found | None:
    if not possible(c, s):
        return None
    t, invoice = c.t, c.invoice
    amounts = t.pair_invoices.get((c.year, c.e, c.p), {})
    reach = timedelta(days=s["window_days"])
    window = {i: v for i, v in amounts.items()
              if abs(t.invoices[i].issued_on - invoice.issued_on) <= reach}
    window[invoice.id] = window.get(invoice.id, 0) + c.net
    together = sum(window.values())
    after = t.enterprise_total.get((c.year, c.e), 0) + c.net
    cap_left = c.policy.enterprise_cap_fen - (after - together)
    if not (len(window) >= s["min_invoices"] and cap_left > 0
            and all(v < s["each_below_fen"] for v in window.values())
            and together * 10_000 >= s["share_bp"] * cap_left):
        return None
    listed = [{"invoice_id": i, "invoice_number": t.invoices[i].invoice_number,
               "issued_on": t.invoices[i].issued_on.isoformat(), "redeemed_fen": v}
              for i, v in sorted(window.items(), key=lambda kv: (
                  t.invoices[kv[0]].issued_on, kv[0]))]
    evidence = {
        "invoices": listed, "together_fen": together, "cap_left_fen": cap_left,
        "enterprise_cap_fen": c.policy.enterprise_cap_fen, "share_bp": s["share_bp"],
        "reached_bp": together * 10_000 // cap_left, "window_days": s["window_days"],
        "each_below_fen": s["each_below_fen"]}
    return evidence, lambda: explain(evidence)


def explain(ev: dict) -> tuple[str, str]:
    together, cap_left = ev["together_fen"], ev["cap_left_fen"]
    return catalogue.both("rule.near_cap_split.says", days=ev["window_days"], n=len(ev["invoices"]),
                          together=yuan(together), cap_left=yuan(cap_left),
                          percent=together * 100 // cap_left, threshold=ev["share_bp"] // 100,
                          below=yuan(ev["each_below_fen"]))
