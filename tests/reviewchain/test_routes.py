"""The review chain (issue 14, item 5): applications and settlement batches pass the year's
`review_levels` in order; reviewer keys act at one level (a district reviewer in one district);
every step is on the trail and the audit chain. docs/review-chain.md."""

import threading
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.conftest import sql
from tests.factories import Api, bearer
from tests.flows import line, make_world

CHAIN = ["district", "city", "finance"]
HOME = "高新园区"  # the factories' district


def _reviewer(api: Api, level: str, district: str | None = None) -> tuple[dict, dict]:
    body = {"role": "reviewer", "name": f"{level} 复核", "review_level": level}
    if district:
        body["district"] = district
    key = api.ok("POST", "/v1/api-keys", json=body, expect=201)
    return bearer(key["key"]), key


def _admin_key_id(api: Api) -> str:
    [key] = api.ok("GET", "/v1/api-keys", params={"role": "admin"})["items"]
    return key["id"]


def _apply(world, requested_fen: int = 1_000_000, headers=None) -> dict:
    return world.api.ok("POST", "/v1/applications", headers=headers or world.ent, expect=201,
                        json={"year": 2026, "requested_fen": requested_fen,
                              "project_name": "行业大模型", "purpose": "训练"})


def _review(api: Api, kind: str, object_id: str, headers, decision: str, reason=None,
            **extra):
    body = {"decision": decision, **extra}
    if reason is not None:
        body["reason"] = reason
    return api.client.post(f"/v1/{kind}/{object_id}/reviews", json=body, headers=headers)


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _refused(response, status: int, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.headers["content-type"] == "application/problem+json"


def _trail(obj: dict) -> list[tuple]:
    return [(r["level"], r["decision"], r["reason"], r["actor_id"], r["to_level"])
            for r in obj["reviews"]]


def _counts(api: Api) -> tuple:
    return tuple(sql(api.engine, f"SELECT COUNT(*) FROM {t}").scalar()
                 for t in ("review_step", "audit_event", "voucher", "settlement"))


@pytest.fixture
def world(api, today):
    today("2026-06-01")
    return make_world(api)


@pytest.fixture
def chain_world(api, today):
    today("2026-06-01")
    return make_world(api, review_levels=CHAIN)


def _settle_ready(world, amount_fen: int = 1_000_000) -> dict:
    """A redemption payable to the world's enterprise (30 % of the invoice)."""
    invoice = world.invoice([line("gpu", amount_fen)], end="2026-05-31")
    voucher = world.voucher(amount_fen)
    return world.redeem(invoice["id"], voucher["id"])


# --- the default chain: the bureau's approval, as before ----------------------------------------

def test_default_chain_is_the_bureaus_approval(world):
    api = world.api
    assert api.ok("GET", "/v1/years/2026")["review_levels"] == ["city"]
    app = _apply(world)
    assert (app["review_level"], app["reviews"]) == ("city", [])
    approved = api.ok("POST", f"/v1/applications/{app['id']}/approve")
    assert approved["status"] == "approved" and approved["voucher"]["face_fen"] == 1_000_000
    admin = _admin_key_id(api)
    assert approved["review_level"] is None
    assert _trail(approved) == [("city", "approve", None, admin, None)]
    assert approved["reviews"][0]["actor_role"] == "admin"
    [event] = api.ok("GET", "/v1/audit-events", params={"action": "application.approve"})["items"]
    assert event["actor_id"] == admin
    assert {k: event["summary"][k] for k in ("review_level", "decision", "review_reason")} == {
        "review_level": "city", "decision": "approve", "review_reason": None}
    # No extra events: the approval is the city level's decision.
    assert api.ok("GET", "/v1/audit-events", params={"action": "application.review"})[
        "items"] == []

    rejected = api.ok("POST", f"/v1/applications/{_apply(world)['id']}/reject",
                      json={"reason": "材料不全"})
    assert (rejected["status"], rejected["reason"], rejected["review_level"]) == (
        "rejected", "材料不全", None)
    assert _trail(rejected) == [("city", "reject", "材料不全", admin, None)]

    _settle_ready(world)
    batch = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    assert (batch["review_level"], batch["reviews"]) == ("city", [])
    approved = api.ok("POST", f"/v1/settlements/{batch['id']}/approve")
    assert (approved["status"], approved["review_level"]) == ("approved", None)
    assert _trail(approved) == [("city", "approve", None, admin, None)]
    paid = api.ok("POST", f"/v1/settlements/{batch['id']}/pay",
                  json={"bank_reference": "BOC-1"})
    assert paid["status"] == "paid" and paid["total_fen"] == 300_000


def test_city_reviewer_decides_the_default_chain(world):
    api = world.api
    city, key = _reviewer(api, "city")
    app = _apply(world)
    approved = _ok(_review(api, "applications", app["id"], city, "approve", "材料齐全",
                           approved_fen=800_000))
    assert (approved["status"], approved["approved_fen"], approved["voucher"]["face_fen"]) == (
        "approved", 800_000, 800_000)
    assert _trail(approved) == [("city", "approve", "材料齐全", key["id"], None)]
    assert approved["reviews"][0]["actor_role"] == "reviewer"


# --- policy ------------------------------------------------------------------------------------

@pytest.mark.parametrize("levels", [[], ["mayor"], ["city", "city"], ["finance", "city"],
                                    ["city", "district"], "city", None])
def test_review_levels_must_be_distinct_known_levels_in_order(api, levels):
    r = api.client.post("/v1/years", json={"year": 2026, "review_levels": levels},
                        headers=api.admin)
    if levels is None:  # null means "the default", as for every policy field
        assert _ok(r, 201)["review_levels"] == ["city"]
        return
    _refused(r, 422, "validation_error")
    assert r.json()["errors"][0]["field"].startswith("review_levels")
    assert sql(api.engine, "SELECT COUNT(*) FROM budget_year").scalar() == 0


@pytest.mark.parametrize("levels", [["district", "city", "finance"], ["city", "finance"],
                                    ["finance"], ["district"]])
def test_review_levels_accepted(api, levels):
    assert api.year(2026, review_levels=levels)["review_levels"] == levels


def test_levels_may_change_after_the_first_voucher_and_move_what_waits(world):
    api = world.api
    world.voucher(1_000)  # the policy is locked now
    assert api.ok("GET", "/v1/years/2026")["policy_locked"] is True
    waiting = _apply(world)
    city, _ = _reviewer(api, "city")
    district, _ = _reviewer(api, "district", HOME)
    changed = api.ok("PATCH", "/v1/years/2026", json={"review_levels": CHAIN})
    assert changed["review_levels"] == CHAIN
    # Nothing was approved yet: the application now waits at the new first level.
    assert api.ok("GET", f"/v1/applications/{waiting['id']}")["review_level"] == "district"
    [moved] = api.ok("GET", "/v1/audit-events",
                     params={"action": "application.review_moved"})["items"]
    assert moved["summary"] == {"from_level": "city", "to_level": "district",
                                "review_levels": CHAIN, "policy_version": 2}
    [update] = api.ok("GET", "/v1/audit-events", params={"action": "year.update"})["items"]
    assert update["summary"]["changes"] == {"review_levels": CHAIN}
    assert update["summary"]["before"] == {"review_levels": ["city"]}
    _ok(_review(api, "applications", waiting["id"], district, "approve"))
    # Adding a level before one it has passed does not send it back; removing the level it
    # waits at moves it to the next one.
    api.ok("PATCH", "/v1/years/2026", json={"review_levels": ["district", "finance"]})
    assert api.ok("GET", f"/v1/applications/{waiting['id']}")["review_level"] == "finance"
    api.ok("PATCH", "/v1/years/2026", json={"review_levels": CHAIN})
    assert api.ok("GET", f"/v1/applications/{waiting['id']}")["review_level"] == "city"
    _ok(_review(api, "applications", waiting["id"], city, "approve"))
    # The money rules stay locked.
    r = api.client.patch("/v1/years/2026", json={"rate_bp": 2000}, headers=api.admin)
    _refused(r, 409, "policy_locked")


# --- reviewer keys -----------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"role": "reviewer"}, "review_level"),
    ({"role": "reviewer", "review_level": "district"}, "district"),
    ({"role": "reviewer", "review_level": "city", "district": HOME}, "district"),
    ({"role": "reviewer", "review_level": "mayor"}, "review_level"),
    ({"role": "auditor", "review_level": "city"}, "review_level"),
    ({"role": "auditor", "district": HOME}, "district"),
])
def test_reviewer_keys_are_bound_to_a_level_and_a_district(api, body, field):
    before = sql(api.engine, "SELECT COUNT(*) FROM api_key").scalar()
    r = api.client.post("/v1/api-keys", json={"name": "复核", **body}, headers=api.admin)
    _refused(r, 422, "validation_error")
    assert [e["field"] for e in r.json()["errors"]][-1].endswith(field), r.text
    assert sql(api.engine, "SELECT COUNT(*) FROM api_key").scalar() == before


def test_key_listing_shows_the_reviewers_level_and_district(api):
    _, district = _reviewer(api, "district", HOME)
    _, finance = _reviewer(api, "finance")
    assert (district["role"], district["review_level"], district["district"]) == (
        "reviewer", "district", HOME)
    listed = {k["id"]: k for k in api.ok("GET", "/v1/api-keys",
                                         params={"role": "reviewer"})["items"]}
    assert {k: (v["review_level"], v["district"]) for k, v in listed.items()} == {
        district["id"]: ("district", HOME), finance["id"]: ("finance", None)}
    [admin] = api.ok("GET", "/v1/api-keys", params={"role": "admin"})["items"]
    assert "review_level" not in admin and "district" not in admin
    [event] = api.ok("GET", "/v1/audit-events", params={"object_id": district["id"]})["items"]
    assert (event["summary"]["review_level"], event["summary"]["district"]) == ("district", HOME)


def test_reviewers_read_what_their_work_needs_and_nothing_else(chain_world):
    api = chain_world.api
    city, _ = _reviewer(api, "city")
    app = _apply(chain_world)
    assert api.ok("GET", f"/v1/applications/{app['id']}", headers=city)["id"] == app["id"]
    assert [a["id"] for a in api.ok("GET", "/v1/applications", headers=city)["items"]] == [
        app["id"]]
    assert api.ok("GET", f"/v1/enterprises/{chain_world.enterprise['id']}", headers=city)
    for path in ("/v1/vouchers", "/v1/invoices", "/v1/redemptions", "/v1/years/2026",
                 "/v1/ledger/accounts", "/v1/audit-events", "/v1/providers", "/v1/api-keys",
                 "/v1/years/2026/budget"):
        _refused(api.client.get(path, headers=city), 403, "forbidden")
    for method, path, body in (
            ("POST", f"/v1/applications/{app['id']}/approve", {}),
            ("POST", f"/v1/applications/{app['id']}/reject", {"reason": "x"}),
            ("POST", "/v1/settlements", {"year": 2026}),
            ("PATCH", "/v1/years/2026", {"review_levels": ["city"]})):
        _refused(api.client.request(method, path, json=body, headers=city), 403, "forbidden")


# --- the three-level chain ---------------------------------------------------------------------

def test_application_passes_district_city_finance_with_a_send_back(chain_world):
    api = chain_world.api
    district, d_key = _reviewer(api, "district", HOME)
    city, c_key = _reviewer(api, "city")
    finance, f_key = _reviewer(api, "finance")
    app = _apply(chain_world)
    assert (app["review_level"], app["reviews"]) == ("district", [])
    path = f"/v1/applications/{app['id']}"

    _refused(api.client.post(f"{path}/approve", json={}, headers=api.admin), 409,
             "review_incomplete")
    _ok(_review(api, "applications", app["id"], district, "approve", "属地复核通过"))
    _refused(api.client.post(f"{path}/approve", json={}, headers=api.admin), 409,
             "review_incomplete")
    before = _counts(api)
    _refused(_review(api, "applications", app["id"], city, "send_back"), 422,
             "validation_error")
    _refused(_review(api, "applications", app["id"], city, "send_back", ""), 422,
             "validation_error")
    assert _counts(api) == before
    back = _ok(_review(api, "applications", app["id"], city, "send_back", "缺少用电证明"))
    assert (back["status"], back["review_level"]) == ("submitted", "district")
    _ok(_review(api, "applications", app["id"], district, "approve", "已补充"))
    at_finance = _ok(_review(api, "applications", app["id"], city, "approve"))
    assert at_finance["review_level"] == "finance"
    done = _ok(_review(api, "applications", app["id"], finance, "approve", "同意拨付",
                       approved_fen=600_000))
    assert (done["status"], done["approved_fen"], done["review_level"]) == (
        "approved", 600_000, None)
    assert done["voucher"]["face_fen"] == 600_000
    assert _trail(done) == [
        ("district", "approve", "属地复核通过", d_key["id"], "city"),
        ("city", "send_back", "缺少用电证明", c_key["id"], "district"),
        ("district", "approve", "已补充", d_key["id"], "city"),
        ("city", "approve", None, c_key["id"], "finance"),
        ("finance", "approve", "同意拨付", f_key["id"], None)]
    assert api.ok("GET", path) == done
    assert api.ok("GET", path, headers=chain_world.ent)["reviews"] == done["reviews"]
    _refused(_review(api, "applications", app["id"], finance, "approve"), 409, "invalid_state")

    # Each step on the audit chain: who, level, decision, reason.
    events = api.ok("GET", "/v1/audit-events", params={"object_id": app["id"]})["items"]
    steps = [(e["action"], e["actor_id"], e["summary"].get("level"),
              e["summary"].get("decision"), e["summary"].get("reason"))
             for e in events if e["action"] == "application.review"]
    assert steps == [
        ("application.review", d_key["id"], "district", "approve", "属地复核通过"),
        ("application.review", c_key["id"], "city", "send_back", "缺少用电证明"),
        ("application.review", d_key["id"], "district", "approve", "已补充"),
        ("application.review", c_key["id"], "city", "approve", None)]
    assert all(e["role"] == "reviewer" for e in events if e["action"] == "application.review")
    [final] = [e for e in events if e["action"] == "application.approve"]
    assert (final["actor_id"], final["summary"]["review_level"], final["summary"]["decision"],
            final["summary"]["review_reason"]) == (f_key["id"], "finance", "approve", "同意拨付")
    district_events = [e for e in events if e["actor_id"] == d_key["id"]]
    assert {e["summary"]["district"] for e in district_events} == {HOME}
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True


def test_admin_decides_at_any_level_and_approve_works_at_the_last(chain_world):
    api = chain_world.api
    app = _apply(chain_world)
    admin = _admin_key_id(api)
    _ok(_review(api, "applications", app["id"], api.admin, "approve"))
    _ok(_review(api, "applications", app["id"], api.admin, "approve", "市局同意"))
    done = api.ok("POST", f"/v1/applications/{app['id']}/approve", json={})
    assert (done["status"], done["review_level"]) == ("approved", None)
    assert _trail(done) == [("district", "approve", None, admin, "city"),
                            ("city", "approve", "市局同意", admin, "finance"),
                            ("finance", "approve", None, admin, None)]


def test_rejecting_in_the_chain_is_the_existing_reject(chain_world):
    api = chain_world.api
    district, d_key = _reviewer(api, "district", HOME)
    city, c_key = _reviewer(api, "city")
    app = _apply(chain_world)
    before = _counts(api)
    _refused(_review(api, "applications", app["id"], district, "reject"), 422,
             "validation_error")
    assert _counts(api) == before
    _ok(_review(api, "applications", app["id"], district, "approve"))
    rejected = _ok(_review(api, "applications", app["id"], city, "reject", "项目不符合条件"))
    assert (rejected["status"], rejected["reason"], rejected["voucher"],
            rejected["review_level"]) == ("rejected", "项目不符合条件", None, None)
    assert rejected["decided_at"] is not None
    assert _trail(rejected)[-1] == ("city", "reject", "项目不符合条件", c_key["id"], None)
    [event] = api.ok("GET", "/v1/audit-events", params={"action": "application.reject"})["items"]
    assert (event["actor_id"], event["summary"]["reason"], event["summary"]["review_level"]) == (
        c_key["id"], "项目不符合条件", "city")
    _refused(_review(api, "applications", app["id"], city, "approve"), 409, "invalid_state")
    # The bureau's reject works at any level too, recorded at the level it waited at.
    other = _apply(chain_world)
    done = api.ok("POST", f"/v1/applications/{other['id']}/reject", json={"reason": "重复申报"})
    assert _trail(done) == [("district", "reject", "重复申报", _admin_key_id(api), None)]


def test_send_back_at_the_first_level_is_refused(chain_world):
    api = chain_world.api
    district, _ = _reviewer(api, "district", HOME)
    app = _apply(chain_world)
    before = _counts(api)
    _refused(_review(api, "applications", app["id"], district, "send_back", "退回"), 409,
             "cannot_send_back")
    _refused(_review(api, "applications", app["id"], api.admin, "send_back", "退回"), 409,
             "cannot_send_back")
    assert _counts(api) == before


def test_wrong_level_and_wrong_role(chain_world):
    api = chain_world.api
    city, _ = _reviewer(api, "city")
    finance, _ = _reviewer(api, "finance")
    app = _apply(chain_world)
    auditor = api.auditor()
    before = _counts(api)
    for headers in (city, finance):
        _refused(_review(api, "applications", app["id"], headers, "approve"), 409,
                 "wrong_review_level")
    for headers in (auditor, chain_world.ent, chain_world.prov):
        _refused(_review(api, "applications", app["id"], headers, "approve"), 403, "forbidden")
    r = _review(api, "applications", app["id"], api.admin, "approve", approved_fen=1)
    _refused(r, 422, "validation_error")  # an amount goes with the last level's approval
    r = api.client.post(f"/v1/applications/{app['id']}/reviews", headers=api.admin,
                        json={"decision": "maybe"})
    _refused(r, 422, "validation_error")
    assert _counts(api) == before


# --- settlement batches ------------------------------------------------------------------------

def test_settlement_passes_the_chain_before_it_can_be_paid(chain_world):
    api = chain_world.api
    district, d_key = _reviewer(api, "district", HOME)
    city, c_key = _reviewer(api, "city")
    finance, f_key = _reviewer(api, "finance")
    _settle_ready(chain_world)
    batch = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    assert (batch["status"], batch["review_level"], batch["total_fen"]) == (
        "draft", "district", 300_000)
    sid = batch["id"]
    _refused(api.client.post(f"/v1/settlements/{sid}/approve", headers=api.admin), 409,
             "review_incomplete")
    _refused(api.client.post(f"/v1/settlements/{sid}/pay", headers=api.admin,
                             json={"bank_reference": "BOC-1"}), 409, "invalid_state")
    _ok(_review(api, "settlements", sid, district, "approve", "属地核对无误"))
    _refused(_review(api, "settlements", sid, district, "approve"), 409, "wrong_review_level")
    _ok(_review(api, "settlements", sid, city, "approve"))
    back = _ok(_review(api, "settlements", sid, finance, "send_back", "请核对开户行"))
    assert (back["status"], back["review_level"]) == ("draft", "city")
    _refused(api.client.post(f"/v1/settlements/{sid}/approve", headers=api.admin), 409,
             "review_incomplete")
    _ok(_review(api, "settlements", sid, city, "approve", "已核对"))
    approved = _ok(_review(api, "settlements", sid, finance, "approve", "同意支付"))
    assert (approved["status"], approved["review_level"]) == ("approved", None)
    assert _trail(approved) == [
        ("district", "approve", "属地核对无误", d_key["id"], "city"),
        ("city", "approve", None, c_key["id"], "finance"),
        ("finance", "send_back", "请核对开户行", f_key["id"], "city"),
        ("city", "approve", "已核对", c_key["id"], "finance"),
        ("finance", "approve", "同意支付", f_key["id"], None)]
    paid = api.ok("POST", f"/v1/settlements/{sid}/pay", json={"bank_reference": "BOC-7"})
    assert (paid["status"], paid["total_fen"]) == ("paid", 300_000)
    assert api.ok("GET", "/v1/years/2026/reconciliation")["ok"] is True
    events = api.ok("GET", "/v1/audit-events", params={"object_id": sid})["items"]
    assert [(e["action"], e["actor_id"], e["summary"].get("level") or
             e["summary"].get("review_level"), e["summary"].get("decision"))
            for e in events] == [
        ("settlement.create", _admin_key_id(api), None, None),
        ("settlement.review", d_key["id"], "district", "approve"),
        ("settlement.review", c_key["id"], "city", "approve"),
        ("settlement.review", f_key["id"], "finance", "send_back"),
        ("settlement.review", c_key["id"], "city", "approve"),
        ("settlement.approve", f_key["id"], "finance", "approve"),
        ("settlement.pay", _admin_key_id(api), None, None)]


def test_a_rejected_batch_releases_what_it_claimed(world):
    api = world.api
    city, c_key = _reviewer(api, "city")
    redemption = _settle_ready(world)
    batch = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    assert api.ok("GET", f"/v1/redemptions/{redemption['id']}")["status"] == "settling"
    before = _counts(api)
    _refused(_review(api, "settlements", batch["id"], city, "reject"), 422, "validation_error")
    assert _counts(api) == before
    rejected = _ok(_review(api, "settlements", batch["id"], city, "reject", "金额待核"))
    assert (rejected["status"], rejected["review_level"], rejected["reject_reason"]) == (
        "rejected", None, "金额待核")
    assert _trail(rejected) == [("city", "reject", "金额待核", c_key["id"], None)]
    released = api.ok("GET", f"/v1/redemptions/{redemption['id']}")
    assert (released["status"], released["settlement_id"]) == ("payable", None)
    _refused(api.client.post(f"/v1/settlements/{batch['id']}/approve", headers=api.admin),
             409, "invalid_state")
    [event] = api.ok("GET", "/v1/audit-events", params={"action": "settlement.reject"})["items"]
    assert (event["actor_id"], event["summary"]["reason"], event["summary"]["review_level"],
            event["summary"]["redemptions_released"]) == (c_key["id"], "金额待核", "city", 1)
    assert [b["id"] for b in api.ok("GET", "/v1/settlements",
                                    params={"status": "rejected"})["items"]] == [batch["id"]]
    again = world.settle()
    assert (again["status"], again["total_fen"]) == ("paid", 300_000)
    assert api.ok("GET", "/v1/years/2026/reconciliation")["ok"] is True


# --- district scoping --------------------------------------------------------------------------

def test_a_district_reviewer_sees_and_acts_only_on_its_district(chain_world):
    api = chain_world.api
    district, _ = _reviewer(api, "district", HOME)
    city, _ = _reviewer(api, "city")
    mine = _apply(chain_world)
    other_ent = api.enterprise(district="中山区")
    other_key = api.enterprise_key(other_ent["id"])
    other = _apply(chain_world, headers=other_key)

    def missing(path: str, real: str):
        r = api.client.get(path.replace(real, real[:-6] + "ZZZZZZ"), headers=district)
        assert r.status_code == 404
        return r.text.replace(real[:-6] + "ZZZZZZ", real)

    r = api.client.get(f"/v1/applications/{other['id']}", headers=district)
    _refused(r, 404, "not_found")
    assert r.text == missing(f"/v1/applications/{other['id']}", other["id"])
    before = _counts(api)
    r = _review(api, "applications", other["id"], district, "approve")
    _refused(r, 404, "not_found")
    assert _counts(api) == before
    assert [a["id"] for a in api.ok("GET", "/v1/applications", headers=district)["items"]] == [
        mine["id"]]
    assert {a["id"] for a in api.ok("GET", "/v1/applications", headers=city)["items"]} == {
        mine["id"], other["id"]}
    r = api.client.get(f"/v1/enterprises/{other_ent['id']}", headers=district)
    _refused(r, 404, "not_found")
    assert r.text == missing(f"/v1/enterprises/{other_ent['id']}", other_ent["id"])
    assert [e["id"] for e in api.ok("GET", "/v1/enterprises", headers=district)["items"]] == [
        chain_world.enterprise["id"]]
    assert _ok(_review(api, "applications", mine["id"], district, "approve"))[
        "review_level"] == "city"
    # The other district's application waits for its own district's reviewer (or an admin).
    theirs, _ = _reviewer(api, "district", "中山区")
    assert _ok(_review(api, "applications", other["id"], theirs, "approve"))[
        "review_level"] == "city"
    # The inbox: what waits at my level.
    assert {a["id"] for a in api.ok("GET", "/v1/applications", headers=city,
                                    params={"review_level": "city"})["items"]} == {
        mine["id"], other["id"]}
    assert api.ok("GET", "/v1/applications", headers=district,
                  params={"review_level": "district"})["items"] == []


def test_a_district_reviewer_sees_a_batch_only_when_it_is_wholly_its_district(chain_world):
    api = chain_world.api
    district, _ = _reviewer(api, "district", HOME)
    elsewhere, _ = _reviewer(api, "district", "中山区")
    _settle_ready(chain_world)
    batch = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    assert api.ok("GET", f"/v1/settlements/{batch['id']}", headers=district)["id"] == batch["id"]
    assert [b["id"] for b in api.ok("GET", "/v1/settlements", headers=district,
                                    params={"review_level": "district"})["items"]] == [
        batch["id"]]
    _refused(api.client.get(f"/v1/settlements/{batch['id']}", headers=elsewhere), 404,
             "not_found")
    _refused(_review(api, "settlements", batch["id"], elsewhere, "approve"), 404, "not_found")
    assert api.ok("GET", "/v1/settlements", headers=elsewhere)["items"] == []
    _refused(api.client.get(f"/v1/settlements/{batch['id']}/export", headers=district), 403,
             "forbidden")
    assert _ok(_review(api, "settlements", batch["id"], district, "approve"))[
        "review_level"] == "city"


# --- racing reviewers --------------------------------------------------------------------------

def _race(clients: list[TestClient], path: str, bodies: list[dict], headers: list[dict]):
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def post(i: int) -> None:
        barrier.wait()
        results[i] = clients[i % len(clients)].post(path, json=bodies[i], headers=headers[i])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None for r in results)
    return Counter((r.status_code, r.json()["code"] if r.status_code >= 400 else None)
                   for r in results)


@pytest.mark.postgres
def test_two_reviewers_racing_on_one_step_one_wins(pg, today):
    """Two processes (two apps, each with its own write batcher) on one PostgreSQL: the row
    lock on the application orders the two decisions; the second finds it moved on."""
    today("2026-06-01")
    with TestClient(create_app(pg), raise_server_exceptions=False) as one, \
            TestClient(create_app(pg), raise_server_exceptions=False) as two:
        api = Api(one, pg)
        world = make_world(api, review_levels=["city", "finance"])
        city_a, _ = _reviewer(api, "city")
        city_b, _ = _reviewer(api, "city")
        fin_a, _ = _reviewer(api, "finance")
        fin_b, _ = _reviewer(api, "finance")
        for client in (one, two):  # warm both key caches
            for h in (city_a, city_b, fin_a, fin_b):
                assert client.get("/v1/applications", headers=h).status_code == 200
        app = _apply(world)
        path = f"/v1/applications/{app['id']}/reviews"
        assert _race([one, two], path, [{"decision": "approve"}] * 2, [city_a, city_b]) == {
            (200, None): 1, (409, "wrong_review_level"): 1}
        assert _race([one, two], path, [{"decision": "approve"}] * 2, [fin_a, fin_b]) == {
            (200, None): 1, (409, "invalid_state"): 1}
        done = api.ok("GET", f"/v1/applications/{app['id']}")
        assert done["status"] == "approved"
        assert [(r["level"], r["decision"]) for r in done["reviews"]] == [
            ("city", "approve"), ("finance", "approve")]
        assert sql(pg, "SELECT COUNT(*) FROM voucher").scalar() == 1
        assert sql(pg, "SELECT COUNT(*) FROM review_step").scalar() == 2

        _settle_ready(world)
        batch = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
        spath = f"/v1/settlements/{batch['id']}/reviews"
        assert _race([one, two], spath, [{"decision": "approve"},
                                         {"decision": "send_back", "reason": "x"}],
                     [city_a, city_b]) in (
            {(200, None): 1, (409, "wrong_review_level"): 1},
            {(200, None): 1, (409, "cannot_send_back"): 1})
        assert _race([one, two], spath, [{"decision": "approve"},
                                         {"decision": "reject", "reason": "金额待核"}],
                     [fin_a, fin_b]) == {(200, None): 1, (409, "invalid_state"): 1}
        final = api.ok("GET", f"/v1/settlements/{batch['id']}")
        assert final["status"] in ("approved", "rejected")
        assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True


def test_a_rejected_batch_gives_back_the_clawbacks_it_netted(world):
    api = world.api
    voucher = world.voucher(2_000_000)
    first = world.invoice([line("gpu", 1_000_000)], end="2026-05-31")
    world.redeem(first["id"], voucher["id"])
    world.settle()  # 300_000 paid out
    world.reverse(first["id"], 500_000)  # after payout: 150_000 owed back
    second = world.invoice([line("gpu", 1_000_000)], end="2026-05-31")
    world.redeem(second["id"], voucher["id"])
    batch = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    [netted] = batch["lines"]
    assert (netted["gross_fen"], netted["clawback_fen"], netted["amount_fen"]) == (
        300_000, 150_000, 150_000)
    assert sql(api.engine, "SELECT SUM(allocated_fen) FROM clawback").scalar() == 150_000
    api.ok("POST", f"/v1/settlements/{batch['id']}/reviews",
           json={"decision": "reject", "reason": "退回重新汇总"})
    assert sql(api.engine, "SELECT SUM(allocated_fen), SUM(recovered_fen) FROM clawback"
               ).one() == (0, 0)
    assert api.ok("GET", "/v1/years/2026/reconciliation")["ok"] is True
    again = world.settle()
    [line_] = again["lines"]
    assert (line_["gross_fen"], line_["clawback_fen"], line_["amount_fen"],
            again["total_fen"]) == (300_000, 150_000, 150_000, 150_000)
    assert sql(api.engine, "SELECT SUM(allocated_fen), SUM(recovered_fen) FROM clawback"
               ).one() == (0, 150_000)
    assert api.ok("GET", "/v1/years/2026/reconciliation")["ok"] is True
    budget = api.ok("GET", "/v1/years/2026/budget")
    assert budget["paid_fen"] == 300_000 + 150_000
