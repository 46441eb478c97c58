"""The enterprise has had a red-letter reversal this year that clawed back subsidy from a paid
settlement, before this redemption (docs/risk.md)."""

from service.kit import catalogue
from service.kit.money import format_yuan as yuan
from service.risk.rules.subject import Found, Subject
from service.risk.tally import aware


def check(c: Subject, s: dict) -> Found | None:
    at = aware(c.r.get("created_at"))
    earlier = [claw for claw in c.t.clawbacks.get((c.year, c.e), ())
               if at is None or claw["_at"] is None or claw["_at"] <= at]
    if not earlier:
        return None
    listed = [{key: v for key, v in claw.items() if not key.startswith("_")} for claw in earlier]
    owed = sum(claw["amount_fen"] for claw in earlier)
    return ({"clawbacks": listed},
            lambda: catalogue.both("rule.reversal_after_payout.says", count=len(earlier),
                                   amount=yuan(owed), invoice=listed[0]["invoice_id"]))
