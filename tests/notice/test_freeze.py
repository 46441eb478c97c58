"""Objections freeze only what they name (issue 24 §1): paying pays the unfrozen lines, a
dismissed objection makes the line payable again, an upheld one rejects its redemptions (the
vouchers get the capacity back) and bars its invoices. The ledger, the budget identity and
reconciliation hold in every state."""

import csv
import io

import pytest

from tests.flows import line
from tests.notice.helpers import line_of, two_enterprises

GOOD = {"name": "张三", "phone": "13912345678", "content": "该企业的发票与合同金额不符，请核查。"}


@pytest.fixture
def two(api, today):
    today("2026-06-15")  # Monday; a 5-day notice ends Monday 22nd
    return two_enterprises(api, notice_working_days=5)


@pytest.fixture
def batch(two):
    two.redeem_both()  # A: 300_000, B: 600_000
    return two.published_batch()


def _object(client, batch, line_ids):
    r = client.post(f"/v1/public/notices/{batch['id']}/objections",
                    json={"line_ids": line_ids, **GOOD})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _resolve(api, objection_id, outcome, reason="已核实"):
    return api.ok("POST", f"/v1/objections/{objection_id}/resolve",
                  json={"outcome": outcome, "reason": reason})


def _pay(api, today, batch_id, day="2026-06-23"):
    today(day)
    return api.ok("POST", f"/v1/settlements/{batch_id}/pay", json={"bank_reference": "BOC-9"})


def _clean(api) -> dict:
    """Reconciliation passes and the budget identity holds; the budget for further checks."""
    recon = api.ok("GET", "/v1/years/2026/reconciliation")
    assert recon["ok"], [c for c in recon["checks"] if not c["ok"]]
    budget = api.ok("GET", "/v1/years/2026/budget")
    assert budget["available_fen"] == (budget["pool_fen"] - budget["issued_fen"]
                                       + budget["returned_fen"])
    return budget


def _balance(api, kind, owner_id=None) -> int:
    params = {"year": 2026, "kind": kind, "limit": 500}
    if owner_id:
        params["owner_id"] = owner_id
    return sum(a["balance_fen"] for a in api.ok("GET", "/v1/ledger/accounts",
                                                params=params)["items"])


def _csv_beneficiaries(api, batch_id) -> list[str]:
    r = api.client.get(f"/v1/settlements/{batch_id}/export", headers=api.admin)
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    return [row["beneficiary_id"] for row in rows if row.get("beneficiary_id")]


def test_pay_pays_the_unfrozen_lines_only(two, batch, client, api, today):
    a = line_of(batch, two.a.enterprise["id"])
    _object(client, batch, [a["line_id"]])
    _clean(api)
    assert _csv_beneficiaries(api, batch["id"]) == [two.b.enterprise["id"]]
    paid = _pay(api, today, batch["id"])
    assert (paid["status"], paid["total_fen"]) == ("paid", 600_000)
    got = {x["beneficiary_id"]: (x["frozen"], x["withheld"], x["amount_fen"])
           for x in paid["lines"]}
    assert got == {two.a.enterprise["id"]: (True, True, 300_000),
                   two.b.enterprise["id"]: (False, False, 600_000)}
    assert _balance(api, "paid") == 600_000
    assert _balance(api, "payable", two.a.enterprise["id"]) == 300_000
    assert _balance(api, "payable", two.b.enterprise["id"]) == 0
    assert _csv_beneficiaries(api, batch["id"]) == [two.b.enterprise["id"]]
    public = client.get(f"/v1/public/notices/{batch['id']}").json()
    assert (public["total_fen"], [x["line_id"] for x in public["lines"]]) == (
        600_000, [line_of(batch, two.b.enterprise["id"])["line_id"]])
    redemptions = api.ok("GET", "/v1/redemptions", params={"limit": 500})["items"]
    assert {r["enterprise_id"]: r["status"] for r in redemptions} == {
        two.a.enterprise["id"]: "settling", two.b.enterprise["id"]: "paid"}
    _clean(api)
    # still frozen: no later batch takes A's redemptions
    r = api.client.post("/v1/settlements", headers=api.admin, json={"year": 2026})
    assert (r.status_code, r.json()["code"]) == (409, "nothing_to_settle")


def test_dismissed_after_payment_is_payable_again_in_a_later_batch(two, batch, client, api,
                                                                   today):
    a = line_of(batch, two.a.enterprise["id"])
    oid = _object(client, batch, [a["line_id"]])
    _pay(api, today, batch["id"])
    resolved = _resolve(api, oid, "dismissed", "经核查，异议不成立")
    assert (resolved["status"], resolved["resolution_reason"]) == ("dismissed", "经核查，异议不成立")
    seen = line_of(api.ok("GET", f"/v1/settlements/{batch['id']}"), two.a.enterprise["id"])
    assert (seen["frozen"], seen["withheld"], seen["objection_ids"]) == (False, True, [oid])
    _clean(api)
    later = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    assert (later["total_fen"], [x["beneficiary_id"] for x in later["lines"]]) == (
        300_000, [two.a.enterprise["id"]])
    api.ok("POST", f"/v1/settlements/{later['id']}/approve")
    api.ok("POST", f"/v1/settlements/{later['id']}/publish")
    paid = _pay(api, today, later["id"], day="2026-07-01")
    assert paid["total_fen"] == 300_000
    assert _balance(api, "paid") == 900_000
    assert _balance(api, "payable") == 0
    _clean(api)


def test_dismissed_before_payment_pays_the_line_in_its_batch(two, batch, client, api, today):
    a = line_of(batch, two.a.enterprise["id"])
    oid = _object(client, batch, [a["line_id"]])
    _resolve(api, oid, "dismissed")
    assert _pay(api, today, batch["id"])["total_fen"] == 900_000
    assert _balance(api, "paid") == 900_000
    _clean(api)


def test_a_line_stays_frozen_while_any_objection_on_it_is_open(two, batch, client, api, today):
    a = line_of(batch, two.a.enterprise["id"])["line_id"]
    b = line_of(batch, two.b.enterprise["id"])["line_id"]
    first = _object(client, batch, [a])
    _object(client, batch, [a, b])
    _resolve(api, first, "dismissed")
    seen = api.ok("GET", f"/v1/settlements/{batch['id']}")
    assert {x["line_id"]: x["frozen"] for x in seen["lines"]} == {a: True, b: True}
    paid = _pay(api, today, batch["id"])
    assert paid["total_fen"] == 0
    assert _balance(api, "paid") == 0
    _clean(api)


def test_upheld_rejects_the_line_and_gives_the_vouchers_back(two, batch, client, api, today):
    a = line_of(batch, two.a.enterprise["id"])
    voucher = api.ok("GET", "/v1/vouchers", headers=two.a.ent)["items"][0]
    assert voucher["balance_fen"] == 10_000_000 - 300_000
    before = _clean(api)
    oid = _object(client, batch, [a["line_id"]])
    resolved = _resolve(api, oid, "upheld", "经核查属实")
    assert resolved["status"] == "upheld"
    assert api.ok("GET", f"/v1/vouchers/{voucher['id']}")["balance_fen"] == 10_000_000
    [red] = api.ok("GET", "/v1/redemptions", headers=two.a.ent)["items"]
    assert (red["status"], red["clawed_back_fen"]) == ("rejected", 300_000)
    after = _clean(api)
    assert after["redeemed_fen"] == before["redeemed_fen"] - 300_000
    assert _balance(api, "payable", two.a.enterprise["id"]) == 0
    # the invoice is never redeemed again
    r = api.client.post("/v1/redemptions", headers=two.a.ent,
                        json={"invoice_id": red["invoice_id"]})
    assert (r.status_code, r.json()["code"]) == (409, "nothing_to_redeem")
    # the batch pays B only; the upheld line stays frozen
    paid = _pay(api, today, batch["id"])
    assert (paid["total_fen"], line_of(paid, two.a.enterprise["id"])["frozen"]) == (600_000, True)
    assert _balance(api, "paid") == 600_000
    _clean(api)
    [event] = [e for e in api.ok("GET", "/v1/audit-events", params={"limit": 500})["items"]
               if e["action"] == "objection.upheld"]
    assert event["summary"]["lines"][0]["restored_fen"] == 300_000
    assert "张三" not in str(event) and "13912345678" not in str(event)


def test_upheld_after_payment_rejects_the_withheld_line(two, batch, client, api, today):
    a = line_of(batch, two.a.enterprise["id"])
    oid = _object(client, batch, [a["line_id"]])
    _pay(api, today, batch["id"])
    _resolve(api, oid, "upheld")
    [red] = api.ok("GET", "/v1/redemptions", headers=two.a.ent)["items"]
    assert red["status"] == "rejected"
    assert _balance(api, "payable") == 0
    _clean(api)


def test_a_new_invoice_of_the_same_enterprise_is_still_redeemable(two, batch, client, api):
    oid = _object(client, batch, [line_of(batch, two.a.enterprise["id"])["line_id"]])
    _resolve(api, oid, "upheld")
    two.a.redeem(two.a.invoice([line("gpu", 100_000)])["id"])


def test_resolving_twice_is_409_and_a_reason_is_required(two, batch, client, api):
    oid = _object(client, batch, [batch["lines"][0]["line_id"]])
    r = api.client.post(f"/v1/objections/{oid}/resolve", headers=api.admin,
                        json={"outcome": "dismissed"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["reason"]
    r = api.client.post(f"/v1/objections/{oid}/resolve", headers=api.admin,
                        json={"outcome": "maybe", "reason": "x"})
    assert r.status_code == 422
    _resolve(api, oid, "dismissed")
    again = api.client.post(f"/v1/objections/{oid}/resolve", headers=api.admin,
                            json={"outcome": "upheld", "reason": "x"})
    assert (again.status_code, again.json()["code"]) == (409, "objection_resolved")
    missing = api.client.post("/v1/objections/obj_NOPE/resolve", headers=api.admin,
                              json={"outcome": "upheld", "reason": "x"})
    assert missing.status_code == 404
    actions = [e["action"] for e in api.ok("GET", "/v1/audit-events",
                                           params={"limit": 500})["items"]]
    assert actions.count("objection.dismissed") == 1


def test_a_withheld_line_owes_its_netted_clawback_again(two, client, api, today):
    """A clawback netted on a line that is then withheld is owed again, for a later batch."""
    two.a.voucher(10_000_000)
    first = two.a.invoice([line("gpu", 1_000_000)])
    two.a.redeem(first["id"])  # 300_000
    paid = two.published_batch()
    _pay(api, today, paid["id"])
    two.a.reverse(first["id"], 100_000)  # settled: 30_000 clawed back, owed by A
    today("2026-06-24")
    two.a.redeem(two.a.invoice([line("gpu", 500_000)])["id"])  # 150_000
    batch = two.published_batch()
    a = line_of(batch, two.a.enterprise["id"])
    assert (a["gross_fen"], a["clawback_fen"], a["amount_fen"]) == (150_000, 30_000, 120_000)
    _object(client, batch, [a["line_id"]])
    assert _pay(api, today, batch["id"], day="2026-07-02")["total_fen"] == 0
    _clean(api)
    [objection] = api.ok("GET", "/v1/objections", params={"settlement_id": batch["id"]})["items"]
    _resolve(api, objection["id"], "dismissed")
    later = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    again = line_of(later, two.a.enterprise["id"])
    assert (again["gross_fen"], again["clawback_fen"], again["amount_fen"]) == (
        150_000, 30_000, 120_000)
    api.ok("POST", f"/v1/settlements/{later['id']}/approve")
    api.ok("POST", f"/v1/settlements/{later['id']}/publish")
    assert _pay(api, today, later["id"], day="2026-07-10")["total_fen"] == 120_000
    assert _balance(api, "paid") == 300_000 + 120_000
    _clean(api)


def test_a_withheld_line_is_no_award_and_the_indicators_count_the_objections(
        two, batch, client, api, today):
    a = line_of(batch, two.a.enterprise["id"])
    b = line_of(batch, two.b.enterprise["id"])
    upheld = _object(client, batch, [a["line_id"]])
    dismissed = _object(client, batch, [b["line_id"]])
    _object(client, batch, [a["line_id"]])  # left open
    _resolve(api, upheld, "upheld")
    _resolve(api, dismissed, "dismissed")
    _pay(api, today, batch["id"])
    awards = client.get("/v1/public/awards", params={"year": 2026}).json()["items"]
    assert [(x["recipient_org_id"], x["amount_disbursed_fen"]) for x in awards] == [
        (two.b.enterprise["uscc"], 600_000)]
    figures = api.ok("GET", "/v1/years/2026/performance", headers=api.auditor())
    assert figures["objections"] == {"received": 3, "upheld": 1, "dismissed": 1}
    enterprise = api.client.get("/v1/years/2026/performance", headers=two.a.ent)
    assert enterprise.status_code == 403


def test_what_if_replays_an_upheld_objection_as_the_rejection_it_was(two, batch, client, api):
    """A scenario with the year's own policy gives the year's own figures: the redemption an
    upheld objection rejected stands no more in the replay either (docs/what-if.md)."""
    _resolve(api, _object(client, batch, [line_of(batch, two.a.enterprise["id"])["line_id"]]),
             "upheld")
    got = api.ok("POST", "/v1/years/2026/scenarios/compare", json={"scenarios": [
        {"name": "同现行政策", "overrides": {"rate_bp": 3000}}]})
    assert got["baseline"]["total_subsidy_fen"] == 600_000
    assert got["scenarios"][0]["total_subsidy_fen"] == 600_000
