"""Settlement batches, clawbacks before and after settlement, payment files (§3.5–§3.6)."""

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.flows import line, make_world


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    return make_world(api)


def ledger_balance(api, kind: str, owner_id: str | None = None) -> int:
    params = {"year": 2026, "kind": kind, "limit": 500}
    if owner_id:
        params["owner_id"] = owner_id
    items = api.ok("GET", "/v1/ledger/accounts", params=params)["items"]
    return sum(a["balance_fen"] for a in items)


def test_settle_approve_pay_and_ledger(world, api):
    world.voucher(1_000_000)
    r1 = world.redeem(world.invoice([line("gpu", 1_000_000)])["id"])
    r2 = world.redeem(world.invoice([line("npu", 200_000)])["id"])
    assert ledger_balance(api, "payable") == 360_000
    batch = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    assert batch["status"] == "draft"
    assert batch["total_fen"] == 360_000
    assert batch["lines"] == [{
        "beneficiary_type": "enterprise", "beneficiary_id": world.enterprise["id"],
        "beneficiary_name": world.enterprise["name"], "beneficiary_uscc": world.enterprise["uscc"],
        "redemption_count": 2, "gross_fen": 360_000, "clawback_fen": 0, "amount_fen": 360_000}]
    assert api.ok("GET", f"/v1/redemptions/{r1['id']}")["status"] == "settling"
    # paying a draft is refused: approve first
    r = api.client.post(f"/v1/settlements/{batch['id']}/pay", headers=api.admin,
                        json={"bank_reference": "X"})
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    api.ok("POST", f"/v1/settlements/{batch['id']}/approve")
    paid = api.ok("POST", f"/v1/settlements/{batch['id']}/pay",
                  json={"bank_reference": "BOC-20260615-01"})
    assert (paid["status"], paid["bank_reference"]) == ("paid", "BOC-20260615-01")
    assert ledger_balance(api, "payable") == 0
    assert ledger_balance(api, "paid") == 360_000
    for r in (r1, r2):
        assert api.ok("GET", f"/v1/redemptions/{r['id']}")["status"] == "paid"
    # everything is settled: a second batch has nothing to take
    again = api.client.post("/v1/settlements", headers=api.admin, json={"year": 2026})
    assert (again.status_code, again.json()["code"]) == (409, "nothing_to_settle")


def test_cutoff_excludes_later_redemptions(world, api, today):
    world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 100_000)])["id"])
    today("2026-06-20")
    world.redeem(world.invoice([line("gpu", 200_000)])["id"])
    batch = api.ok("POST", "/v1/settlements", expect=201,
                   json={"year": 2026, "cutoff": "2026-06-16T00:00:00+08:00"})
    assert batch["total_fen"] == 30_000
    second = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    assert second["total_fen"] == 60_000


def test_reversal_before_settlement_restores_voucher(world, api):
    voucher = world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 800_000), line("accelerator", 200_000)])
    r = world.redeem(inv["id"])
    assert r["subsidy_fen"] == 300_000
    after = world.reverse(inv["id"], 250_000)
    assert after["eligible_subsidy_fen"] == 225_000
    assert after["redeemed_fen"] == 225_000
    assert world.get_voucher(voucher["id"])["balance_fen"] == 775_000
    red = api.ok("GET", f"/v1/redemptions/{r['id']}")
    assert (red["clawed_back_fen"], red["net_subsidy_fen"], red["status"]) == (75_000, 225_000,
                                                                             "payable")
    assert red["draws"][0]["restored_fen"] == 75_000
    assert ledger_balance(api, "payable") == 225_000
    assert ledger_balance(api, "voucher", voucher["id"]) == 775_000
    assert world.settle()["total_fen"] == 225_000


def test_full_reversal_before_settlement(world, api):
    voucher = world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 100_000)])
    r = world.redeem(inv["id"])
    world.reverse(inv["id"], 100_000)
    assert world.get_voucher(voucher["id"])["balance_fen"] == 1_000_000
    assert api.ok("GET", f"/v1/redemptions/{r['id']}")["status"] == "reversed"
    assert ledger_balance(api, "payable") == 0


def test_reversal_after_payout_is_clawed_back_in_next_batch(world, api):
    voucher = world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    world.redeem(inv["id"])
    assert world.settle()["total_fen"] == 300_000
    world.reverse(inv["id"], 400_000)  # eligible falls to 180_000: 120_000 owed back
    assert world.get_voucher(voucher["id"])["balance_fen"] == 700_000  # not restored
    assert ledger_balance(api, "receivable") == -120_000
    world.redeem(world.invoice([line("gpu", 500_000)])["id"])  # 150_000 payable
    batch = world.settle()
    assert batch["lines"][0]["gross_fen"] == 150_000
    assert batch["lines"][0]["clawback_fen"] == 120_000
    assert batch["lines"][0]["amount_fen"] == 30_000
    assert batch["total_fen"] == 30_000
    assert ledger_balance(api, "receivable") == 0
    assert ledger_balance(api, "paid") == 330_000
    assert ledger_balance(api, "payable") == 0


def test_clawback_larger_than_payable_carries_forward(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    world.redeem(inv["id"])
    world.settle()
    world.reverse(inv["id"], 1_000_000)  # all 300_000 owed back
    world.redeem(world.invoice([line("gpu", 100_000)])["id"])  # 30_000 payable
    first = world.settle()
    assert (first["lines"][0]["clawback_fen"], first["total_fen"]) == (30_000, 0)
    assert ledger_balance(api, "receivable") == -270_000
    world.redeem(world.invoice([line("gpu", 2_000_000)])["id"])  # 600_000 payable
    second = world.settle()
    assert (second["lines"][0]["clawback_fen"], second["total_fen"]) == (270_000, 330_000)
    assert ledger_balance(api, "receivable") == 0


def test_export_csv_and_xlsx(world, api):
    world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 1_234_567)])["id"])
    batch = world.settle()
    r = api.client.get(f"/v1/settlements/{batch['id']}/export?format=csv", headers=api.admin)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 1
    assert rows[0]["amount_fen"] == "370370"
    assert rows[0]["amount_yuan"] == "3,703.70"
    assert rows[0]["beneficiary_uscc"] == world.enterprise["uscc"]
    assert rows[0]["bank_reference"] == "BOC-2026-0001"
    x = api.client.get(f"/v1/settlements/{batch['id']}/export?format=xlsx", headers=api.admin)
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content)).active
    header = [c.value for c in sheet[1]]
    values = dict(zip(header, [c.value for c in sheet[2]]))
    assert values["amount_fen"] == 370_370
    assert values["beneficiary_name"] == world.enterprise["name"]
    bad = api.client.get(f"/v1/settlements/{batch['id']}/export?format=pdf", headers=api.admin)
    assert bad.status_code == 422


def test_settlement_roles(world, api):
    world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 100_000)])["id"])
    for headers in (world.ent, world.prov, api.auditor()):
        r = api.client.post("/v1/settlements", headers=headers, json={"year": 2026})
        assert r.status_code == 403
    batch = world.settle(approve_and_pay=False)
    auditor = api.auditor()
    assert api.ok("GET", f"/v1/settlements/{batch['id']}", headers=auditor)["id"] == batch["id"]
    assert api.client.post(f"/v1/settlements/{batch['id']}/approve",
                           headers=auditor).status_code == 403
    assert api.client.get(f"/v1/settlements/{batch['id']}",
                          headers=world.ent).status_code == 403
    assert api.client.get("/v1/settlements/stl_nope", headers=api.admin).status_code == 404
