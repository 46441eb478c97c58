"""PRODUCT.md §5a worked examples and every branch of the formula, to the fen."""

import pytest

from tests.flows import line, make_world


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    return make_world(api)


def test_example_1_storage_excluded(world):
    inv = world.invoice([line("gpu", 100_000_000), line("storage", 5_000_000)])
    assert inv["eligible_subsidy_fen"] == 30_000_000


def test_example_2_period_crossing_year_end(api, today):
    today("2026-12-15")
    world = make_world(api, 2026)
    api.year(2027)
    inv = world.invoice([line("npu", 12_345_678)], start="2026-11-01", end="2027-02-28",
                        issued_on="2026-11-01")
    assert inv["eligible_by_year"] == {"2026": 1_882_715, "2027": 1_820_987}
    assert world.get_invoice(inv["id"], 2027)["eligible_subsidy_fen"] == 1_820_987
    assert inv["eligible_subsidy_fen"] == 1_882_715


def test_example_3_partial_payment_in_reimbursement_mode(world):
    inv = world.invoice([line("gpu", 500_000)], paid=False)
    assert inv["eligible_subsidy_fen"] == 0
    assert world.pay(inv["id"], 200_000)["eligible_subsidy_fen"] == 60_000
    assert world.pay(inv["id"], 300_000)["eligible_subsidy_fen"] == 150_000


def test_example_4_rate_table_and_reversal(api, today):
    today("2026-06-15")
    world = make_world(api, category_rates_bp={"accelerator": 2000})
    inv = world.invoice([line("gpu", 800_000), line("accelerator", 200_000)])
    assert inv["eligible_subsidy_fen"] == 280_000
    assert world.reverse(inv["id"], 250_000)["eligible_subsidy_fen"] == 210_000


def test_rounds_down_at_half_a_fen(world):
    # 5 fen × 30% = 1.5 fen → 1
    assert world.invoice([line("gpu", 5)])["eligible_subsidy_fen"] == 1


def test_rounds_down_at_nine_tenths_of_a_fen(world):
    # 33_333 × 30% = 9_999.9 fen → 9_999
    assert world.invoice([line("gpu", 33_333)])["eligible_subsidy_fen"] == 9_999


def test_rounding_happens_once_not_per_line(world):
    # each line alone is 1.5 fen (→1 each, 2 together); summed first it is 3 fen exactly
    assert world.invoice([line("gpu", 5), line("npu", 5)])["eligible_subsidy_fen"] == 3


def test_leap_year_day_count(api, today):
    today("2028-03-15")
    world = make_world(api, 2028)
    # 2028-02-01..2028-02-29 is 29 days all inside 2028; 2027-12-31..2028-01-01 splits 1/1
    inv = world.invoice([line("gpu", 1_000_000)], start="2028-02-01", end="2028-02-29",
                        issued_on="2028-02-29")
    assert inv["eligible_subsidy_fen"] == 300_000
    split = world.invoice([line("gpu", 1_000_001)], start="2027-12-31", end="2028-01-01",
                          issued_on="2028-01-01")
    # 1_000_001 × 0.3 × 1/2 = 150_000.15 → 150_000
    assert split["eligible_by_year"] == {"2028": 150_000}


def test_network_security_cpu_other_excluded_by_default(world):
    lines = [line(c, 1_000_000) for c in ("cpu", "storage", "network", "security", "other")]
    assert world.invoice(lines)["eligible_subsidy_fen"] == 0


def test_partial_payment_with_rate_table_is_one_rational(api, today):
    today("2026-06-15")
    world = make_world(api, category_rates_bp={"accelerator": 2000})
    inv = world.invoice([line("gpu", 333), line("accelerator", 667), line("storage", 1)],
                        paid=False)
    # (333×3000 + 667×2000) × 500 / (10000 × 1001) = 116.53… → 116
    assert world.pay(inv["id"], 500)["eligible_subsidy_fen"] == 116


def test_deduction_mode_ignores_payments(api, today):
    today("2026-06-15")
    world = make_world(api, settlement_mode="deduction")
    inv = world.invoice([line("gpu", 500_000)], paid=False)
    assert inv["eligible_subsidy_fen"] == 150_000


def test_full_reversal_leaves_nothing(world):
    inv = world.invoice([line("gpu", 500_000)])
    after = world.reverse(inv["id"], 500_000)
    assert after["eligible_subsidy_fen"] == 0
    assert after["status"] == "reversed"
    assert after["net_total_fen"] == 0


def test_invoice_before_eligible_from_shows_nothing(api, today):
    today("2026-06-15")
    world = make_world(api, eligible_from="2026-03-01")
    inv = world.invoice([line("gpu", 1_000_000)], start="2026-02-01", end="2026-02-28")
    assert inv["eligible_subsidy_fen"] == 0
