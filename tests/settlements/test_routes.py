"""Settlement batches, clawbacks before and after settlement, payment files (§3.5–§3.6)."""

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from tests.flows import invoice_body, line, make_world


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
        "line_id": batch["lines"][0]["line_id"],
        "beneficiary_type": "enterprise", "beneficiary_id": world.enterprise["id"],
        "beneficiary_name": world.enterprise["name"], "beneficiary_uscc": world.enterprise["uscc"],
        "redemption_count": 2, "gross_fen": 360_000, "clawback_fen": 0, "amount_fen": 360_000,
        "frozen": False, "objection_ids": [], "withheld": False}]
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
    assert world.get_voucher(voucher["id"])["balance_fen"] == 820_000  # 120_000 given back
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


PAYMENT_COLUMNS = ["settlement_id", "year", "beneficiary_type", "beneficiary_id",
                   "beneficiary_name", "beneficiary_uscc", "account_name", "bank_name",
                   "bank_account", "redemption_count", "gross_fen", "clawback_fen", "amount_fen",
                   "amount_yuan", "bank_reference"]


def test_export_csv_and_xlsx(world, api):
    """Issue 21 item 3: the payment file carries whom to pay, and its XLSX amounts can be summed."""
    api.ok("PATCH", f"/v1/enterprises/{world.enterprise['id']}",
           json={"bank_name": "中国工商银行大连高新园区支行",
                 "bank_account": "3400 2012 0910 0012 345", "account_name": "大连算力应用有限公司"})
    world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 1_234_567)])["id"])
    batch = world.settle()
    r = api.client.get(f"/v1/settlements/{batch['id']}/export?format=csv", headers=api.admin)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    reader = csv.reader(io.StringIO(r.content.decode("utf-8-sig")))
    assert next(reader) == PAYMENT_COLUMNS
    assert list(reader) == [[
        batch["id"], "2026", "enterprise", world.enterprise["id"], world.enterprise["name"],
        world.enterprise["uscc"], "大连算力应用有限公司", "中国工商银行大连高新园区支行",
        "3400201209100012345", "1", "370370", "0", "370370", "3,703.70", "BOC-2026-0001"]]
    x = api.client.get(f"/v1/settlements/{batch['id']}/export?format=xlsx", headers=api.admin)
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert [c.value for c in sheet[1]] == PAYMENT_COLUMNS
    assert [c.value for c in sheet[2]] == [
        batch["id"], 2026, "enterprise", world.enterprise["id"], world.enterprise["name"],
        world.enterprise["uscc"], "大连算力应用有限公司", "中国工商银行大连高新园区支行",
        "3400201209100012345", 1, 370_370, 0, 370_370, 3703.7, "BOC-2026-0001"]
    cell = dict(zip(PAYMENT_COLUMNS, sheet[2]))
    for name in ("gross_fen", "clawback_fen", "amount_fen"):
        assert (cell[name].data_type, cell[name].number_format) == ("n", "0")
    assert (cell["amount_yuan"].data_type, cell["amount_yuan"].number_format) == (
        "n", "#,##0.00")
    assert cell["bank_account"].data_type == "s"  # 19 digits stay text, not 3.40E+18
    total = dict(zip(PAYMENT_COLUMNS, sheet[3]))
    assert (total["settlement_id"].value, total["amount_fen"].value,
            total["amount_yuan"].value, total["amount_yuan"].number_format) == (
        "total", 370_370, 3703.7, "#,##0.00")
    assert sheet.freeze_panes == "A2"
    bad = api.client.get(f"/v1/settlements/{batch['id']}/export?format=pdf", headers=api.admin)
    assert bad.status_code == 422


def test_xlsx_sums_several_beneficiaries_and_a_netted_line(api, today):
    """Deduction mode pays the providers: two lines, amounts numeric, the total row their sum;
    the account name defaults to the registered name."""
    today("2026-06-15")
    world = make_world(api, settlement_mode="deduction")
    other = api.provider(name="大连云脑科技有限公司", bank_name="招商银行大连分行",
                         bank_account="6214-8312-3456-7890")
    api.approve_provider(other["id"])
    world.voucher(10_000_000)
    world.redeem(world.invoice([line("gpu", 1_000_001)])["id"])  # 300,000.3 → 300,000
    body = invoice_body(world.enterprise["uscc"], [line("npu", 33_333)])
    prov = api.provider_key(other["id"])
    invoice = api.ok("POST", "/v1/invoices", headers=prov, json=body, expect=201)
    api.ok("POST", f"/v1/invoices/{invoice['id']}/payments", headers=prov, expect=201,
           json={"amount_fen": 33_333, "paid_on": "2026-05-10"})
    world.redeem(invoice["id"])  # 9,999.9 → 9,999
    batch = world.settle()
    x = api.client.get(f"/v1/settlements/{batch['id']}/export?format=xlsx", headers=api.admin)
    sheet = load_workbook(io.BytesIO(x.content)).active
    got = {row[3].value: (row[6].value, row[7].value, row[8].value, row[12].value,
                          row[13].value) for row in sheet.iter_rows(min_row=2, max_row=3)}
    assert got == {
        world.provider["id"]: (world.provider["name"], "中国银行大连分行",
                               world.provider["bank_account"].replace(" ", ""), 300_000, 3000.0),
        other["id"]: ("大连云脑科技有限公司", "招商银行大连分行", "6214831234567890", 9_999, 99.99)}
    total = [c.value for c in sheet[4]]
    assert (total[0], total[12], total[13]) == ("total", 309_999, 3099.99)
    assert batch["total_fen"] == 309_999


def payment_rows(api, batch_id: str) -> list[dict]:
    r = api.client.get(f"/v1/settlements/{batch_id}/export?format=csv", headers=api.admin)
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))


def test_approval_needs_every_beneficiary_account(api, today):
    """A batch paying a beneficiary without an account on file is 409, naming each one, and
    nothing is written; registered, the batch is approved and its payees fixed on it."""
    today("2026-06-15")
    world = make_world(api)
    bare = api.enterprise(name="大连无账户科技有限公司", bank_account=None, bank_name=None)
    half = api.enterprise(name="大连半账户科技有限公司", bank_name=None,
                          bank_account="6222 0000 1111 2222")
    world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 100_000)])["id"])
    for e in (bare, half):
        api.voucher(e["id"], 1_000_000)
        inv = api.ok("POST", "/v1/invoices", headers=world.prov, expect=201,
                     json=invoice_body(e["uscc"], [line("gpu", 100_000)]))
        api.ok("POST", f"/v1/invoices/{inv['id']}/payments", headers=world.prov, expect=201,
               json={"amount_fen": 100_000, "paid_on": "2026-05-10"})
        api.ok("POST", "/v1/redemptions", headers=api.enterprise_key(e["id"]), expect=201,
               json={"invoice_id": inv["id"]})
    batch = world.settle(approve_and_pay=False)
    events = len(api.ok("GET", "/v1/audit-events", params={"limit": 500})["items"])

    r = api.client.post(f"/v1/settlements/{batch['id']}/approve", headers=api.admin)

    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "beneficiary_account_missing"
    assert sorted(problem["beneficiaries"], key=lambda b: b["beneficiary_name"]) == [
        {"beneficiary_type": "enterprise", "beneficiary_id": half["id"],
         "beneficiary_name": "大连半账户科技有限公司", "missing": ["bank_name"]},
        {"beneficiary_type": "enterprise", "beneficiary_id": bare["id"],
         "beneficiary_name": "大连无账户科技有限公司", "missing": ["bank_account", "bank_name"]}]
    for e in (bare, half):
        assert e["id"] in problem["detail"] and e["name"] in problem["detail"]
    assert world.enterprise["id"] not in problem["detail"]
    # nothing written: still a draft, no event, no payee fixed
    assert api.ok("GET", f"/v1/settlements/{batch['id']}")["status"] == "draft"
    assert len(api.ok("GET", "/v1/audit-events", params={"limit": 500})["items"]) == events
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM settlement_line WHERE bank_account "
                                 "IS NOT NULL")).scalar() == 0
    rows = {row["beneficiary_id"]: row for row in payment_rows(api, batch["id"])}
    assert (rows[bare["id"]]["bank_account"], rows[half["id"]]["bank_name"]) == ("", "")

    for e in (bare, half):
        api.ok("PATCH", f"/v1/enterprises/{e['id']}",
               json={"bank_name": "大连银行", "bank_account": f"8001{e['uscc'][8:17]}"})
    assert api.ok("POST", f"/v1/settlements/{batch['id']}/approve")["status"] == "approved"
    # the payee is fixed at approval: a later registry change does not reach the payment file
    api.ok("PATCH", f"/v1/enterprises/{bare['id']}",
           json={"bank_account": "9999 9999 9999", "account_name": "别人"})
    row = {r["beneficiary_id"]: r for r in payment_rows(api, batch["id"])}[bare["id"]]
    assert (row["account_name"], row["bank_name"], row["bank_account"]) == (
        "大连无账户科技有限公司", "大连银行", f"8001{bare['uscc'][8:17]}")


def test_a_line_that_pays_nothing_needs_no_account(world, api):
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    world.redeem(inv["id"])
    world.settle()
    world.reverse(inv["id"], 1_000_000)  # 300,000 owed back
    world.redeem(world.invoice([line("gpu", 100_000)])["id"])  # 30,000 payable, all netted
    with api.engine.begin() as conn:  # an account closed since (the API cannot unset a fact)
        conn.execute(text("UPDATE enterprise SET bank_account = NULL, bank_account_norm = NULL "
                          "WHERE id = :i"), {"i": world.enterprise["id"]})
    batch = world.settle()
    assert (batch["status"], batch["total_fen"]) == ("paid", 0)
    assert payment_rows(api, batch["id"])[0]["bank_account"] == ""


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


# --- a reversal after payout: the clawback gives the drawn amount back to the vouchers --------


def transfers(api) -> dict[str, tuple]:
    """Every transfer of 2026 as (kind, debited account code, credited account code, fen)."""
    codes = {a["id"]: a["code"]
             for a in api.ok("GET", "/v1/ledger/accounts", params={"year": 2026,
                                                                    "limit": 500})["items"]}
    items = api.ok("GET", "/v1/ledger/transfers", params={"year": 2026, "limit": 500})["items"]
    return {t["id"]: (t["kind"], codes[t["debit_account_id"]], codes[t["credit_account_id"]],
                      t["amount_fen"]) for t in items}


def written_by(api, action) -> list[tuple]:
    before = transfers(api)
    action()
    return sorted(t for i, t in transfers(api).items() if i not in before)


def budget_figures(api) -> dict[str, int]:
    b = api.ok("GET", "/v1/years/2026/budget")
    assert b["available_fen"] == b["pool_fen"] - b["issued_fen"] + b["returned_fen"]
    return {k: b[k] for k in ("issued_fen", "returned_fen", "available_fen", "outstanding_fen",
                              "redeemed_fen", "payable_fen", "paid_fen", "clawback_fen",
                              "clawback_outstanding_fen")}


def reconciled(api) -> None:
    result = api.ok("GET", "/v1/years/2026/reconciliation")
    assert result["ok"] is True, [c for c in result["checks"] if not c["ok"]]


@pytest.mark.parametrize("mode", ["reimbursement", "deduction"])
def test_full_reversal_after_payout_gives_the_voucher_back(api, today, mode):
    """PRODUCT.md §3.5: 60,000 redeemed, paid out, then reversed in full: 60,000 is owed back
    and the voucher balance is back where it was before the redemption."""
    today("2026-06-15")
    world = make_world(api, settlement_mode=mode)
    voucher = world.voucher(60_000)  # the enterprise's only voucher
    inv = world.invoice([line("gpu", 200_000)])
    r = world.redeem(inv["id"])
    assert (r["subsidy_fen"], world.get_voucher(voucher["id"])["status"]) == (60_000, "exhausted")
    assert world.settle()["total_fen"] == 60_000
    beneficiary = f"{r['beneficiary_type']}:{r['beneficiary_id']}"
    assert beneficiary == (f"provider:{world.provider['id']}" if mode == "deduction"
                           else f"enterprise:{world.enterprise['id']}")

    written = written_by(api, lambda: world.reverse(inv["id"], 200_000))

    assert written == [
        ("clawback", f"2026:receivable:{beneficiary}", "2026:clawed_back", 60_000),
        ("clawback_restore", "2026:clawed_back", f"2026:voucher:voucher:{voucher['id']}", 60_000)]
    got = world.get_voucher(voucher["id"])
    assert (got["balance_fen"], got["status"], got["returned_fen"], got["redeemed_fen"]) == (
        60_000, "active", 0, 0)
    red = api.ok("GET", f"/v1/redemptions/{r['id']}")
    assert (red["subsidy_fen"], red["clawed_back_fen"], red["net_subsidy_fen"], red["status"]) == (
        60_000, 60_000, 0, "paid")
    assert red["draws"] == [{"voucher_id": voucher["id"], "amount_fen": 60_000,
                             "restored_fen": 60_000}]
    pool = world.year["pool_fen"]
    assert budget_figures(api) == {
        "issued_fen": 60_000, "returned_fen": 0, "available_fen": pool - 60_000,
        "outstanding_fen": 60_000, "redeemed_fen": 0, "payable_fen": 0, "paid_fen": 60_000,
        "clawback_fen": 60_000, "clawback_outstanding_fen": 60_000}
    assert ledger_balance(api, "receivable") == -60_000
    assert ledger_balance(api, "clawed_back") == 0
    reconciled(api)

    # The provider reissues a corrected invoice: the enterprise redeems it from the same voucher.
    corrected = world.invoice([line("gpu", 150_000)])
    again = world.redeem(corrected["id"])
    assert (again["subsidy_fen"], again["draws"]) == (
        45_000, [{"voucher_id": voucher["id"], "amount_fen": 45_000, "restored_fen": 0}])
    assert world.get_voucher(voucher["id"])["balance_fen"] == 15_000
    batch = world.settle()  # 45,000 payable, netted against the 60,000 owed: 15,000 carries
    assert [(x["gross_fen"], x["clawback_fen"], x["amount_fen"]) for x in batch["lines"]] == [
        (45_000, 45_000, 0)]
    assert budget_figures(api) == {
        "issued_fen": 60_000, "returned_fen": 0, "available_fen": pool - 60_000,
        "outstanding_fen": 15_000, "redeemed_fen": 45_000, "payable_fen": 0, "paid_fen": 60_000,
        "clawback_fen": 60_000, "clawback_outstanding_fen": 15_000}
    reconciled(api)


@pytest.mark.parametrize("mode", ["reimbursement", "deduction"])
def test_partial_reversal_after_payout_restores_to_the_fen(api, today, mode):
    today("2026-06-15")
    world = make_world(api, settlement_mode=mode)
    voucher = world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 1_234_567)])
    assert world.redeem(inv["id"])["subsidy_fen"] == 370_370  # ⌊370,370.1⌋
    world.settle()
    # net 1,233,566 → eligible ⌊370,069.8⌋ = 370,069: 301 fen taken back
    written = written_by(api, lambda: world.reverse(inv["id"], 1_001))
    assert [(kind, fen) for kind, _, _, fen in written] == [("clawback", 301),
                                                            ("clawback_restore", 301)]
    assert world.get_voucher(voucher["id"])["balance_fen"] == 1_000_000 - 370_370 + 301
    assert world.get_invoice(inv["id"])["redeemed_fen"] == 370_069
    b = budget_figures(api)
    assert (b["outstanding_fen"], b["redeemed_fen"], b["paid_fen"], b["clawback_fen"],
            b["clawback_outstanding_fen"]) == (629_931, 370_069, 370_370, 301, 301)
    assert b["issued_fen"] - b["returned_fen"] == b["outstanding_fen"] + b["redeemed_fen"]
    reconciled(api)


def test_clawback_restores_last_drawn_first_and_a_revoked_voucher_passes_it_to_the_pool(
        api, today):
    today("2026-06-15")
    world = make_world(api)
    first = world.voucher(100_000, valid_until="2026-09-30")  # earliest expiry: drawn first
    second = world.voucher(500_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    r = world.redeem(inv["id"])
    assert [(d["voucher_id"], d["amount_fen"]) for d in r["draws"]] == [
        (first["id"], 100_000), (second["id"], 200_000)]
    world.settle()
    api.ok("POST", f"/v1/vouchers/{second['id']}/revoke")  # its 300,000 balance goes back

    written = written_by(api, lambda: world.reverse(inv["id"], 1_000_000))

    second_account = f"2026:voucher:voucher:{second['id']}"
    assert written == sorted([
        ("clawback", f"2026:receivable:enterprise:{world.enterprise['id']}", "2026:clawed_back",
         300_000),
        ("clawback_restore", "2026:clawed_back", second_account, 200_000),
        ("revoked_return", second_account, "2026:pool", 200_000),
        ("clawback_restore", "2026:clawed_back", f"2026:voucher:voucher:{first['id']}",
         100_000)])
    got_first, got_second = world.get_voucher(first["id"]), world.get_voucher(second["id"])
    assert (got_first["balance_fen"], got_first["status"], got_first["returned_fen"]) == (
        100_000, "active", 0)
    assert (got_second["balance_fen"], got_second["status"], got_second["returned_fen"]) == (
        0, "revoked", 500_000)
    assert api.ok("GET", f"/v1/redemptions/{r['id']}")["draws"] == [
        {"voucher_id": first["id"], "amount_fen": 100_000, "restored_fen": 100_000},
        {"voucher_id": second["id"], "amount_fen": 200_000, "restored_fen": 200_000}]
    pool = world.year["pool_fen"]
    assert budget_figures(api) == {
        "issued_fen": 600_000, "returned_fen": 500_000, "available_fen": pool - 100_000,
        "outstanding_fen": 100_000, "redeemed_fen": 0, "payable_fen": 0, "paid_fen": 300_000,
        "clawback_fen": 300_000, "clawback_outstanding_fen": 300_000}
    reconciled(api)
    # the revoked voucher's share is back under the enterprise's cap: a new voucher may use it
    assert world.voucher(world.year["enterprise_cap_fen"] - 100_000)["status"] == "active"


def test_clawback_on_a_voucher_past_its_validity_goes_to_the_pool(api, today):
    today("2026-06-15")
    world = make_world(api)
    voucher = world.voucher(60_000, valid_until="2026-06-30")
    inv = world.invoice([line("gpu", 200_000)])
    world.redeem(inv["id"])
    world.settle()
    today("2026-07-01")  # the voucher reads expired; the year-close job has not run
    assert world.get_voucher(voucher["id"])["status"] == "expired"

    written = written_by(api, lambda: world.reverse(inv["id"], 200_000))

    account = f"2026:voucher:voucher:{voucher['id']}"
    assert written == sorted([
        ("clawback", f"2026:receivable:enterprise:{world.enterprise['id']}", "2026:clawed_back",
         60_000),
        ("clawback_restore", "2026:clawed_back", account, 60_000),
        ("expired_return", account, "2026:pool", 60_000)])
    got = world.get_voucher(voucher["id"])
    assert (got["balance_fen"], got["status"], got["returned_fen"]) == (0, "expired", 60_000)
    b = budget_figures(api)
    assert (b["issued_fen"], b["returned_fen"], b["outstanding_fen"], b["redeemed_fen"],
            b["clawback_outstanding_fen"]) == (60_000, 60_000, 0, 0, 60_000)
    reconciled(api)
