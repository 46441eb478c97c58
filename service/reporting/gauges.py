"""Business gauges for /metrics, read from the ledger when scraped."""

from sqlalchemy import text
from sqlalchemy.engine import Engine

GAUGES = {"pool": "voucher_pool_available_fen", "voucher": "voucher_outstanding_fen",
          "payable": "voucher_payable_fen", "paid": "voucher_paid_fen"}


def business_gauges(engine: Engine) -> list[str]:
    lines = []
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT year, kind, SUM(credits_posted_fen - debits_posted_fen) FROM ledger_account "
                "WHERE kind IN ('pool','voucher','payable','paid') GROUP BY year, kind")).all()
    except Exception:  # noqa: BLE001 - metrics must answer even when the database does not
        return ["# business gauges unavailable: database unreachable"]
    for kind, name in GAUGES.items():
        lines += [f"# HELP {name} Ledger balance of {kind} accounts by budget year, in fen.",
                  f"# TYPE {name} gauge"]
        for year, row_kind, total in rows:
            if row_kind == kind:
                lines.append(f'{name}{{year="{year}"}} {int(total or 0)}')
    return lines
