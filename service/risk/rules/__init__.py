"""The risk rules (docs/risk.md), one module each: `check(subject, settings)` gives the rule's
evidence and its sentences, or None. `evaluate` is the one implementation of the rules, used by
the redemption path (service/risk/flags.py) and the back-test (service/risk/backtest.py)."""

from typing import Any

from service.risk.rules import (
    burst,
    near_cap_split,
    new_entity,
    provider_concentration,
    reversal_after_payout,
    round_amount,
    shared_contact,
    unit_price_outlier,
)
from service.risk.rules.subject import Subject
from service.risk.tally import Tally

CHECKS = (
    ("unit_price_outlier", unit_price_outlier.check),
    ("near_cap_split", near_cap_split.check),
    ("shared_contact", shared_contact.check),
    ("new_entity", new_entity.check),
    ("burst", burst.check),
    ("round_amount", round_amount.check),
    ("reversal_after_payout", reversal_after_payout.check),
    ("provider_concentration", provider_concentration.check),
)


def enabled(rules: dict) -> set[str]:
    return {rule for rule, s in rules.items() if s.get("enabled")}


def evaluate(t: Tally, r: dict, policy: Any, rules: dict, *, explain: bool = True,
             on: set[str] | None = None) -> list[dict]:
    """The flags of redemption `r` (id, invoice_id, enterprise_id, provider_id, year,
    subsidy_fen, created_at) against the tally of what came before it. `explain`: with the
    sentences (message_zh, message_en; the back-test goes without)."""
    if on is None:
        on = enabled(rules)
    subject = Subject(t, r, policy, t.invoices[r["invoice_id"]],
                      t.enterprises.get(r["enterprise_id"]), t.providers.get(r["provider_id"]))
    flags = []
    for rule, check in CHECKS:
        if rule not in on:
            continue
        found = check(subject, rules[rule])
        if found is None:
            continue
        evidence, say = found
        flag = {"rule": rule, "weight": int(rules[rule]["weight"]), "evidence": evidence}
        if explain:
            flag["message_zh"], flag["message_en"] = say()
        flags.append(flag)
    return flags
