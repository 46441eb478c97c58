"""Idempotency-Key on every POST (PRODUCT.md §4): replay, reuse with another body, scope."""

import threading

import pytest
from sqlalchemy import text

from tests.conftest import PG_AND_BOUNCER, SQLITE_ONLY, WITH_BOUNCER, engine_for, pg_for, sql
from tests.factories import bearer
from tests.flows import line, make_world


# On SQLite, PostgreSQL, and PostgreSQL through PgBouncer in transaction mode: the in-flight
# claim is an advisory lock, which must be transaction-scoped to survive transaction pooling.
@pytest.fixture(params=WITH_BOUNCER)
def engine(request):
    yield from engine_for(request)


@pytest.fixture(params=PG_AND_BOUNCER)
def pg(request):
    return pg_for(request)


def _count(api, table: str) -> int:
    return sql(api.engine, f"SELECT COUNT(*) FROM {table}").scalar()


def _post(api, path, body, key, headers=None):
    return api.client.post(path, json=body, headers={**(headers or api.admin),
                                                     "Idempotency-Key": key})


@pytest.fixture
def ent(api):
    api.year(2026)
    return api.enterprise()


def test_same_key_and_body_replays_the_original_response(api, ent):
    body = {"enterprise_id": ent["id"], "year": 2026, "face_fen": 1_000_000}
    first = _post(api, "/v1/vouchers", body, "issue-1")
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    counts = {t: _count(api, t) for t in ("voucher", "ledger_transfer", "audit_event")}

    again = _post(api, "/v1/vouchers", body, "issue-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert {t: _count(api, t) for t in counts} == counts
    assert _count(api, "voucher") == 1
    [pool] = api.ok("GET", "/v1/ledger/accounts", params={"kind": "pool"})["items"]
    assert pool["balance_fen"] == 2_000_000_000 - 1_000_000


def test_key_order_and_whitespace_do_not_change_the_body(api, ent):
    first = api.client.post("/v1/vouchers", headers={**api.admin, "Idempotency-Key": "k",
                                                     "Content-Type": "application/json"},
                            content=f'{{"enterprise_id": "{ent["id"]}", "year": 2026, '
                                    f'"face_fen": 5}}')
    again = api.client.post("/v1/vouchers", headers={**api.admin, "Idempotency-Key": "k",
                                                     "Content-Type": "application/json"},
                            content=f'{{"face_fen":5,"year":2026,"enterprise_id":"{ent["id"]}"}}')
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert _count(api, "voucher") == 1


def test_same_key_different_body_is_422(api, ent):
    body = {"enterprise_id": ent["id"], "year": 2026, "face_fen": 1_000}
    first = _post(api, "/v1/vouchers", body, "issue-2")
    assert first.status_code == 201
    r = _post(api, "/v1/vouchers", {**body, "face_fen": 1_001}, "issue-2")
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert _count(api, "voucher") == 1
    # The original is still replayed afterwards.
    assert _post(api, "/v1/vouchers", body, "issue-2").json() == first.json()


def test_same_key_on_another_endpoint_is_422(api, ent):
    assert _post(api, "/v1/providers", {"uscc": "91350100M000100Y43", "name": "甲"},
                 "k-1").status_code == 201
    r = _post(api, "/v1/enterprises", {"uscc": "91350100M000100Y43", "name": "甲"}, "k-1")
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"


def test_keys_are_scoped_per_api_key(api, ent):
    other_admin = bearer(api.make_key("admin"))
    a = _post(api, "/v1/vouchers", {"enterprise_id": ent["id"], "year": 2026, "face_fen": 100},
              "shared")
    b = _post(api, "/v1/vouchers", {"enterprise_id": ent["id"], "year": 2026, "face_fen": 200},
              "shared", headers=other_admin)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    assert b.json()["face_fen"] == 200
    # Even the same body under another API key is a new request.
    c = _post(api, "/v1/vouchers", {"enterprise_id": ent["id"], "year": 2026, "face_fen": 100},
              "shared", headers=other_admin)
    assert c.status_code == 422
    assert c.json()["code"] == "idempotency_key_reused"
    assert _count(api, "voucher") == 2


def test_without_a_key_every_post_is_new(api, ent):
    body = {"enterprise_id": ent["id"], "year": 2026, "face_fen": 100}
    api.ok("POST", "/v1/vouchers", json=body, expect=201)
    api.ok("POST", "/v1/vouchers", json=body, expect=201)
    assert _count(api, "voucher") == 2
    assert _count(api, "idempotency_record") == 0


def test_a_refusal_is_replayed_too(api):
    api.year(2026, enterprise_cap_fen=1_000)
    ent = api.enterprise()
    body = {"enterprise_id": ent["id"], "year": 2026, "face_fen": 1_001}
    first = _post(api, "/v1/vouchers", body, "too-much")
    assert first.status_code == 409
    assert first.json()["code"] == "enterprise_cap_exceeded"
    again = _post(api, "/v1/vouchers", body, "too-much")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.headers["idempotent-replayed"] == "true"
    # The stored first answer, whose detail says it is one (issue 21, item 1).
    assert again.json() == {**first.json(), "detail": first.json()["detail"] + " (replayed: "
                            "this is the stored answer to the first request with this "
                            "Idempotency-Key; send a new Idempotency-Key to try again)"}
    assert _count(api, "voucher") == 0


def test_a_replayed_refusal_says_a_new_key_tries_again(api):
    """The README's trap (issue 21, item 1): a redemption refused because the provider was not
    approved, the provider approved, the same key again: the stored 409, saying it is stored and
    naming the route that approves; a new key redeems."""
    world = make_world(api)
    api.ok("PUT", f"/v1/years/2026/approved-providers/{world.provider['id']}",
           json={"approved": False})
    world.voucher(50_000_000)
    invoice = world.invoice([line("gpu", 1_000_000)])
    body = {"invoice_id": invoice["id"]}
    first = _post(api, "/v1/redemptions", body, "rdm-1", headers=world.ent)
    approve = f"PUT /v1/years/2026/approved-providers/{world.provider['id']}"
    assert (first.status_code, first.json()["code"]) == (409, "provider_not_approved")
    assert first.json()["detail"] == (f"provider {world.provider['name']} is not approved for "
                                      f"2026; the bureau approves it with {approve}")
    api.approve_provider(world.provider["id"])
    again = _post(api, "/v1/redemptions", body, "rdm-1", headers=world.ent)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (409, "true")
    assert {k: v for k, v in again.json().items() if k != "detail"} == \
        {k: v for k, v in first.json().items() if k != "detail"}
    assert again.json()["detail"].startswith(first.json()["detail"] + " (replayed: ")
    assert "send a new Idempotency-Key to try again" in again.json()["detail"]
    fresh = _post(api, "/v1/redemptions", body, "rdm-2", headers=world.ent)
    assert (fresh.status_code, fresh.json()["subsidy_fen"]) == (201, 300_000)
    # A replayed success is unchanged.
    assert _post(api, "/v1/redemptions", body, "rdm-2", headers=world.ent).json() == fresh.json()


def test_a_malformed_request_is_not_remembered(api, ent):
    r = _post(api, "/v1/vouchers", {"enterprise_id": ent["id"], "year": 2026}, "fix-me")
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    fixed = _post(api, "/v1/vouchers", {"enterprise_id": ent["id"], "year": 2026,
                                        "face_fen": 5}, "fix-me")
    assert fixed.status_code == 201


def test_replay_for_put_patch_bodies_and_empty_bodies(api, ent):
    v = api.voucher(ent["id"], 700)
    first = api.client.post(f"/v1/vouchers/{v['id']}/revoke",
                            headers={**api.admin, "Idempotency-Key": "rv"})
    assert first.status_code == 200
    again = api.client.post(f"/v1/vouchers/{v['id']}/revoke",
                            headers={**api.admin, "Idempotency-Key": "rv"})
    assert again.status_code == 200  # not 409 invalid_state: it is the same request
    assert again.json() == first.json()
    assert _count(api, "ledger_transfer") == 3  # fund, issue, one revoke


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("key", ["", "x" * 256])
def test_key_length_is_bounded(api, ent, key):
    r = _post(api, "/v1/vouchers", {"enterprise_id": ent["id"], "year": 2026, "face_fen": 5},
              key)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


@pytest.mark.postgres
def test_same_key_still_in_flight_is_409(pg):
    from fastapi.testclient import TestClient

    from service.app import create_app
    from tests.factories import Api

    with TestClient(create_app(pg), raise_server_exceptions=False) as client:
        api = Api(client, pg)
        api.year(2026)
        ent = api.enterprise()
        key_id = sql(pg, "SELECT id FROM api_key WHERE role = 'admin'").scalar()
        holding = threading.Event()
        release = threading.Event()

        def hold_the_key():
            with pg.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"),
                             {"k": f"{key_id}:busy"})
                holding.set()
                release.wait(10)
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
                conn.commit()
        holder = threading.Thread(target=hold_the_key)
        holder.start()
        try:
            assert holding.wait(10)
            body = {"enterprise_id": ent["id"], "year": 2026, "face_fen": 5}
            r = _post(api, "/v1/vouchers", body, "busy")
            assert r.status_code == 409
            assert r.json()["code"] == "idempotency_in_flight"
        finally:
            release.set()
            holder.join()
        assert _post(api, "/v1/vouchers", body, "busy").status_code == 201
        assert _count(api, "voucher") == 1
