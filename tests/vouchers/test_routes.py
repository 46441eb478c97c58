"""Applications and vouchers: issuing reserves from the pool under the enterprise cap (§3.3)."""

import pytest

from tests.conftest import SQLITE_ONLY, sql

CAP = 200_000_000


def _counts(api) -> dict[str, int]:
    def count(table):
        return sql(api.engine, f"SELECT COUNT(*) FROM {table}").scalar()
    return {t: count(t) for t in ("voucher", "ledger_transfer", "ledger_account", "audit_event",
                                  "application")} | {
        "reserved": sql(api.engine, "SELECT COALESCE(SUM(reserved_fen), 0) "
                                    "FROM enterprise_year").scalar()}


def _balance(api, kind: str, owner_id: str | None = None, year: int = 2026) -> int:
    params = {"year": year, "kind": kind} | ({"owner_id": owner_id} if owner_id else {})
    [account] = api.ok("GET", "/v1/ledger/accounts", params=params)["items"]
    return account["balance_fen"]


def _refused(api, body, status, code, headers=None):
    r = api.client.post("/v1/vouchers", json=body, headers=headers or api.admin)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    return r.json()


# --- direct issue -------------------------------------------------------------------------


def test_direct_issue(api, today):
    today("2026-03-15")
    api.year(2026)
    ent = api.enterprise()
    v = api.voucher(ent["id"], 1_000_000)
    assert v["id"].startswith("vch_")
    assert v["code"].startswith("SLQ-2026-")
    assert {k: v[k] for k in ("enterprise_id", "year", "face_fen", "balance_fen", "returned_fen",
                              "redeemed_fen", "status", "valid_from", "valid_until",
                              "days_left", "application_id")} == {
        "enterprise_id": ent["id"], "year": 2026, "face_fen": 1_000_000,
        "balance_fen": 1_000_000, "returned_fen": 0, "redeemed_fen": 0, "status": "active",
        "valid_from": "2026-03-15", "valid_until": "2027-01-31", "days_left": 322,
        "application_id": None}
    assert api.ok("GET", f"/v1/vouchers/{v['id']}") == v
    assert _balance(api, "pool") == 2_000_000_000 - 1_000_000
    assert _balance(api, "voucher", v["id"]) == 1_000_000
    [issue] = api.ok("GET", "/v1/ledger/transfers", params={"kind": "issue"})["items"]
    assert issue["amount_fen"] == 1_000_000
    assert issue["reference"] == v["id"]
    [event] = api.ok("GET", "/v1/audit-events", params={"object_id": v["id"]})["items"]
    assert event["action"] == "voucher.issue"
    assert event["summary"]["face_fen"] == 1_000_000


def test_valid_until_may_be_earlier_than_the_deadline_but_not_later(api, today):
    today("2026-03-15")
    api.year(2026)
    ent = api.enterprise()
    v = api.voucher(ent["id"], 1_000, valid_until="2026-06-30")
    assert v["valid_until"] == "2026-06-30"
    assert v["days_left"] == 107
    before = _counts(api)
    problem = _refused(api, {"enterprise_id": ent["id"], "year": 2026, "face_fen": 1_000,
                             "valid_until": "2027-02-01"}, 422, "validation_error")
    assert problem["errors"][0]["field"] == "valid_until"
    assert _counts(api) == before


def test_a_voucher_past_valid_until_reads_as_expired(api, today):
    today("2026-03-15")
    api.year(2026)
    ent = api.enterprise()
    v = api.voucher(ent["id"], 1_000, valid_until="2026-06-30")
    today("2026-07-01")
    got = api.ok("GET", f"/v1/vouchers/{v['id']}")
    assert got["status"] == "expired"
    assert got["days_left"] == 0
    assert got["balance_fen"] == 1_000


def test_a_voucher_issued_after_its_validity_reads_expired_and_returns_on_revoke(api, today):
    today("2027-02-01")  # after the 2026 redemption deadline: bookkeeping for a past year
    api.year(2026)
    ent = api.enterprise()
    late = api.voucher(ent["id"], 1_000)
    assert (late["status"], late["valid_until"], late["valid_from"]) == (
        "expired", "2027-01-31", "2027-01-31")
    assert late["days_left"] == 0
    api.ok("POST", f"/v1/vouchers/{late['id']}/revoke")
    assert api.ok("GET", "/v1/years/2026/budget")["available_fen"] == 2_000_000_000


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("body, field", [
    ({"year": 2026, "face_fen": 1}, "enterprise_id"),
    ({"enterprise_id": "x", "face_fen": 1}, "year"),
    ({"enterprise_id": "x", "year": 2026}, "face_fen"),
    ({"enterprise_id": "x", "year": 2026, "face_fen": 0}, "face_fen"),
    ({"enterprise_id": "x", "year": 2026, "face_fen": -5}, "face_fen"),
    ({"enterprise_id": "x", "year": 2026, "face_fen": 10**15 + 1}, "face_fen"),
    ({"enterprise_id": "x", "year": 2026, "face_fen": 1.5}, "face_fen"),
    ({"enterprise_id": "x", "year": 2026, "face_fen": 1, "balance_fen": 1}, "balance_fen"),
])
def test_issue_validation(api, body, field):
    api.year(2026)
    problem = _refused(api, body, 422, "validation_error")
    assert [e["field"] for e in problem["errors"]] == [field]


def test_issue_to_unknown_enterprise_or_year_is_404(api):
    api.year(2026)
    ent = api.enterprise()
    before = _counts(api)
    _refused(api, {"enterprise_id": "ent_nope", "year": 2026, "face_fen": 1}, 404, "not_found")
    _refused(api, {"enterprise_id": ent["id"], "year": 2027, "face_fen": 1}, 404, "not_found")
    assert _counts(api) == before


def test_credit_blocked_enterprise_gets_no_voucher(api):
    api.year(2026)
    ent = api.enterprise(credit_blocked=True)
    before = _counts(api)
    _refused(api, {"enterprise_id": ent["id"], "year": 2026, "face_fen": 1}, 409,
             "credit_blocked")
    assert _counts(api) == before


def test_closed_year_issues_nothing(api):
    api.year(2026)
    ent = api.enterprise()
    sql(api.engine, "UPDATE budget_year SET status = 'closed' WHERE year = 2026")
    _refused(api, {"enterprise_id": ent["id"], "year": 2026, "face_fen": 1}, 409, "year_closed")


# --- the enterprise cap and the pool ----------------------------------------------------------


def test_enterprise_cap_exactly_reached_then_one_fen_over(api):
    api.year(2026)
    ent = api.enterprise()
    api.voucher(ent["id"], 150_000_000)
    api.voucher(ent["id"], 50_000_000)  # exactly the 200_000_000 cap
    before = _counts(api)
    problem = _refused(api, {"enterprise_id": ent["id"], "year": 2026, "face_fen": 1}, 409,
                       "enterprise_cap_exceeded")
    assert "0 fen left" in problem["detail"]
    assert _counts(api) == before
    assert _balance(api, "pool") == 2_000_000_000 - CAP
    # Another enterprise has its own cap.
    assert api.voucher(api.enterprise()["id"], CAP)["face_fen"] == CAP


def test_one_voucher_one_fen_over_the_cap(api):
    api.year(2026)
    ent = api.enterprise()
    before = _counts(api)
    problem = _refused(api, {"enterprise_id": ent["id"], "year": 2026, "face_fen": CAP + 1},
                       409, "enterprise_cap_exceeded")
    assert "200000000 fen left" in problem["detail"]
    assert _counts(api) == before
    assert api.voucher(ent["id"], CAP)["face_fen"] == CAP


def test_pool_exactly_exhausted_then_one_fen_over(api):
    api.year(2026, pool_fen=1_000_000, enterprise_cap_fen=800_000)
    a, b = api.enterprise(), api.enterprise()
    api.voucher(a["id"], 800_000)
    before = _counts(api)
    _refused(api, {"enterprise_id": b["id"], "year": 2026, "face_fen": 200_001}, 409,
             "pool_exhausted")
    assert _counts(api) == before
    assert _balance(api, "pool") == 200_000
    api.voucher(b["id"], 200_000)  # exactly the rest of the pool
    assert _balance(api, "pool") == 0
    before = _counts(api)
    _refused(api, {"enterprise_id": b["id"], "year": 2026, "face_fen": 1}, 409,
             "pool_exhausted")
    assert _counts(api) == before
    budget_ok = api.ok("GET", "/v1/ledger/accounts", params={"year": 2026, "kind": "voucher"})
    assert sorted(acc["balance_fen"] for acc in budget_ok["items"]) == [200_000, 800_000]


def test_revocation_returns_the_balance_to_pool_and_cap(api):
    api.year(2026, pool_fen=CAP)
    ent = api.enterprise()
    v = api.voucher(ent["id"], CAP)
    revoked = api.ok("POST", f"/v1/vouchers/{v['id']}/revoke", json={"reason": "项目终止"})
    assert revoked["status"] == "revoked"
    assert revoked["balance_fen"] == 0
    assert revoked["returned_fen"] == CAP
    assert revoked["redeemed_fen"] == 0
    assert revoked["revoked_at"] is not None
    assert _balance(api, "pool") == CAP
    assert _balance(api, "voucher", v["id"]) == 0
    [back] = api.ok("GET", "/v1/ledger/transfers", params={"kind": "revoke"})["items"]
    assert back["amount_fen"] == CAP
    assert sql(api.engine, "SELECT reserved_fen FROM enterprise_year").scalar() == 0
    # The cap and the pool are free again, to the fen.
    assert api.voucher(ent["id"], CAP)["face_fen"] == CAP
    event = api.ok("GET", "/v1/audit-events", params={"object_id": v["id"]})["items"][-1]
    assert event["action"] == "voucher.revoke"
    assert event["summary"] == {"returned_fen": CAP, "reason": "项目终止"}


def test_revoke_without_body_and_twice(api):
    api.year(2026)
    v = api.voucher(api.enterprise()["id"], 5_000)
    assert api.ok("POST", f"/v1/vouchers/{v['id']}/revoke")["status"] == "revoked"
    before = _counts(api)
    r = api.client.post(f"/v1/vouchers/{v['id']}/revoke", headers=api.admin)
    assert r.status_code == 409
    assert r.json()["code"] == "invalid_state"
    assert _counts(api) == before
    r = api.client.post("/v1/vouchers/vch_nope/revoke", headers=api.admin)
    assert r.status_code == 404


def test_voucher_list_filters_and_pages(api):
    api.year(2026)
    api.year(2027)
    a, b = api.enterprise(), api.enterprise()
    v1 = api.voucher(a["id"], 1_000)
    v2 = api.voucher(b["id"], 2_000)
    v3 = api.voucher(a["id"], 3_000, year=2027)
    api.ok("POST", f"/v1/vouchers/{v2['id']}/revoke")

    def ids(**params):
        return [v["id"] for v in api.ok("GET", "/v1/vouchers", params=params)["items"]]
    assert ids() == [v1["id"], v2["id"], v3["id"]]
    assert ids(year=2026) == [v1["id"], v2["id"]]
    assert ids(enterprise_id=a["id"]) == [v1["id"], v3["id"]]
    assert ids(status="revoked") == [v2["id"]]
    assert ids(status="active", year=2027) == [v3["id"]]
    page = api.ok("GET", "/v1/vouchers", params={"limit": 2})
    assert [v["id"] for v in page["items"]] == [v1["id"], v2["id"]]
    page = api.ok("GET", "/v1/vouchers", params={"limit": 2, "cursor": page["next_cursor"]})
    assert [v["id"] for v in page["items"]] == [v3["id"]]
    assert page["next_cursor"] is None
    r = api.client.get("/v1/vouchers", params={"status": "lost"}, headers=api.admin)
    assert r.status_code == 422


def test_status_filter_means_the_status_the_response_shows(api, today):
    """Issue item 10: ?status= filters on the computed status (display_status), not the stored
    one: past valid_until an active or exhausted voucher is listed, and reads, as expired."""
    from tests.flows import line, make_world

    today("2026-06-15")
    world = make_world(api)
    lapsing = world.voucher(1_000, valid_until="2026-06-30")
    lapsing_spent = world.voucher(60_000, valid_until="2026-06-30")
    world.redeem(world.invoice([line("gpu", 200_000)])["id"], lapsing_spent["id"])
    lapsing_revoked = world.voucher(1_000, valid_until="2026-06-30")
    api.ok("POST", f"/v1/vouchers/{lapsing_revoked['id']}/revoke")
    current = world.voucher(2_000)
    current_spent = world.voucher(30_000)
    world.redeem(world.invoice([line("gpu", 100_000)])["id"], current_spent["id"])
    not_yet = world.voucher(3_000)
    sql(api.engine, "UPDATE voucher SET valid_from = '2026-08-01' WHERE id = :i", i=not_yet["id"])
    today("2026-07-01")

    def ids(**params) -> list[str]:
        return [v["id"] for v in api.ok("GET", "/v1/vouchers", params={"year": 2026, **params}
                                        )["items"]]
    shown = {v["id"]: v["status"] for v in api.ok("GET", "/v1/vouchers",
                                                   params={"year": 2026})["items"]}
    assert shown == {lapsing["id"]: "expired", lapsing_spent["id"]: "expired",
                     lapsing_revoked["id"]: "revoked", current["id"]: "active",
                     current_spent["id"]: "exhausted", not_yet["id"]: "active"}
    assert ids(status="expired") == [lapsing["id"], lapsing_spent["id"]]
    assert ids(status="active") == [current["id"], not_yet["id"]]
    assert ids(status="exhausted") == [current_spent["id"]]
    assert ids(status="revoked") == [lapsing_revoked["id"]]
    for status in ("active", "exhausted", "expired", "revoked"):
        assert ids(status=status) == [i for i, s in shown.items() if s == status]
        listed = api.ok("GET", "/v1/vouchers", headers=world.ent, params={"status": status})
        assert {v["status"] for v in listed["items"]} <= {status}
        assert [v["id"] for v in listed["items"]] == ids(status=status)


def test_display_status_and_its_sql_expression_agree(api):
    """The Python rule and the SQL filter are one rule: every stored status on both sides of
    valid_until gives the same answer."""
    from datetime import date

    from sqlmodel import Session, select

    from service.vouchers import service
    from service.vouchers.models import Voucher

    api.year(2026)
    ent = api.enterprise()
    made = [api.voucher(ent["id"], 1_000, valid_until="2026-06-30") for _ in range(4)]
    for voucher, status in zip(made, ("active", "exhausted", "expired", "revoked"), strict=True):
        sql(api.engine, "UPDATE voucher SET status = :s WHERE id = :i", s=status, i=voucher["id"])
    with Session(api.engine) as session:
        for day in (date(2026, 6, 29), date(2026, 6, 30), date(2026, 7, 1)):
            computed = session.exec(select(Voucher.id, service.display_status_sql(day))).all()
            assert {i: s for i, s in computed} == {
                v.id: service.display_status(v, day) for v in session.exec(select(Voucher))}


# --- applications ---------------------------------------------------------------------------


@pytest.fixture
def applicant(api, today):
    today("2026-04-01")
    api.year(2026, application_opens_on="2026-03-01", application_closes_on="2026-09-30")
    ent = api.enterprise()
    return ent, api.enterprise_key(ent["id"])


def _apply(api, key, requested_fen=5_000_000, **extra):
    body = {"year": 2026, "requested_fen": requested_fen, "project_name": "大模型训练",
            "purpose": "租用 GPU 算力训练行业模型", **extra}
    return api.client.post("/v1/applications", json=body, headers=key)


def test_apply_and_approve_in_full(api, applicant):
    ent, key = applicant
    r = _apply(api, key)
    assert r.status_code == 201
    app = r.json()
    assert app["id"].startswith("app_")
    assert {k: app[k] for k in ("enterprise_id", "year", "requested_fen", "approved_fen",
                                "status", "reason", "voucher_id", "voucher")} == {
        "enterprise_id": ent["id"], "year": 2026, "requested_fen": 5_000_000,
        "approved_fen": None, "status": "submitted", "reason": None, "voucher_id": None,
        "voucher": None}
    assert api.ok("GET", f"/v1/applications/{app['id']}", headers=key) == app

    approved = api.ok("POST", f"/v1/applications/{app['id']}/approve")
    assert approved["status"] == "approved"
    assert approved["approved_fen"] == 5_000_000
    voucher = approved["voucher"]
    assert approved["voucher_id"] == voucher["id"]
    assert voucher["face_fen"] == 5_000_000
    assert voucher["balance_fen"] == 5_000_000
    assert voucher["application_id"] == app["id"]
    assert voucher["enterprise_id"] == ent["id"]
    assert voucher["valid_from"] == "2026-04-01"
    assert approved["decided_at"] is not None
    assert _balance(api, "pool") == 2_000_000_000 - 5_000_000
    assert api.ok("GET", f"/v1/vouchers/{voucher['id']}", headers=key) == voucher


def test_approve_a_lower_amount_with_an_earlier_expiry(api, applicant):
    _, key = applicant
    app = _apply(api, key).json()
    approved = api.ok("POST", f"/v1/applications/{app['id']}/approve",
                      json={"approved_fen": 3_000_000, "valid_until": "2026-12-31"})
    assert approved["approved_fen"] == 3_000_000
    assert approved["requested_fen"] == 5_000_000
    assert approved["voucher"]["face_fen"] == 3_000_000
    assert approved["voucher"]["valid_until"] == "2026-12-31"


def test_approve_more_than_requested_is_422(api, applicant):
    _, key = applicant
    app = _apply(api, key).json()
    before = _counts(api)
    r = api.client.post(f"/v1/applications/{app['id']}/approve", json={"approved_fen": 5_000_001},
                        headers=api.admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "approved_fen"
    assert _counts(api) == before
    assert api.ok("GET", f"/v1/applications/{app['id']}")["status"] == "submitted"


def test_approval_over_the_cap_is_refused_and_leaves_the_application_submitted(api, applicant):
    ent, key = applicant
    api.voucher(ent["id"], CAP - 4_999_999)
    app = _apply(api, key).json()
    before = _counts(api)
    r = api.client.post(f"/v1/applications/{app['id']}/approve", headers=api.admin)
    assert r.status_code == 409
    assert r.json()["code"] == "enterprise_cap_exceeded"
    assert _counts(api) == before
    assert api.ok("GET", f"/v1/applications/{app['id']}")["status"] == "submitted"
    approved = api.ok("POST", f"/v1/applications/{app['id']}/approve",
                      json={"approved_fen": 4_999_999})
    assert approved["voucher"]["face_fen"] == 4_999_999


def test_reject_and_decisions_are_final(api, applicant):
    _, key = applicant
    app = _apply(api, key).json()
    rejected = api.ok("POST", f"/v1/applications/{app['id']}/reject",
                      json={"reason": "项目不属于智能算力"})
    assert rejected["status"] == "rejected"
    assert rejected["reason"] == "项目不属于智能算力"
    assert rejected["voucher"] is None
    for action, body in (("approve", {}), ("reject", {"reason": "再次"})):
        r = api.client.post(f"/v1/applications/{app['id']}/{action}", json=body,
                            headers=api.admin)
        assert r.status_code == 409
        assert r.json()["code"] == "invalid_state"
    other = _apply(api, key).json()
    api.ok("POST", f"/v1/applications/{other['id']}/approve")
    r = api.client.post(f"/v1/applications/{other['id']}/approve", headers=api.admin)
    assert r.status_code == 409
    assert r.json()["code"] == "invalid_state"
    assert len(api.ok("GET", "/v1/vouchers")["items"]) == 1


def test_reject_needs_a_reason(api, applicant):
    _, key = applicant
    app = _apply(api, key).json()
    r = api.client.post(f"/v1/applications/{app['id']}/reject", json={}, headers=api.admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "reason"


@pytest.mark.parametrize("day, status", [
    ("2026-02-28", 409), ("2026-03-01", 201), ("2026-09-30", 201), ("2026-10-01", 409)])
def test_application_window_includes_both_ends(api, applicant, today, day, status):
    _, key = applicant
    today(day)
    r = _apply(api, key)
    assert r.status_code == status, r.text
    if status == 409:
        assert r.json()["code"] == "application_window_closed"
        assert api.ok("GET", "/v1/applications")["items"] == []


def test_apply_refusals(api, applicant):
    ent, key = applicant
    r = _apply(api, key, year=2027)
    assert r.status_code == 404
    r = _apply(api, key, requested_fen=0)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "requested_fen"
    api.ok("PATCH", f"/v1/enterprises/{ent['id']}", json={"credit_blocked": True})
    r = _apply(api, key)
    assert r.status_code == 409
    assert r.json()["code"] == "credit_blocked"
    assert api.ok("GET", "/v1/applications")["items"] == []


def test_application_list_filters(api, applicant):
    _, key = applicant
    a1 = _apply(api, key).json()
    a2 = _apply(api, key).json()
    other = api.enterprise()
    a3 = _apply(api, api.enterprise_key(other["id"])).json()
    api.ok("POST", f"/v1/applications/{a2['id']}/reject", json={"reason": "否"})

    def ids(headers=None, **params):
        return [a["id"] for a in api.ok("GET", "/v1/applications", headers=headers,
                                        params=params)["items"]]
    assert ids() == [a1["id"], a2["id"], a3["id"]]
    assert ids(status="submitted") == [a1["id"], a3["id"]]
    assert ids(enterprise_id=other["id"]) == [a3["id"]]
    assert ids(year=2027) == []
    assert ids(headers=key) == [a1["id"], a2["id"]]
    assert ids(headers=key, enterprise_id=other["id"]) == []
