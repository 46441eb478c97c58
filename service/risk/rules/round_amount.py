"""The invoice total is at least `min_fen` and a whole multiple of `unit_fen` (docs/risk.md)."""

from service.kit import catalogue
from service.kit.money import format_yuan as yuan
from service.risk.rules.subject import Found, Subject


def check(c: Subject, s: dict) -> Found | None:
    number, total = c.invoice.invoice_number, c.invoice.total_fen
    if total < s["min_fen"] or total % s["unit_fen"] != 0:
        return None
    return ({"invoice_number": number, "total_fen": total, "min_fen": s["min_fen"],
             "unit_fen": s["unit_fen"]},
            lambda: catalogue.both("rule.round_amount.says", number=number, total=yuan(total),
                                   unit=yuan(s["unit_fen"]), minimum=yuan(s["min_fen"])))
