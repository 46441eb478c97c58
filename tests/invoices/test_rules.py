"""The eligible subsidy (PRODUCT.md §5a) on plain rows: the worked examples to the fen, and the
rounding that happens once, at the end."""

from datetime import date
from types import SimpleNamespace

import pytest

from service.invoices.subsidy import eligible_for_year
from service.years.service import defaults


def policy(year: int = 2026, **changes):
    return SimpleNamespace(**{**defaults(year), "year": year, **changes})


def invoice(total: int, *, paid: int | None = None, reversed_fen: int = 0,
            start: str = "2026-04-01", end: str = "2026-04-30") -> SimpleNamespace:
    return SimpleNamespace(issued_on=date.fromisoformat(end), total_fen=total,
                           reversed_fen=reversed_fen, paid_fen=total if paid is None else paid,
                           service_start=date.fromisoformat(start),
                           service_end=date.fromisoformat(end))


def lines(*pairs) -> list:
    return [SimpleNamespace(category=c, amount_fen=a) for c, a in pairs]


def test_example_1_storage_is_not_eligible():
    assert eligible_for_year(invoice(105_000_000), lines(("gpu", 100_000_000),
                                                         ("storage", 5_000_000)),
                             policy()) == 30_000_000


def test_example_2_a_period_across_the_year_end_rounds_down_in_each_year():
    inv = invoice(12_345_678, start="2026-11-01", end="2027-02-28")
    assert eligible_for_year(inv, lines(("npu", 12_345_678)), policy(2026)) == 1_882_715
    assert eligible_for_year(inv, lines(("npu", 12_345_678)), policy(2027)) == 1_820_987


@pytest.mark.parametrize("paid,expected", [(200_000, 60_000), (500_000, 150_000),
                                           (499_999, 149_999), (0, 0)])
def test_example_3_only_what_was_paid_counts(paid, expected):
    assert eligible_for_year(invoice(500_000, paid=paid), lines(("gpu", 500_000)),
                             policy()) == expected


def test_example_4_a_rate_table_and_a_red_letter_invoice():
    rates = policy(category_rates_bp={"accelerator": 2000})
    items = lines(("gpu", 800_000), ("accelerator", 200_000))
    assert eligible_for_year(invoice(1_000_000), items, rates) == 280_000
    assert eligible_for_year(invoice(1_000_000, reversed_fen=250_000), items, rates) == 210_000
