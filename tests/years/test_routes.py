"""Budget years and their policy (PRODUCT.md §3.1), including the policy lock."""

import pytest

from tests.conftest import SQLITE_ONLY, sql


def _pool(api, year=2026) -> dict:
    accounts = api.ok("GET", "/v1/ledger/accounts", params={"year": year, "kind": "pool"})
    [pool] = accounts["items"]
    return pool


def test_create_needs_only_the_year_and_applies_the_defaults(api):
    year = api.year(2026)
    assert {k: year[k] for k in (
        "year", "pool_fen", "rate_bp", "category_rates_bp", "enterprise_cap_fen",
        "eligible_categories", "settlement_mode", "application_opens_on",
        "application_closes_on", "eligible_from", "redemption_deadline", "alert_thresholds_bp",
        "status", "policy_version", "policy_locked", "closed_at")} == {
        "year": 2026, "pool_fen": 2_000_000_000, "rate_bp": 3000, "category_rates_bp": {},
        "enterprise_cap_fen": 200_000_000, "eligible_categories": ["gpu", "npu", "accelerator"],
        "settlement_mode": "reimbursement", "application_opens_on": "2026-01-01",
        "application_closes_on": "2026-12-31", "eligible_from": "2025-01-01",
        "redemption_deadline": "2027-01-31", "alert_thresholds_bp": [8000, 9500],
        "status": "open", "policy_version": 1, "policy_locked": False, "closed_at": None}
    assert year["created_at"].endswith("+08:00")
    assert api.ok("GET", "/v1/years/2026") == year


def test_create_funds_the_pool_in_the_ledger(api):
    api.year(2026, pool_fen=123_456_789)
    assert _pool(api)["balance_fen"] == 123_456_789
    [fund] = api.ok("GET", "/v1/ledger/transfers", params={"kind": "fund"})["items"]
    assert fund["amount_fen"] == 123_456_789
    assert fund["credit_account_id"] == _pool(api)["id"]
    assert fund["reference"] == "year:2026"


def test_a_zero_pool_posts_no_transfer(api):
    api.year(2026, pool_fen=0)
    assert _pool(api)["balance_fen"] == 0
    assert api.ok("GET", "/v1/ledger/transfers")["items"] == []


def test_create_with_a_full_policy(api):
    year = api.year(2027, pool_fen=500_000_000, rate_bp=2500,
                    category_rates_bp={"accelerator": 2000}, enterprise_cap_fen=50_000_000,
                    eligible_categories=["gpu", "accelerator", "gpu"], settlement_mode="deduction",
                    application_opens_on="2027-03-01", application_closes_on="2027-09-30",
                    eligible_from="2027-02-01", redemption_deadline="2028-03-31",
                    alert_thresholds_bp=[5000])
    assert year["pool_fen"] == 500_000_000
    assert year["rate_bp"] == 2500
    assert year["category_rates_bp"] == {"accelerator": 2000}
    assert year["enterprise_cap_fen"] == 50_000_000
    assert year["eligible_categories"] == ["gpu", "accelerator"]  # duplicates dropped
    assert year["settlement_mode"] == "deduction"
    assert year["application_opens_on"] == "2027-03-01"
    assert year["application_closes_on"] == "2027-09-30"
    assert year["eligible_from"] == "2027-02-01"
    assert year["redemption_deadline"] == "2028-03-31"
    assert year["alert_thresholds_bp"] == [5000]


def test_a_year_exists_once(api):
    api.year(2026)
    r = api.client.post("/v1/years", json={"year": 2026}, headers=api.admin)
    assert r.status_code == 409
    assert r.json()["code"] == "already_exists"
    assert len(api.ok("GET", "/v1/ledger/transfers")["items"]) == 1


@SQLITE_ONLY  # the request model refuses these before any database work
@pytest.mark.parametrize("body, field", [
    ({"year": 1999}, "year"),
    ({"year": 2101}, "year"),
    ({}, "year"),
    ({"year": 2026, "rate_bp": 10_001}, "rate_bp"),
    ({"year": 2026, "rate_bp": -1}, "rate_bp"),
    ({"year": 2026, "pool_fen": -1}, "pool_fen"),
    ({"year": 2026, "enterprise_cap_fen": -1}, "enterprise_cap_fen"),
    ({"year": 2026, "settlement_mode": "cash"}, "settlement_mode"),
    ({"year": 2026, "eligible_categories": ["quantum"]}, "eligible_categories.0"),
    ({"year": 2026, "category_rates_bp": {"quantum": 100}}, "category_rates_bp.quantum.[key]"),
    ({"year": 2026, "pool_fen": 1.5}, "pool_fen"),
    ({"year": 2026, "surprise": 1}, "surprise"),
])
def test_invalid_policies_are_422(api, body, field):
    _refused_policy(api, body, field)


# Refused by the service's policy check, inside the write's transaction: on both databases.
@pytest.mark.parametrize("body, field", [
    ({"year": 2026, "category_rates_bp": {"gpu": 10_001}}, "category_rates_bp.gpu"),
    ({"year": 2026, "application_opens_on": "2026-06-01",
      "application_closes_on": "2026-05-31"}, "application_closes_on"),
    ({"year": 2026, "eligible_from": "2027-02-01"}, "redemption_deadline"),
    ({"year": 2026, "alert_thresholds_bp": [0]}, "alert_thresholds_bp"),
])
def test_inconsistent_policies_are_422(api, body, field):
    _refused_policy(api, body, field)


def _refused_policy(api, body, field):
    r = api.client.post("/v1/years", json=body, headers=api.admin)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "validation_error"
    assert field in [e["field"] for e in problem["errors"]]
    assert api.client.get("/v1/years/2026", headers=api.admin).status_code == 404


def test_unknown_year_is_404(api):
    r = api.client.get("/v1/years/2031", headers=api.admin)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    r = api.client.patch("/v1/years/2031", json={"rate_bp": 2000}, headers=api.admin)
    assert r.status_code == 404


def test_patch_before_the_first_voucher_changes_anything_and_versions_it(api):
    api.year(2026)
    year = api.ok("PATCH", "/v1/years/2026",
                  json={"rate_bp": 2000, "pool_fen": 1_500_000_000,
                        "eligible_categories": ["gpu"], "settlement_mode": "deduction",
                        "application_closes_on": "2026-06-30"})
    assert year["rate_bp"] == 2000
    assert year["pool_fen"] == 1_500_000_000
    assert year["eligible_categories"] == ["gpu"]
    assert year["settlement_mode"] == "deduction"
    assert year["application_closes_on"] == "2026-06-30"
    assert year["policy_version"] == 2
    assert _pool(api)["balance_fen"] == 1_500_000_000
    [defund] = api.ok("GET", "/v1/ledger/transfers", params={"kind": "defund"})["items"]
    assert defund["amount_fen"] == 500_000_000

    year = api.ok("PATCH", "/v1/years/2026", json={"pool_fen": 1_600_000_000})
    assert year["policy_version"] == 3
    assert _pool(api)["balance_fen"] == 1_600_000_000
    [_, top_up] = api.ok("GET", "/v1/ledger/transfers", params={"kind": "fund"})["items"]
    assert top_up["amount_fen"] == 100_000_000

    [event] = api.ok("GET", "/v1/audit-events", params={"action": "year.update"})["items"][:1]
    assert event["summary"]["changes"]["rate_bp"] == 2000
    assert event["summary"]["before"]["rate_bp"] == 3000


def test_patch_that_changes_nothing_is_not_a_new_version(api):
    api.year(2026)
    year = api.ok("PATCH", "/v1/years/2026", json={"rate_bp": 3000, "pool_fen": None})
    assert year["policy_version"] == 1
    assert api.ok("GET", "/v1/audit-events", params={"action": "year.update"})["items"] == []


def test_patch_is_validated_against_the_whole_policy(api):
    api.year(2026)
    r = api.client.patch("/v1/years/2026", json={"application_opens_on": "2027-01-01"},
                         headers=api.admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "application_closes_on"
    assert api.ok("GET", "/v1/years/2026")["policy_version"] == 1


def test_year_cannot_be_changed_in_a_patch(api):
    api.year(2026)
    r = api.client.patch("/v1/years/2026", json={"year": 2027}, headers=api.admin)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"


@pytest.fixture
def locked(api):
    api.year(2026)
    ent = api.enterprise()
    api.voucher(ent["id"], 1_000_000)
    assert api.ok("GET", "/v1/years/2026")["policy_locked"] is True
    return api


@pytest.mark.parametrize("change", [
    {"pool_fen": 2_000_000_001},
    {"pool_fen": 1_999_999_999},
    {"rate_bp": 2000},
    {"category_rates_bp": {"gpu": 2000}},
    {"enterprise_cap_fen": 300_000_000},
    {"eligible_categories": ["gpu"]},
    {"settlement_mode": "deduction"},
    {"eligible_from": "2026-02-01"},
    {"eligible_from": "2025-12-01"},
    {"application_opens_on": "2026-01-02"},
    {"application_closes_on": "2026-12-30"},
    {"redemption_deadline": "2027-01-30"},
    {"alert_thresholds_bp": [5000], "rate_bp": 2000},
    {"redemption_deadline": "2027-02-28", "rate_bp": 2000},
])
def test_after_the_first_voucher_the_policy_is_locked(locked, change):
    api = locked
    r = api.client.patch("/v1/years/2026", json=change, headers=api.admin)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "policy_locked"
    year = api.ok("GET", "/v1/years/2026")
    assert year["policy_version"] == 1
    assert year["rate_bp"] == 3000
    assert year["pool_fen"] == 2_000_000_000
    assert year["redemption_deadline"] == "2027-01-31"


def test_after_the_first_voucher_windows_may_widen_and_thresholds_change(locked):
    api = locked
    year = api.ok("PATCH", "/v1/years/2026",
                  json={"application_opens_on": "2025-12-01",
                        "application_closes_on": "2027-01-15",
                        "redemption_deadline": "2027-03-31",
                        "alert_thresholds_bp": [7000, 9000, 9900]})
    assert year["application_opens_on"] == "2025-12-01"
    assert year["application_closes_on"] == "2027-01-15"
    assert year["redemption_deadline"] == "2027-03-31"
    assert year["alert_thresholds_bp"] == [7000, 9000, 9900]
    assert year["policy_version"] == 2
    assert year["policy_locked"] is True


def test_revoking_every_voucher_does_not_unlock_the_policy(locked):
    api = locked
    [voucher] = api.ok("GET", "/v1/vouchers")["items"]
    api.ok("POST", f"/v1/vouchers/{voucher['id']}/revoke", json={})
    r = api.client.patch("/v1/years/2026", json={"rate_bp": 2000}, headers=api.admin)
    assert r.status_code == 409
    assert r.json()["code"] == "policy_locked"


def test_a_closed_year_refuses_changes(api):
    api.year(2026)
    sql(api.engine, "UPDATE budget_year SET status = 'closed' WHERE year = 2026")
    r = api.client.patch("/v1/years/2026", json={"alert_thresholds_bp": [5000]},
                         headers=api.admin)
    assert r.status_code == 409
    assert r.json()["code"] == "year_closed"


def test_years_are_independent(api):
    api.year(2026)
    api.year(2027, pool_fen=1_000)
    ent = api.enterprise()
    api.voucher(ent["id"], 1_000, year=2027)
    assert api.ok("GET", "/v1/years/2026")["policy_locked"] is False
    assert api.ok("PATCH", "/v1/years/2026", json={"rate_bp": 2000})["rate_bp"] == 2000
    assert _pool(api, 2026)["balance_fen"] == 2_000_000_000
    assert _pool(api, 2027)["balance_fen"] == 0


# --- GET /v1/years (issue 21, item 8) ------------------------------------------------------


def test_list_years_oldest_first_with_the_list_conventions(api):
    for year in (2027, 2025, 2026):
        api.year(year)
    page = api.ok("GET", "/v1/years")
    assert [y["year"] for y in page["items"]] == [2025, 2026, 2027]
    assert page["next_cursor"] is None
    assert page["items"][1] == api.ok("GET", "/v1/years/2026")
    first = api.ok("GET", "/v1/years", params={"limit": 2})
    assert [y["year"] for y in first["items"]] == [2025, 2026]
    rest = api.ok("GET", "/v1/years", params={"limit": 2, "cursor": first["next_cursor"]})
    assert ([y["year"] for y in rest["items"]], rest["next_cursor"]) == ([2027], None)
    # The auditor reads it too; a cursor this API did not issue is a 422 naming it.
    assert len(api.ok("GET", "/v1/years", headers=api.auditor())["items"]) == 3
    bad = api.client.get("/v1/years", params={"cursor": "2026"}, headers=api.admin)
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "cursor")


def test_list_years_filters_by_status(api):
    api.year(2025)
    api.year(2026)
    api.ok("POST", "/v1/years/2025/close", json={"force": True, "reason": "测试"})
    closed = api.ok("GET", "/v1/years", params={"status": "closed"})
    assert [(y["year"], y["status"]) for y in closed["items"]] == [(2025, "closed")]
    opened = api.ok("GET", "/v1/years", params={"status": "open"})
    assert [y["year"] for y in opened["items"]] == [2026]
    assert api.ok("GET", "/v1/years")["items"][0]["year"] == 2025


def test_list_years_is_for_the_bureau_and_a_refusal_names_who_may(api):
    ent = api.enterprise()
    r = api.client.get("/v1/years", headers=api.enterprise_key(ent["id"]))
    assert r.status_code == 403
    assert r.json()["code"] == "forbidden"
    assert r.json()["allowed_roles"] == ["admin", "auditor"]
    assert r.json()["detail"] == "role enterprise may not do this; only roles admin or auditor may"
