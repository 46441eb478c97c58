"""The year's performance indicators (issue 24 §3, docs/performance.md) on a seeded year, to the
fen, on both databases: the floors, an even count's median, the zero denominators, the review
counts, and the indicators sheet of the annual report."""

import io

import pytest
from openpyxl import load_workbook

from service.kit.money import share_bp
from tests.factories import Api
from tests.flows import invoice_body, line, make_world

POOL = 3_000_000


class Party:
    """An enterprise of the year with its key: vouchers, invoices (posted and paid by the
    world's provider) and redemptions."""

    def __init__(self, api: Api, world, enterprise: dict):
        self.api, self.world, self.enterprise = api, world, enterprise
        self.key = api.enterprise_key(enterprise["id"])

    def invoice(self, *lines) -> dict:
        body = invoice_body(self.enterprise["uscc"], list(lines))
        invoice = self.api.ok("POST", "/v1/invoices", headers=self.world.prov, json=body,
                              expect=201)
        return self.world.pay(invoice["id"], invoice["total_fen"])

    def redeem(self, invoice: dict) -> dict:
        return self.api.ok("POST", "/v1/redemptions", headers=self.key,
                           json={"invoice_id": invoice["id"]}, expect=201)


@pytest.fixture
def seeded(api, today):
    """2026, pool 3,000,000 fen. A (高新园区) and B (中山区). Paid on 05-11: A's 300,000 (05-01)
    and 99,999 (05-04), B's 150,000 (05-08) and 30,000 (05-10); then B's 150,000 clawed back
    to 75,000; then A's two redemptions held for review, one cleared, one rejected."""
    today("2026-03-01")
    world = make_world(api, pool_fen=POOL, enterprise_cap_fen=POOL)
    a = Party(api, world, world.enterprise)
    b = Party(api, world, api.enterprise(district="中山区"))
    api.voucher(a.enterprise["id"], 1_000_000)
    api.voucher(b.enterprise["id"], 500_000)
    invoices = {"a1": a.invoice(line("gpu", 1_000_000), line("storage", 200_000)),
                "a2": a.invoice(line("npu", 333_333)),
                "b3": b.invoice(line("gpu", 500_001)),
                "b4": b.invoice(line("gpu", 100_000))}
    for day, key, party in (("05-01", "a1", a), ("05-04", "a2", a), ("05-08", "b3", b),
                            ("05-10", "b4", b)):
        today(f"2026-{day}")
        party.redeem(invoices[key])
    today("2026-05-11")
    world.settle()
    today("2026-05-20")
    api.ok("POST", f"/v1/invoices/{invoices['b3']['id']}/reversals", headers=world.prov,
           json={"invoice_number": "26210000000000099999", "issued_on": "2026-05-20",
                 "amount_fen": 250_001, "reason": "服务量调整"}, expect=201)
    api.ok("PATCH", "/v1/years/2026", json={"review_threshold": 10})
    for decision in ("clear", "reject"):
        held = a.redeem(a.invoice(line("gpu", 1_000_000)))
        assert held["status"] == "under_review", held
        (review,) = [r for r in api.ok("GET", "/v1/reviews", params={"status": "open"})["items"]
                     if r["redemption_id"] == held["id"]]
        api.ok("POST", f"/v1/reviews/{review['id']}/{decision}", json={"reason": "核实"})
    return world


REDEEMED = 300_000 + 99_999 + 75_000 + 30_000 + 300_000  # the rejected one stands no more
PAID = 300_000 + 99_999 + 150_000 + 30_000


def test_the_indicators_of_a_seeded_year_to_the_fen(api, seeded):
    got = api.ok("GET", "/v1/years/2026/performance", headers=api.auditor())
    assert got == {
        "year": 2026,
        "enterprises_supported": 2,
        "pool_fen": POOL,
        "issued_fen": 1_500_000,
        "redeemed_fen": REDEEMED,                      # 804_999
        "paid_fen": PAID,                              # 579_999
        "voucher_use_bp": 5366,                        # ⌊804_999 × 10000 / 1_500_000⌋ = ⌊5366.66⌋
        "budget_execution_bp": 1933,                   # ⌊579_999 × 10000 / 3_000_000⌋ = ⌊1933.33⌋
        # subsidy bases: 1_000_000 (storage is not eligible) + 333_333 + 250_000 (after the
        # reversal) + 100_000 + 1_000_000 (the cleared one; the rejected one stands no more)
        "leveraged_fees_fen": 2_683_333,
        "median_days_to_payout": 5,                    # days 1, 3, 7, 10: ⌊(3 + 7) / 2⌋
        "by_category": [
            {"category": "gpu", "subsidy_fen": 705_000, "share_bp": 8757},   # ⌊8757.77⌋
            {"category": "npu", "subsidy_fen": 99_999, "share_bp": 1242},    # ⌊1242.22⌋
            {"category": "storage", "subsidy_fen": 0, "share_bp": 0}],
        "by_district": [
            {"district": "中山区", "subsidy_fen": 105_000, "share_bp": 1304},    # ⌊1304.35⌋
            {"district": "高新园区", "subsidy_fen": 699_999, "share_bp": 8695}],  # ⌊8695.65⌋
        "objections": {"received": 0, "upheld": 0, "dismissed": 0},  # tests/notice/test_freeze.py
        "reviews": {"held": 2, "cleared": 1, "rejected": 1},
    }


def test_zero_denominators_give_zero_and_an_odd_count_its_middle(api, today):
    today("2026-03-01")
    make_world(api, year=2027, pool_fen=0)
    empty = api.ok("GET", "/v1/years/2027/performance")
    assert (empty["voucher_use_bp"], empty["budget_execution_bp"],
            empty["median_days_to_payout"], empty["leveraged_fees_fen"],
            empty["enterprises_supported"]) == (0, 0, 0, 0, 0)
    assert (empty["by_category"], empty["by_district"]) == ([], [])
    assert empty["reviews"] == {"held": 0, "cleared": 0, "rejected": 0}


def test_the_median_of_an_odd_count_is_its_middle_value(api, today):
    today("2026-05-01")
    world = make_world(api)
    world.voucher(10_000_000)
    for day in ("05-01", "05-02", "05-09"):
        today(f"2026-{day}")
        world.redeem(world.invoice([line("gpu", 100_000)], end="2026-04-30")["id"])
    today("2026-05-12")
    world.settle()
    assert api.ok("GET", "/v1/years/2026/performance")["median_days_to_payout"] == 10


def test_only_the_bureau_reads_them_and_an_unknown_year_is_404(api, seeded):
    enterprise = api.enterprise_key(seeded.enterprise["id"])
    r = api.client.get("/v1/years/2026/performance", headers=enterprise)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = api.client.get("/v1/years/2031/performance", headers=api.admin)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_annual_report_has_an_indicators_sheet(api, seeded, lang):
    r = api.client.get("/v1/years/2026/report", params={"format": "xlsx", "lang": lang},
                       headers=api.admin)
    assert r.status_code == 200, r.text
    book = load_workbook(io.BytesIO(r.content))
    name = {"zh": "绩效指标", "en": "Indicators"}[lang]
    assert name in book.sheetnames
    values = {row[0]: row[1] for row in book[name].iter_rows(min_row=3, values_only=True)
              if row and row[0]}
    label = {"zh": ("支持企业数", "算力券使用率", "撬动算力服务费用（元）", "拨付周期中位数（天）"),
             "en": ("Enterprises supported", "Voucher use", "Compute fees leveraged (yuan)",
                    "Median days to payout")}[lang]
    assert values[label[0]] == 2
    assert values[label[1]] == pytest.approx(0.5366)
    assert values[label[2]] == pytest.approx(26_833.33)
    assert values[label[3]] == 5
    rows = [row for row in book[name].iter_rows(min_row=3, values_only=True) if row and row[0]]
    district = {"zh": "中山区", "en": "中山区"}[lang]
    assert [r for r in rows if r[0] == district] == [(district, pytest.approx(1_050.00),
                                                      pytest.approx(0.1304))]
    assert book.sheetnames[-1] == name


@pytest.mark.parametrize("part, whole, bp", [
    (0, 0, 0), (5, 0, 0), (1, 3, 3333), (2, 3, 6666), (1, 1, 10_000), (804_999, 1_500_000, 5366),
    (1, 10_001, 0)])
def test_share_bp_rounds_down_and_a_zero_whole_is_zero(part, whole, bp):
    assert share_bp(part, whole) == bp
