"""The subsidy base of an invoice for a year (PRODUCT.md §3.4; invoices/subsidy.py
`base_for_year`), on the worked examples of §5a: what the leveraged-fees indicator sums."""

from datetime import date
from types import SimpleNamespace

from service.invoices.subsidy import base_for_year


def _policy(year=2026, mode="reimbursement", eligible_from=date(2026, 1, 1)):
    return SimpleNamespace(year=year, settlement_mode=mode, eligible_from=eligible_from,
                           eligible_categories=["gpu", "npu", "accelerator"])


def _invoice(lines, *, paid, reversed_fen=0, start="2026-04-01", end="2026-04-30",
             issued_on="2026-04-30"):
    total = sum(amount for _, amount in lines)
    return (SimpleNamespace(total_fen=total, reversed_fen=reversed_fen, paid_fen=paid,
                            issued_on=date.fromisoformat(issued_on),
                            service_start=date.fromisoformat(start),
                            service_end=date.fromisoformat(end)),
            [SimpleNamespace(category=c, amount_fen=a) for c, a in lines])


def test_the_subsidy_base_is_the_eligible_amount_pro_rated_and_paid():
    # §5a example 1: storage is not eligible
    assert base_for_year(*_invoice([("gpu", 100_000_000), ("storage", 5_000_000)],
                                   paid=105_000_000), _policy()) == 100_000_000
    # example 2: 61 of 120 service days in 2026, 59 in 2027, each rounded down on its own
    invoice = _invoice([("npu", 12_345_678)], paid=12_345_678, start="2026-11-01",
                       end="2027-02-28", issued_on="2026-11-01")
    assert base_for_year(*invoice, _policy()) == 6_275_719        # ⌊12_345_678 × 61 / 120⌋
    assert base_for_year(*invoice, _policy(2027, eligible_from=date(2026, 1, 1))) == 6_069_958
    # example 3: reimbursement counts what was paid; deduction the whole net total
    assert base_for_year(*_invoice([("gpu", 500_000)], paid=200_000), _policy()) == 200_000
    assert base_for_year(*_invoice([("gpu", 500_000)], paid=0),
                         _policy(mode="deduction")) == 500_000
    # example 4: a red-letter reversal shrinks every line pro rata
    assert base_for_year(*_invoice([("gpu", 800_000), ("accelerator", 200_000)],
                                   paid=1_000_000, reversed_fen=250_000), _policy()) == 750_000
    # issued before the year's eligible_from: nothing
    assert base_for_year(*_invoice([("gpu", 500_000)], paid=500_000),
                         _policy(eligible_from=date(2026, 5, 1))) == 0
