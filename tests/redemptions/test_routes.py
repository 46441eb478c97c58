"""Redemptions (PRODUCT.md §3.5): amounts, draw order, every refusal code, nothing written."""

import pytest
from sqlalchemy import text

from tests.flows import invoice_body, line, make_world


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    return make_world(api)


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                     for t in ("redemption", "ledger_transfer", "audit_event"))


def refused(world, engine, invoice_id, code, status=409, voucher_id=None):
    before = counts(engine)
    body = world.redeem(invoice_id, voucher_id, expect=status)
    assert body["code"] == code, body
    assert counts(engine) == before
    return body


def test_redeem_full_eligible_from_one_voucher(world):
    voucher = world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    r = world.redeem(inv["id"])
    assert r["subsidy_fen"] == 300_000
    assert r["draws"] == [{"voucher_id": voucher["id"], "amount_fen": 300_000, "restored_fen": 0}]
    assert r["beneficiary_type"] == "enterprise"
    assert r["beneficiary_id"] == world.enterprise["id"]
    assert r["status"] == "payable"
    assert world.get_voucher(voucher["id"])["balance_fen"] == 700_000
    after = world.get_invoice(inv["id"])
    assert (after["redeemed_fen"], after["redeemable_fen"]) == (300_000, 0)


def test_limited_by_voucher_balance_then_exhausted(world):
    voucher = world.voucher(100_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    assert world.redeem(inv["id"])["subsidy_fen"] == 100_000
    v = world.get_voucher(voucher["id"])
    assert (v["balance_fen"], v["status"]) == (0, "exhausted")
    # the invoice still has 200_000 eligible but no voucher can pay it
    refused(world, world.api.engine, inv["id"], "no_usable_voucher")


def test_draws_earliest_expiry_first_across_vouchers(world):
    late = world.voucher(100_000, valid_until="2027-01-31")
    early = world.voucher(150_000, valid_until="2026-12-31")
    inv = world.invoice([line("gpu", 1_000_000)])
    r = world.redeem(inv["id"])
    assert r["subsidy_fen"] == 250_000
    assert [(d["voucher_id"], d["amount_fen"]) for d in r["draws"]] == [
        (early["id"], 150_000), (late["id"], 100_000)]


def test_same_expiry_draws_oldest_first(world):
    first = world.voucher(50_000)
    second = world.voucher(50_000)
    inv = world.invoice([line("gpu", 200_000)])
    r = world.redeem(inv["id"])
    assert [(d["voucher_id"], d["amount_fen"]) for d in r["draws"]] == [
        (first["id"], 50_000), (second["id"], 10_000)]


def test_named_voucher_only(world):
    world.voucher(1_000_000)
    named = world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)])
    r = world.redeem(inv["id"], named["id"])
    assert r["draws"] == [{"voucher_id": named["id"], "amount_fen": 30_000, "restored_fen": 0}]


def test_second_redemption_takes_only_what_is_left(world):
    world.voucher(10_000)
    inv = world.invoice([line("gpu", 100_000)])
    assert world.redeem(inv["id"])["subsidy_fen"] == 10_000
    world.voucher(1_000_000)
    assert world.redeem(inv["id"])["subsidy_fen"] == 20_000
    refused(world, world.api.engine, inv["id"], "nothing_to_redeem")


def test_partial_payment_then_more(world):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 500_000)], paid=False)
    refused(world, world.api.engine, inv["id"], "nothing_to_redeem")
    world.pay(inv["id"], 200_000)
    assert world.redeem(inv["id"])["subsidy_fen"] == 60_000
    world.pay(inv["id"], 300_000)
    assert world.redeem(inv["id"])["subsidy_fen"] == 90_000


def test_no_eligible_lines(world):
    world.voucher(1_000_000)
    inv = world.invoice([line("storage", 500_000)])
    refused(world, world.api.engine, inv["id"], "nothing_to_redeem")


def test_not_your_invoice_is_404(world, api):
    world.voucher(1_000_000)
    other = api.enterprise()
    body = invoice_body(other["uscc"], [line("gpu", 100_000)])
    inv = api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    refused(world, api.engine, inv["id"], "not_found", status=404)
    refused(world, api.engine, "inv_doesnotexist", "not_found", status=404)


def test_other_programme_by_invoice_number(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)])
    api.ok("POST", "/v1/other-subsidies", expect=201, json={
        "enterprise_id": world.enterprise["id"], "programme": "省级算力补贴",
        "invoice_number": inv["invoice_number"], "amount_fen": 50_000})
    refused(world, api.engine, inv["id"], "other_subsidy")


def test_other_programme_by_contract(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)], contract_number="HT-2026-001")
    api.ok("POST", "/v1/other-subsidies", expect=201, json={
        "enterprise_id": world.enterprise["id"], "programme": "国家专项",
        "contract_number": "HT-2026-001", "amount_fen": 10})
    refused(world, api.engine, inv["id"], "other_subsidy")


def test_provider_not_approved(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)])
    api.ok("PUT", f"/v1/years/2026/approved-providers/{world.provider['id']}",
           json={"approved": False})
    refused(world, api.engine, inv["id"], "provider_not_approved")


def test_related_party_registered(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)])
    api.ok("POST", "/v1/related-parties", expect=201, json={
        "enterprise_id": world.enterprise["id"], "provider_id": world.provider["id"],
        "reason": "同一控股股东"})
    refused(world, api.engine, inv["id"], "related_party")


def test_related_party_same_uscc(api, today):
    today("2026-06-15")
    world = make_world(api)
    twin = api.ok("POST", "/v1/providers", expect=201,
                  json={"uscc": world.enterprise["uscc"], "name": "自营算力"})
    api.approve_provider(twin["id"])
    twin_key = api.provider_key(twin["id"])
    world.voucher(1_000_000)
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    inv = api.ok("POST", "/v1/invoices", headers=twin_key, json=body, expect=201)
    api.ok("POST", f"/v1/invoices/{inv['id']}/payments", headers=twin_key, expect=201,
           json={"amount_fen": 100_000, "paid_on": "2026-05-01"})
    refused(world, api.engine, inv["id"], "related_party")


def test_credit_blocked(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)])
    api.ok("PATCH", f"/v1/enterprises/{world.enterprise['id']}", json={"credit_blocked": True})
    refused(world, api.engine, inv["id"], "credit_blocked")


def test_voucher_revoked_expired_other_party_other_year(world, api, today):
    inv = world.invoice([line("gpu", 100_000)])
    revoked = world.voucher(1_000_000)
    api.ok("POST", f"/v1/vouchers/{revoked['id']}/revoke", json={"reason": "test"})
    refused(world, api.engine, inv["id"], "no_usable_voucher", voucher_id=revoked["id"])
    refused(world, api.engine, inv["id"], "no_usable_voucher")  # none left at all
    short = world.voucher(1_000_000, valid_until="2026-06-30")
    today("2026-07-01")
    refused(world, api.engine, inv["id"], "no_usable_voucher", voucher_id=short["id"])
    other = api.enterprise()
    theirs = api.voucher(other["id"], 1_000_000)
    refused(world, api.engine, inv["id"], "no_usable_voucher", voucher_id=theirs["id"])
    api.year(2025, redemption_deadline="2027-01-31")
    old = api.voucher(world.enterprise["id"], 1_000_000, year=2025)
    refused(world, api.engine, inv["id"], "no_usable_voucher", voucher_id=old["id"])


def test_invoice_before_eligible_from(api, today):
    today("2026-06-15")
    world = make_world(api, eligible_from="2026-03-01")
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)], start="2026-02-01", end="2026-02-28")
    refused(world, api.engine, inv["id"], "invoice_not_eligible")


def test_invoice_outside_every_year(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)], start="2030-01-01", end="2030-01-31")
    refused(world, api.engine, inv["id"], "invoice_not_eligible")


def test_past_redemption_deadline(world, api, today):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)])
    today("2027-02-01")
    refused(world, api.engine, inv["id"], "year_closed")


def test_provider_and_bureau_cannot_redeem(world, api):
    inv = world.invoice([line("gpu", 100_000)])
    for headers in (world.prov, api.admin, api.auditor()):
        r = api.client.post("/v1/redemptions", headers=headers, json={"invoice_id": inv["id"]})
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"


def test_redemption_visibility(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)])
    r = world.redeem(inv["id"])
    assert api.ok("GET", f"/v1/redemptions/{r['id']}", headers=world.ent)["subsidy_fen"] == 30_000
    assert api.ok("GET", f"/v1/redemptions/{r['id']}", headers=world.prov)["id"] == r["id"]
    assert api.ok("GET", f"/v1/redemptions/{r['id']}", headers=api.auditor())["id"] == r["id"]
    stranger = api.enterprise_key(api.enterprise()["id"])
    assert api.client.get(f"/v1/redemptions/{r['id']}", headers=stranger).status_code == 404
    assert api.ok("GET", "/v1/redemptions", headers=stranger)["items"] == []
    assert [x["id"] for x in api.ok("GET", "/v1/redemptions", headers=world.ent)["items"]] == [
        r["id"]]


def test_deduction_mode_status_at_redemption_one_fen_either_side(api, today):
    """The enterprise's share of 1,000,000 with 300,000 subsidy is 700,000: paid to the fen
    before redeeming, the provider is owed at once; one fen short, the redemption waits."""
    today("2026-06-15")
    world = make_world(api, settlement_mode="deduction")
    world.voucher(1_000_000)
    short = world.invoice([line("gpu", 1_000_000)], paid=False)
    world.pay(short["id"], 699_999)
    exact = world.invoice([line("gpu", 1_000_000)], paid=False)
    world.pay(exact["id"], 700_000)
    assert [(r["subsidy_fen"], r["status"]) for r in (world.redeem(short["id"]),
                                                      world.redeem(exact["id"]))] == [
        (300_000, "pending"), (300_000, "payable")]


def test_deduction_mode_pays_provider_once_enterprise_share_paid(api, today):
    today("2026-06-15")
    world = make_world(api, settlement_mode="deduction")
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 1_000_000)], paid=False)
    r = world.redeem(inv["id"])
    assert (r["subsidy_fen"], r["beneficiary_type"], r["status"]) == (300_000, "provider",
                                                                     "pending")
    assert r["beneficiary_id"] == world.provider["id"]
    r2 = api.client.post("/v1/settlements", headers=api.admin, json={"year": 2026})
    assert r2.status_code == 409 and r2.json()["code"] == "nothing_to_settle"
    world.pay(inv["id"], 699_999)
    assert api.ok("GET", f"/v1/redemptions/{r['id']}")["status"] == "pending"
    world.pay(inv["id"], 1)
    assert api.ok("GET", f"/v1/redemptions/{r['id']}")["status"] == "payable"
    batch = world.settle()
    assert batch["lines"][0]["beneficiary_type"] == "provider"
    assert batch["total_fen"] == 300_000
