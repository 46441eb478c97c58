"""Enterprises, providers, the approved list, related parties, other-programme claims (§3.2)."""

import pytest

from tests.conftest import SQLITE_ONLY
from tests.factories import uscc


def test_create_and_get_enterprise(api):
    code = uscc()
    ent = api.ok("POST", "/v1/enterprises", expect=201,
                 json={"uscc": code, "name": "大连算力应用有限公司", "district": "高新园区"})
    assert ent["id"].startswith("ent_")
    assert {k: ent[k] for k in ("uscc", "name", "district", "credit_blocked", "uscc_override")} \
        == {"uscc": code, "name": "大连算力应用有限公司", "district": "高新园区",
            "credit_blocked": False, "uscc_override": False}
    assert api.ok("GET", f"/v1/enterprises/{ent['id']}") == ent
    [event] = api.ok("GET", "/v1/audit-events", params={"object_id": ent["id"]})["items"]
    assert event["action"] == "enterprise.create"
    assert event["role"] == "admin"


def test_create_and_get_provider(api):
    code = uscc()
    prv = api.ok("POST", "/v1/providers", json={"uscc": code, "name": "大连智算中心"}, expect=201)
    assert prv["id"].startswith("prv_")
    assert prv["uscc"] == code
    assert prv["name"] == "大连智算中心"
    assert api.ok("GET", f"/v1/providers/{prv['id']}") == prv


@pytest.mark.parametrize("path", ["/v1/enterprises", "/v1/providers"])
def test_a_uscc_is_registered_once_per_registry(api, path):
    code = uscc()
    api.ok("POST", path, json={"uscc": code, "name": "甲"}, expect=201)
    r = api.client.post(path, json={"uscc": code, "name": "乙"}, headers=api.admin)
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "already_exists"
    assert body["errors"] == [{"field": "uscc", "message": "already registered",
                               "type": "already_exists"}]
    assert len(api.ok("GET", path)["items"]) == 1


def test_the_same_uscc_may_be_enterprise_and_provider(api):
    code = uscc()
    api.enterprise(uscc=code)
    assert api.provider(uscc=code)["uscc"] == code


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("body, field", [
    ({"name": "甲"}, "uscc"),
    ({"uscc": "91350100M000100Y43"}, "name"),
    ({"uscc": "91350100M000100Y43", "name": ""}, "name"),
    ({"uscc": "91350100M000100Y43", "name": "甲", "id": "ent_mine"}, "id"),
])
def test_enterprise_validation(api, body, field):
    r = api.client.post("/v1/enterprises", json=body, headers=api.admin)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_unknown_registry_objects_are_404(api):
    for path in ("/v1/enterprises/ent_nope", "/v1/providers/prv_nope"):
        r = api.client.get(path, headers=api.admin)
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
        r = api.client.patch(path, json={"name": "x"}, headers=api.admin)
        assert r.status_code == 404


def test_credit_block_and_unblock_are_audited(api):
    ent = api.enterprise()
    blocked = api.ok("PATCH", f"/v1/enterprises/{ent['id']}",
                     json={"credit_blocked": True, "reason": "失信被执行人"})
    assert blocked["credit_blocked"] is True
    assert api.ok("GET", "/v1/enterprises", params={"credit_blocked": True})["items"] == [blocked]
    assert api.ok("GET", "/v1/enterprises", params={"credit_blocked": False})["items"] == []
    api.ok("PATCH", f"/v1/enterprises/{ent['id']}", json={"credit_blocked": False})
    actions = [e["action"] for e in api.ok("GET", "/v1/audit-events",
                                           params={"object_id": ent["id"]})["items"]]
    assert actions == ["enterprise.create", "enterprise.credit_block", "enterprise.credit_unblock"]
    [_, block, _] = api.ok("GET", "/v1/audit-events", params={"object_id": ent["id"]})["items"]
    assert block["summary"] == {"changes": {"credit_blocked": True},
                                "before": {"credit_blocked": False}, "reason": "失信被执行人"}


def test_patch_without_changes_writes_no_event(api):
    ent = api.enterprise(name="甲")
    api.ok("PATCH", f"/v1/enterprises/{ent['id']}", json={"name": "甲"})
    assert len(api.ok("GET", "/v1/audit-events", params={"object_id": ent["id"]})["items"]) == 1


def test_uscc_cannot_be_patched(api):
    ent = api.enterprise()
    r = api.client.patch(f"/v1/enterprises/{ent['id']}", json={"uscc": uscc()},
                         headers=api.admin)
    assert r.status_code == 422


def test_rename_provider(api):
    prv = api.provider(name="旧名")
    assert api.ok("PATCH", f"/v1/providers/{prv['id']}", json={"name": "新名"})["name"] == "新名"
    [_, event] = api.ok("GET", "/v1/audit-events", params={"object_id": prv["id"]})["items"]
    assert event["summary"] == {"name": "新名", "before": "旧名"}


def test_list_filters_by_uscc(api):
    a = api.enterprise()
    api.enterprise()
    assert api.ok("GET", "/v1/enterprises", params={"uscc": a["uscc"]})["items"] == [a]
    p = api.provider()
    api.provider()
    assert api.ok("GET", "/v1/providers", params={"uscc": p["uscc"]})["items"] == [p]


def test_list_pagination_with_limit_and_cursor(api):
    created = [api.enterprise()["id"] for _ in range(5)]
    page = api.ok("GET", "/v1/enterprises", params={"limit": 2})
    assert [e["id"] for e in page["items"]] == created[:2]
    page = api.ok("GET", "/v1/enterprises", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [e["id"] for e in page["items"]] == created[2:4]
    page = api.ok("GET", "/v1/enterprises", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [e["id"] for e in page["items"]] == created[4:]
    assert page["next_cursor"] is None
    exact = api.ok("GET", "/v1/enterprises", params={"limit": 5})
    assert len(exact["items"]) == 5
    assert exact["next_cursor"] is None


def test_default_page_size_is_50(api):
    for _ in range(51):
        api.enterprise()
    page = api.ok("GET", "/v1/enterprises")
    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None
    rest = api.ok("GET", "/v1/enterprises", params={"cursor": page["next_cursor"]})
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert len(api.ok("GET", "/v1/enterprises", params={"limit": 500})["items"]) == 51


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("params, field", [
    ({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "x"}, "limit"),
    ({"cursor": "____"}, "cursor"),
])
def test_bad_page_parameters_are_422(api, params, field):
    r = api.client.get("/v1/enterprises", params=params, headers=api.admin)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_provider_approval_per_year(api):
    api.year(2026)
    api.year(2027)
    prv = api.provider()
    assert api.approve_provider(prv["id"]) == {"year": 2026, "provider_id": prv["id"],
                                               "approved": True}
    # Approving again is a no-op that writes no second event.
    api.ok("PUT", f"/v1/years/2026/approved-providers/{prv['id']}", json={"approved": True})
    assert api.ok("PUT", f"/v1/years/2026/approved-providers/{prv['id']}",
                  json={"approved": False})["approved"] is False
    actions = [e["action"] for e in api.ok("GET", "/v1/audit-events",
                                           params={"object_id": prv["id"]})["items"]]
    assert actions == ["provider.create", "provider.approve", "provider.unapprove"]


def test_approval_of_unknown_year_or_provider_is_404(api):
    api.year(2026)
    prv = api.provider()
    r = api.client.put(f"/v1/years/2030/approved-providers/{prv['id']}", headers=api.admin)
    assert r.status_code == 404
    r = api.client.put("/v1/years/2026/approved-providers/prv_nope", headers=api.admin)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_related_parties(api):
    ent, prv = api.enterprise(), api.provider()
    body = {"enterprise_id": ent["id"], "provider_id": prv["id"], "reason": "同一实际控制人"}
    rel = api.ok("POST", "/v1/related-parties", json=body, expect=201)
    assert rel["id"].startswith("rel_")
    assert {k: rel[k] for k in body} == body
    r = api.client.post("/v1/related-parties", json=body, headers=api.admin)
    assert r.status_code == 409
    assert r.json()["code"] == "already_exists"


@pytest.mark.parametrize("missing", ["enterprise_id", "provider_id"])
def test_related_party_with_unknown_party_is_404(api, missing):
    body = {"enterprise_id": api.enterprise()["id"], "provider_id": api.provider()["id"],
            "reason": "关联"}
    body[missing] = "nope"
    r = api.client.post("/v1/related-parties", json=body, headers=api.admin)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_other_subsidy_claims(api):
    ent = api.enterprise()
    body = {"enterprise_id": ent["id"], "programme": "省级算力补贴",
            "invoice_number": "24212000000000000001", "amount_fen": 1_000_000}
    claim = api.ok("POST", "/v1/other-subsidies", json=body, expect=201)
    assert claim["id"].startswith("oth_")
    assert {k: claim[k] for k in body} == body
    assert claim["contract_number"] is None
    by_contract = api.ok("POST", "/v1/other-subsidies", expect=201,
                         json={"enterprise_id": ent["id"], "programme": "区级",
                               "contract_number": "HT-2026-001", "amount_fen": 0})
    assert by_contract["amount_fen"] == 0


def test_other_subsidy_needs_invoice_or_contract_and_a_known_enterprise(api):
    ent = api.enterprise()
    r = api.client.post("/v1/other-subsidies", headers=api.admin,
                        json={"enterprise_id": ent["id"], "programme": "省级", "amount_fen": 1})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "invoice_number"
    r = api.client.post("/v1/other-subsidies", headers=api.admin,
                        json={"enterprise_id": "nope", "programme": "省级",
                              "invoice_number": "1", "amount_fen": 1})
    assert r.status_code == 404
    r = api.client.post("/v1/other-subsidies", headers=api.admin,
                        json={"enterprise_id": ent["id"], "programme": "省级",
                              "invoice_number": "1", "amount_fen": -1})
    assert r.status_code == 422


# --- payment facts (issue 21 item 3, docs/exports.md) ------------------------------------------

@pytest.mark.parametrize("path", ["/v1/enterprises", "/v1/providers"])
def test_payment_facts_on_create_and_patch(api, path):
    body = {"uscc": uscc(), "name": "大连算力应用有限公司", "bank_name": " 中国银行大连分行 ",
            "bank_account": "6216 6100 0000 1234 567"}
    party = api.ok("POST", path, json=body, expect=201)
    assert (party["bank_name"], party["bank_account"], party["account_name"]) == (
        "中国银行大连分行", "6216 6100 0000 1234 567", None)
    assert api.ok("GET", f"{path}/{party['id']}") == party
    patched = api.ok("PATCH", f"{path}/{party['id']}",
                     json={"account_name": "大连算力应用有限公司财务部", "bank_name": None})
    assert (patched["bank_name"], patched["account_name"]) == (
        "中国银行大连分行", "大连算力应用有限公司财务部")  # null leaves a fact unchanged
    create, update = api.ok("GET", "/v1/audit-events", params={"object_id": party["id"]})["items"]
    assert (create["summary"]["bank_name"], create["summary"]["bank_account"]) == (
        "中国银行大连分行", "6216 6100 0000 1234 567")
    assert update["summary"]["changes"] == {"account_name": "大连算力应用有限公司财务部"}
    assert update["summary"]["before"] == {"account_name": None}


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("field,value", [
    ("bank_name", "   "), ("bank_name", "中" * 101), ("bank_name", "中国银行\n大连分行"),
    ("account_name", ""), ("account_name", "名" * 201), ("bank_name", 7),
])
@pytest.mark.parametrize("path", ["/v1/enterprises", "/v1/providers"])
def test_bad_payment_fact_is_422_naming_the_field(api, path, field, value):
    r = api.client.post(path, headers=api.admin, json={"uscc": uscc(), "name": "某公司",
                                                       field: value})
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    party = api.ok("POST", path, json={"uscc": uscc(), "name": "某公司"}, expect=201)
    r = api.client.patch(f"{path}/{party['id']}", headers=api.admin, json={field: value})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [field]
    assert api.ok("GET", f"{path}/{party['id']}")[field] is None
