"""The review queue (issue 14 items 3–4, docs/risk.md): a held redemption cleared and one
rejected, exact to the fen in vouchers, ledger and budget, reconciliation clean in every state;
two reviewers above the second threshold; every decision audited; the precision table; the
back-test writes nothing."""

import pytest
from sqlalchemy import text

from service.risk.policy import DEFAULT_RULES
from tests.conftest import SQLITE_ONLY
from tests.factories import bearer
from tests.flows import line, make_world


def only_round(weight: int = 10) -> dict:
    rules = {r: {"enabled": False} for r in DEFAULT_RULES}
    rules["round_amount"] = {"enabled": True, "weight": weight}
    return rules


@pytest.fixture
def world(api, today):
    today("2026-06-15")  # a Monday
    return make_world(api, risk_rules=only_round(), review_threshold=10,
                      second_review_threshold=50)


def held(world, amount_fen: int = 10_000_000):
    voucher = world.voucher(10_000_000)
    inv = world.invoice([line("gpu", amount_fen)])
    r = world.redeem(inv["id"])
    assert r["status"] == "under_review", r
    return voucher, inv, r


def budget(api) -> dict:
    b = api.ok("GET", "/v1/years/2026/budget")
    return {k: b[k] for k in ("issued_fen", "returned_fen", "available_fen", "outstanding_fen",
                              "redeemed_fen", "payable_fen", "paid_fen")}


def reconciled(api) -> None:
    result = api.ok("GET", "/v1/years/2026/reconciliation")
    assert result["ok"] is True, [c for c in result["checks"] if not c["ok"]]


def accounts(api) -> dict[str, int]:
    items = api.ok("GET", "/v1/ledger/accounts?year=2026&limit=500")["items"]
    return {a["code"]: a["balance_fen"] for a in items}


def review_of(api, redemption_id: str) -> dict:
    (item,) = [i for i in api.ok("GET", "/v1/reviews")["items"]
               if i["redemption_id"] == redemption_id]
    return item


def test_held_redemption_is_drawn_but_not_payable(world, api):
    voucher, inv, r = held(world)
    assert r["subsidy_fen"] == 3_000_000 and r["risk_score"] == 10
    assert [f["rule"] for f in r["flags"]] == ["round_amount"]
    assert world.get_voucher(voucher["id"])["balance_fen"] == 7_000_000
    assert budget(api) == {"issued_fen": 10_000_000, "returned_fen": 0,
                           "available_fen": 1_990_000_000, "outstanding_fen": 7_000_000,
                           "redeemed_fen": 3_000_000, "payable_fen": 0, "paid_fen": 0}
    balances = accounts(api)
    assert balances["2026:held"] == 3_000_000
    assert balances.get(f"2026:payable:enterprise:{world.enterprise['id']}", 0) == 0
    reconciled(api)
    # not in a settlement
    r2 = api.client.post("/v1/settlements", headers=api.admin, json={"year": 2026})
    assert (r2.status_code, r2.json()["code"]) == (409, "nothing_to_settle")
    item = review_of(api, r["id"])
    assert (item["score"], item["status"], item["due_on"], item["overdue"]) == (
        10, "open", "2026-06-22", False)
    assert item["decisions"] == [] and item["flags"][0]["outcome"] is None
    assert item["flags"][0]["evidence"]["total_fen"] == 10_000_000
    # the invoice's redeemed amount counts it (no second redemption of the same subsidy)
    assert world.get_invoice(inv["id"])["redeemed_fen"] == 3_000_000
    # and its enterprise sees it held
    mine = api.ok("GET", f"/v1/redemptions/{r['id']}", headers=world.ent)
    assert (mine["status"], mine["risk_score"]) == ("under_review", 10)


def test_cleared_becomes_payable_as_it_would_have_been(world, api):
    voucher, inv, r = held(world)
    item = review_of(api, r["id"])
    cleared = api.ok("POST", f"/v1/reviews/{item['id']}/clear", json={"reason": "合同与发票一致"})
    assert cleared["status"] == "cleared" and cleared["redemption_status"] == "payable"
    assert [(d["decision"], d["reason"]) for d in cleared["decisions"]] == [
        ("clear", "合同与发票一致")]
    assert cleared["flags"][0]["outcome"] == "cleared"
    got = api.ok("GET", f"/v1/redemptions/{r['id']}")
    assert (got["status"], got["subsidy_fen"], got["net_subsidy_fen"]) == (
        "payable", 3_000_000, 3_000_000)
    assert world.get_voucher(voucher["id"])["balance_fen"] == 7_000_000
    assert budget(api) == {"issued_fen": 10_000_000, "returned_fen": 0,
                           "available_fen": 1_990_000_000, "outstanding_fen": 7_000_000,
                           "redeemed_fen": 3_000_000, "payable_fen": 3_000_000, "paid_fen": 0}
    balances = accounts(api)
    assert balances["2026:held"] == 0
    assert balances[f"2026:payable:enterprise:{world.enterprise['id']}"] == 3_000_000
    reconciled(api)
    batch = world.settle()
    assert batch["total_fen"] == 3_000_000
    reconciled(api)
    transfers = api.ok("GET", "/v1/ledger/transfers?year=2026&limit=500")["items"]
    assert sorted(t["kind"] for t in transfers if t["reference"] == r["id"]) == [
        "redeem", "review_clear"]


def test_rejected_restores_the_draws_exactly(world, api):
    voucher, inv, r = held(world)
    item = review_of(api, r["id"])
    rejected = api.ok("POST", f"/v1/reviews/{item['id']}/reject",
                      json={"reason": "与服务商为关联方"})
    assert rejected["status"] == "rejected" and rejected["redemption_status"] == "rejected"
    assert rejected["flags"][0]["outcome"] == "confirmed"
    got = api.ok("GET", f"/v1/redemptions/{r['id']}")
    assert (got["status"], got["clawed_back_fen"], got["net_subsidy_fen"]) == (
        "rejected", 3_000_000, 0)
    assert got["draws"] == [{"voucher_id": voucher["id"], "amount_fen": 3_000_000,
                             "restored_fen": 3_000_000}]
    v = world.get_voucher(voucher["id"])
    assert (v["balance_fen"], v["status"]) == (10_000_000, "active")
    assert budget(api) == {"issued_fen": 10_000_000, "returned_fen": 0,
                           "available_fen": 1_990_000_000, "outstanding_fen": 10_000_000,
                           "redeemed_fen": 0, "payable_fen": 0, "paid_fen": 0}
    assert accounts(api)["2026:held"] == 0
    reconciled(api)
    assert world.get_invoice(inv["id"])["redeemed_fen"] == 0
    # the rule's precision counts the confirmation
    rules = {i["rule"]: i for i in api.ok("GET", "/v1/risk-rules?year=2026")["items"]}
    assert {k: rules["round_amount"][k] for k in ("flagged", "confirmed", "cleared",
                                                 "precision_bp")} == {
        "flagged": 1, "confirmed": 1, "cleared": 0, "precision_bp": 10_000}
    assert rules["burst"]["precision_bp"] is None
    events = api.ok("GET", "/v1/audit-events?action=review.reject")["items"]
    assert [(e["object_id"], e["summary"]["reason"]) for e in events] == [
        (item["id"], "与服务商为关联方")]
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True


def test_rejected_exhausted_voucher_becomes_active(world, api):
    voucher = world.voucher(3_000_000)
    r = world.redeem(world.invoice([line("gpu", 10_000_000)])["id"])
    assert world.get_voucher(voucher["id"])["status"] == "exhausted"
    api.ok("POST", f"/v1/reviews/{review_of(api, r['id'])['id']}/reject", json={"reason": "x"})
    v = world.get_voucher(voucher["id"])
    assert (v["balance_fen"], v["status"]) == (3_000_000, "active")
    reconciled(api)


def test_decided_review_is_closed(world, api):
    _, _, r = held(world)
    rid = review_of(api, r["id"])["id"]
    api.ok("POST", f"/v1/reviews/{rid}/clear", json={"reason": "ok"})
    for action in ("clear", "reject"):
        resp = api.client.post(f"/v1/reviews/{rid}/{action}", headers=api.admin,
                               json={"reason": "again"})
        assert (resp.status_code, resp.json()["code"]) == (409, "review_closed")
    assert [i["id"] for i in api.ok("GET", "/v1/reviews?status=cleared")["items"]] == [rid]
    assert api.ok("GET", "/v1/reviews?status=open")["items"] == []


def test_two_reviewers_above_the_second_threshold(api, today):
    today("2026-06-15")
    w = make_world(api, risk_rules=only_round(weight=60), review_threshold=10,
                   second_review_threshold=60)
    voucher, _, r = held(w)
    item = review_of(api, r["id"])
    assert item["needs_two_reviewers"] is True
    first = api.ok("POST", f"/v1/reviews/{item['id']}/clear", json={"reason": "第一人核实"})
    assert first["status"] == "open" and len(first["decisions"]) == 1
    assert api.ok("GET", f"/v1/redemptions/{r['id']}")["status"] == "under_review"
    again = api.client.post(f"/v1/reviews/{item['id']}/clear", headers=api.admin,
                            json={"reason": "再次"})
    assert (again.status_code, again.json()["code"]) == (409, "second_reviewer_required")
    other = bearer(api.make_key("admin"))
    second = api.ok("POST", f"/v1/reviews/{item['id']}/clear", headers=other,
                    json={"reason": "第二人复核"})
    assert second["status"] == "cleared"
    assert [d["reason"] for d in second["decisions"]] == ["第一人核实", "第二人复核"]
    assert len({d["actor_id"] for d in second["decisions"]}) == 2
    assert api.ok("GET", f"/v1/redemptions/{r['id']}")["status"] == "payable"
    reconciled(api)


def test_two_reviewers_must_agree_on_the_decision(api, today):
    today("2026-06-15")
    w = make_world(api, risk_rules=only_round(weight=60), review_threshold=10,
                   second_review_threshold=60)
    voucher, _, r = held(w)
    rid = review_of(api, r["id"])["id"]
    api.ok("POST", f"/v1/reviews/{rid}/clear", json={"reason": "放行"})
    second = api.ok("POST", f"/v1/reviews/{rid}/reject", headers=bearer(api.make_key("admin")),
                    json={"reason": "不同意"})
    assert second["status"] == "open" and len(second["decisions"]) == 2
    third = api.ok("POST", f"/v1/reviews/{rid}/reject", headers=bearer(api.make_key("admin")),
                   json={"reason": "同意驳回"})
    assert third["status"] == "rejected"
    assert w.get_voucher(voucher["id"])["balance_fen"] == 10_000_000
    reconciled(api)


def test_below_second_threshold_one_reviewer_suffices(world, api):
    _, _, r = held(world)
    item = review_of(api, r["id"])
    assert item["needs_two_reviewers"] is False
    assert api.ok("POST", f"/v1/reviews/{item['id']}/clear",
                  json={"reason": "ok"})["status"] == "cleared"


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 5},
                                  {"reason": "x" * 2001}, {"reason": "ok", "extra": 1},
                                  {"reason": "a\u202eb"}])
def test_reason_required(world, api, body):
    _, _, r = held(world)
    rid = review_of(api, r["id"])["id"]
    before = _counts(api.engine)
    for action in ("clear", "reject"):
        resp = api.client.post(f"/v1/reviews/{rid}/{action}", headers=api.admin, json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["code"] == "validation_error"
    assert _counts(api.engine) == before


def test_unknown_review_is_404(world, api):
    resp = api.client.post("/v1/reviews/rev_nope/clear", headers=api.admin,
                           json={"reason": "x"})
    assert (resp.status_code, resp.json()["code"]) == (404, "not_found")
    assert api.client.get("/v1/reviews/rev_nope", headers=api.admin).status_code == 404


def test_roles(world, api):
    _, _, r = held(world)
    rid = review_of(api, r["id"])["id"]
    auditor = api.auditor()
    assert api.client.get("/v1/reviews", headers=auditor).status_code == 200
    assert api.client.get("/v1/risk-rules?year=2026", headers=auditor).status_code == 200
    for headers in (auditor, world.ent, world.prov):
        resp = api.client.post(f"/v1/reviews/{rid}/clear", headers=headers, json={"reason": "x"})
        assert resp.status_code == 403
    for headers in (world.ent, world.prov):
        assert api.client.get("/v1/reviews", headers=headers).status_code == 403
        assert api.client.get("/v1/risk-rules?year=2026", headers=headers).status_code == 403
    assert api.client.get("/v1/reviews").status_code == 401


def reviewer_key(api, level: str, district: str | None = None) -> dict[str, str]:
    body = {"role": "reviewer", "name": f"{level} 复核", "review_level": level,
            **({"district": district} if district else {})}
    return bearer(api.ok("POST", "/v1/api-keys", json=body, expect=201)["key"])


def test_reviewer_key_may_decide(world, api):
    _, _, r = held(world)
    rid = review_of(api, r["id"])["id"]
    out = api.ok("POST", f"/v1/reviews/{rid}/clear", headers=reviewer_key(api, "city"),
                 json={"reason": "核实无误"})
    assert out["status"] == "cleared" and out["decisions"][0]["role"] == "reviewer"


def test_district_reviewer_sees_and_decides_only_its_district(world, api):
    _, _, r = held(world)  # the world's enterprise is of 高新园区
    rid = review_of(api, r["id"])["id"]
    other = reviewer_key(api, "district", "中山区")
    assert api.ok("GET", "/v1/reviews", headers=other)["items"] == []
    assert api.client.get(f"/v1/reviews/{rid}", headers=other).status_code == 404
    resp = api.client.post(f"/v1/reviews/{rid}/reject", headers=other, json={"reason": "x"})
    assert (resp.status_code, resp.json()["code"]) == (404, "not_found")
    assert review_of(api, r["id"])["status"] == "open" and review_of(api, r["id"])["decisions"] == []
    home = reviewer_key(api, "district", "高新园区")
    assert [i["id"] for i in api.ok("GET", "/v1/reviews", headers=home)["items"]] == [rid]
    out = api.ok("POST", f"/v1/reviews/{rid}/reject", headers=home, json={"reason": "确属拆分"})
    assert out["status"] == "rejected"


def test_queue_sorted_by_score_with_overdue(api, today):
    today("2026-06-12")  # a Friday: due five working days later, on Friday 19 June
    w = make_world(api, risk_rules={**only_round(), "burst": {"enabled": True, "weight": 5,
                                                              "max_per_day": 1}},
                   review_threshold=10, second_review_threshold=1000)
    w.voucher(100_000_000)
    low = w.redeem(w.invoice([line("gpu", 10_000_000)])["id"])
    high = w.redeem(w.invoice([line("gpu", 20_000_000)])["id"])
    assert (low["risk_score"], high["risk_score"]) == (10, 15)
    page = api.ok("GET", "/v1/reviews?status=open")
    assert [i["redemption_id"] for i in page["items"]] == [high["id"], low["id"]]
    assert {i["due_on"] for i in page["items"]} == {"2026-06-19"}
    assert (page["open"], page["overdue"]) == (2, 0)
    one = api.ok("GET", "/v1/reviews?status=open&limit=1")
    assert [i["redemption_id"] for i in one["items"]] == [high["id"]]
    rest = api.ok("GET", f"/v1/reviews?status=open&limit=1&cursor={one['next_cursor']}")
    assert [i["redemption_id"] for i in rest["items"]] == [low["id"]]
    assert rest["next_cursor"] is None
    today("2026-06-22")
    page = api.ok("GET", "/v1/reviews")
    assert all(i["overdue"] for i in page["items"]) and page["overdue"] == 2
    bad = api.client.get("/v1/reviews?cursor=bm9wZQ", headers=api.admin)
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")


def test_reversal_of_a_held_redemption_comes_from_the_held_account(world, api):
    voucher, inv, r = held(world)
    world.reverse(inv["id"], 10_000_000)  # the whole invoice
    got = api.ok("GET", f"/v1/redemptions/{r['id']}")
    assert (got["status"], got["net_subsidy_fen"]) == ("reversed", 0)
    assert world.get_voucher(voucher["id"])["balance_fen"] == 10_000_000
    assert accounts(api)["2026:held"] == 0
    reconciled(api)
    rid = review_of(api, r["id"])["id"]
    out = api.ok("POST", f"/v1/reviews/{rid}/clear", json={"reason": "已红冲"})
    assert out["status"] == "cleared" and out["redemption_status"] == "reversed"
    reconciled(api)


def test_deduction_mode_clear_waits_for_the_enterprise_share(api, today):
    today("2026-06-15")
    w = make_world(api, settlement_mode="deduction", risk_rules=only_round(),
                   review_threshold=10)
    w.voucher(10_000_000)
    inv = w.invoice([line("gpu", 10_000_000)], paid=False)
    r = w.redeem(inv["id"])
    assert r["status"] == "under_review"
    rid = review_of(api, r["id"])["id"]
    assert api.ok("POST", f"/v1/reviews/{rid}/clear",
                  json={"reason": "ok"})["redemption_status"] == "pending"
    w.pay(inv["id"], 7_000_000)
    assert api.ok("GET", f"/v1/redemptions/{r['id']}")["status"] == "payable"
    reconciled(api)


def _counts(engine) -> tuple:
    tables = ("redemption", "ledger_transfer", "audit_event", "review", "review_decision",
              "risk_flag", "risk_price_stat", "risk_stats_state", "idempotency_record")
    with engine.connect() as conn:
        counts = tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables)
        head = conn.execute(text("SELECT last_seq, last_hash FROM audit_chain_head")).one()
    return counts, tuple(head)


def test_backtest_reports_and_writes_nothing(api, today):
    today("2026-06-15")
    w = make_world(api)
    w.voucher(100_000_000)
    for amount in (10_000_000, 1_234_500, 20_000_000):
        w.redeem(w.invoice([line("gpu", amount)])["id"])
    auditor = api.auditor()
    before = _counts(api.engine)
    out = api.ok("POST", "/v1/years/2026/risk-rules/backtest")
    assert out["redemptions"] == 3 and out["flagged"] == 3 and out["held"] == 0
    by_rule = {r["rule"]: r["flagged"] for r in out["by_rule"]}
    assert by_rule["round_amount"] == 2 and by_rule["provider_concentration"] == 3
    proposal = api.ok("POST", "/v1/years/2026/risk-rules/backtest", json={
        "risk_rules": {"round_amount": {"weight": 100}}, "review_threshold": 100},
        headers=auditor)
    assert proposal["held"] == 2
    assert [i["score"] for i in proposal["items"]] == [110, 110, 10]
    assert _counts(api.engine) == before
    assert api.ok("GET", "/v1/years/2026")["risk_rules"]["round_amount"]["weight"] == 10
    for body in ({"risk_rules": {"nope": {}}}, {"review_threshold": "1"}, [1]):
        resp = api.client.post("/v1/years/2026/risk-rules/backtest", headers=api.admin,
                               json=body)
        assert resp.status_code == 422
    assert api.client.post("/v1/years/2031/risk-rules/backtest",
                           headers=api.admin).status_code == 404
    assert api.client.post("/v1/years/2026/risk-rules/backtest",
                           headers=w.ent).status_code == 403
    assert _counts(api.engine) == before


def test_backtest_matches_the_live_flags(api, today):
    today("2026-06-15")
    w = make_world(api, risk_rules={"burst": {"max_per_day": 1}})
    w.voucher(100_000_000)
    live = [w.redeem(w.invoice([line("gpu", a)])["id"]) for a in (10_000_000, 3_000_000)]
    out = api.ok("POST", "/v1/years/2026/risk-rules/backtest")
    got = {i["redemption_id"]: sorted(i["rules"]) for i in out["items"]}
    # the back-test sees every invoice posted that day, the live path those posted by then
    assert got[live[1]["id"]] == sorted(f["rule"] for f in live[1]["flags"])
    assert set(got[live[0]["id"]]) >= {f["rule"] for f in live[0]["flags"]}
