"""The invoice total is at least `min_fen` and a whole multiple of `unit_fen` (docs/risk.md)."""

from service.money import format_yuan as yuan
from service.risk.rules.subject import Found, Subject


def check(c: Subject, s: dict) -> Found | None:
    number, total = c.invoice.invoice_number, c.invoice.total_fen
    if total < s["min_fen"] or total % s["unit_fen"] != 0:
        return None
    return ({"invoice_number": number, "total_fen": total, "min_fen": s["min_fen"],
             "unit_fen": s["unit_fen"]},
            lambda: (f"发票 {number} 金额 {yuan(total)} 元，是 "
                     f"{yuan(s['unit_fen'])} 元的整数倍，且不低于 {yuan(s['min_fen'])} 元。",
                     f"Invoice {number} totals {yuan(total)} yuan, a "
                     f"whole multiple of {yuan(s['unit_fen'])} yuan, and at least "
                     f"{yuan(s['min_fen'])} yuan."))
