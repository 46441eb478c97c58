"""API keys and authentication (PRODUCT.md §4): bad keys are 401, keys are shown once and
stored hashed, bound to their party, revocable, and another party's objects are 404."""

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from service.kit import clock
from service.app import create_app
from service.auth.cache import KeyCache
from service.auth.principal import Principal
from service.kit.db import metadata
from tests.conftest import SQLITE_ONLY
from tests.factories import bearer
from tests.inprocess import InProcessClient

# The route × role matrix (401 / 403 / 404 for every route and every caller) is
# tests/contract/test_access_matrix.py; this file covers the keys themselves.
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}


@pytest.mark.parametrize("method, path", sorted(PUBLIC))
def test_ops_endpoints_are_public(api, method, path):
    assert api.client.request(method, path).status_code == 200


@pytest.mark.parametrize("header", [
    "Bearer cvk_not-a-real-key", "Bearer ", "Basic YWRtaW46YWRtaW4=", "cvk_no_scheme", "Bearer",
])
def test_bad_keys_are_401(api, header):
    r = api.client.get("/v1/enterprises", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"


def test_scheme_is_case_insensitive(api):
    raw = api.admin["Authorization"].removeprefix("Bearer ")
    r = api.client.get("/v1/enterprises", headers={"Authorization": f"bearer {raw}"})
    assert r.status_code == 200


# --- keys -----------------------------------------------------------------------------------


def test_key_is_shown_once_and_stored_as_sha256(api):
    created = api.ok("POST", "/v1/api-keys", json={"role": "auditor", "name": "审计处"},
                     expect=201)
    raw = created["key"]
    assert raw.startswith("cvk_")
    assert created["prefix"] == raw[:10]
    assert created["role"] == "auditor"
    assert created["revoked_at"] is None
    listed = api.ok("GET", "/v1/api-keys", params={"role": "auditor"})["items"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    from tests.conftest import sql
    stored = sql(api.engine, "SELECT key_hash FROM api_key WHERE id = :id",
                 id=created["id"]).scalar()
    assert stored == hashlib.sha256(raw.encode()).hexdigest()
    assert api.client.get("/v1/audit-events", headers=bearer(raw)).status_code == 200


@pytest.mark.parametrize("body, status, field", [
    ({"role": "enterprise", "name": "x"}, 422, "enterprise_id"),
    ({"role": "provider", "name": "x"}, 422, "provider_id"),
    ({"role": "admin", "name": "x", "enterprise_id": "ent_x"}, 422, "enterprise_id"),
    ({"role": "auditor", "name": "x", "provider_id": "prv_x"}, 422, "provider_id"),
    ({"role": "enterprise", "name": "x", "enterprise_id": "ent_x"}, 404, None),
    ({"role": "provider", "name": "x", "provider_id": "prv_x"}, 404, None),
    ({"role": "root", "name": "x"}, 422, "role"),
    ({"role": "admin"}, 422, "name"),
])
def test_key_binding_is_checked(api, body, status, field):
    r = api.client.post("/v1/api-keys", json=body, headers=api.admin)
    assert r.status_code == status, r.text
    if field:
        assert [e["field"] for e in r.json()["errors"]] == [field]
    else:
        assert r.json()["code"] == "not_found"


def test_bound_keys(api):
    ent, prv = api.enterprise(), api.provider()
    e = api.ok("POST", "/v1/api-keys", expect=201,
               json={"role": "enterprise", "name": "企业", "enterprise_id": ent["id"]})
    p = api.ok("POST", "/v1/api-keys", expect=201,
               json={"role": "provider", "name": "服务商", "provider_id": prv["id"]})
    assert (e["enterprise_id"], e["provider_id"]) == (ent["id"], None)
    assert (p["enterprise_id"], p["provider_id"]) == (None, prv["id"])


def test_revoked_key_is_401_at_once(api):
    created = api.ok("POST", "/v1/api-keys", json={"role": "admin", "name": "临时"}, expect=201)
    headers = bearer(created["key"])
    assert api.client.get("/v1/enterprises", headers=headers).status_code == 200  # now cached
    revoked = api.ok("DELETE", f"/v1/api-keys/{created['id']}")
    assert revoked["revoked_at"] is not None
    r = api.client.get("/v1/enterprises", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"
    again = api.ok("DELETE", f"/v1/api-keys/{created['id']}")
    assert again["revoked_at"] == revoked["revoked_at"]
    events = api.ok("GET", "/v1/audit-events", params={"object_id": created["id"]})["items"]
    assert [ev["action"] for ev in events] == ["api_key.create", "api_key.revoke"]


def test_a_key_may_revoke_itself(api):
    created = api.ok("POST", "/v1/api-keys", json={"role": "admin", "name": "自己"}, expect=201)
    headers = bearer(created["key"])
    assert api.ok("DELETE", f"/v1/api-keys/{created['id']}", headers=headers)["revoked_at"]
    assert api.client.get("/v1/enterprises", headers=headers).status_code == 401


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("grace", [-1, 30 * 86400 + 1, "soon"])
def test_grace_period_is_bounded(api, grace):
    created = api.ok("POST", "/v1/api-keys", json={"role": "admin", "name": "x"}, expect=201)
    r = api.client.delete(f"/v1/api-keys/{created['id']}", params={"grace_seconds": grace},
                          headers=api.admin)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "grace_seconds"


def test_revoking_an_unknown_key_is_404(api):
    r = api.client.delete("/v1/api-keys/key_nope", headers=api.admin)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


# --- another party's objects ------------------------------------------------------------------


def test_another_enterprises_voucher_and_application_are_404(api, today):
    today("2026-04-01")
    api.year(2026)
    mine, theirs = api.enterprise(), api.enterprise()
    my_key, their_key = api.enterprise_key(mine["id"]), api.enterprise_key(theirs["id"])
    their_voucher = api.voucher(theirs["id"], 1_000)
    my_voucher = api.voucher(mine["id"], 2_000)
    their_app = api.ok("POST", "/v1/applications", headers=their_key, expect=201,
                       json={"year": 2026, "requested_fen": 5_000, "project_name": "训练",
                             "purpose": "GPU"})

    for kind, obj in (("voucher", their_voucher), ("application", their_app)):
        path = f"/v1/{kind}s/{obj['id']}"
        r = api.client.get(path, headers=my_key)
        assert r.status_code == 404
        # Indistinguishable from an id that does not exist.
        assert r.json()["code"] == "not_found"
        assert r.json()["detail"] == f"no {kind} {obj['id']}"
        assert api.client.get(path, headers=their_key).status_code == 200
        assert api.client.get(path, headers=api.auditor()).status_code == 200

    assert api.ok("GET", f"/v1/vouchers/{my_voucher['id']}", headers=my_key)["face_fen"] == 2_000
    listed = api.ok("GET", "/v1/vouchers", headers=my_key)["items"]
    assert [v["id"] for v in listed] == [my_voucher["id"]]
    listed = api.ok("GET", "/v1/vouchers", headers=my_key,
                    params={"enterprise_id": theirs["id"]})["items"]
    assert listed == []
    assert api.ok("GET", "/v1/applications", headers=my_key)["items"] == []


def test_key_secret_is_shown_once_and_a_replay_answers_without_it(api, engine):
    headers = {**api.admin, "Idempotency-Key": "create-auditor-1"}
    body = {"role": "auditor", "name": "审计处"}
    first = api.client.post("/v1/api-keys", json=body, headers=headers)
    assert first.status_code == 201
    created = first.json()
    assert created["key"].startswith("cvk_") and created["key_shown"] is True
    again = api.client.post("/v1/api-keys", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**created, "key": None, "key_shown": False}
    assert api.client.get("/v1/api-keys", headers=bearer(created["key"])).status_code == 200
    others = [api.ok("POST", "/v1/api-keys", expect=201, json={"role": "admin", "name": n},
                     headers={**api.admin, "Idempotency-Key": f"k-{i}"})["key"]
              for i, n in enumerate(("甲", "乙"))]
    secrets_ = [created["key"], *others]
    with engine.connect() as conn:
        stored = [row.response_body for row in conn.execute(
            text("SELECT response_body FROM idempotency_record"))]
        stored = [json.loads(b) if isinstance(b, str) else b for b in stored]
        assert [(b["key"], b["key_shown"], b["prefix"][:4]) for b in stored] == [
            (None, False, "cvk_")] * 3  # the prefix is metadata, as in the list
        for table in metadata.sorted_tables:  # nor anywhere else, digests aside
            rows = [str(row) for row in conn.execute(table.select())]
            assert not [s for s in secrets_ for row in rows if s in row], table.name


def test_auditor_lists_keys_metadata_only_but_may_not_write(api):
    auditor = api.auditor()
    listed = api.ok("GET", "/v1/api-keys", headers=auditor)["items"]
    assert listed and all(set(item) == {"id", "name", "role", "enterprise_id", "provider_id",
                                        "prefix", "created_at", "revoked_at", "expires_at"}
                          for item in listed)
    r = api.client.post("/v1/api-keys", json={"role": "admin", "name": "x"}, headers=auditor)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = api.client.delete(f"/v1/api-keys/{listed[0]['id']}", headers=auditor)
    assert r.status_code == 403


def test_a_role_refusal_names_the_roles_that_may(api):
    """Issue 21, item 8: an admin posting a payment learns that only a provider key may."""
    r = api.client.post("/v1/invoices/inv_01ZZZZZZ/payments", headers=api.admin,
                        json={"amount_fen": 1, "paid_on": "2026-05-10"})
    assert r.status_code == 403
    assert r.json() == {
        "type": "https://voucher.example.gov.cn/problems/forbidden",
        "title": "This role may not do that", "status": 403, "code": "forbidden",
        "detail": "role admin may not do this; only role provider may",
        "allowed_roles": ["provider"], "instance": "/v1/invoices/inv_01ZZZZZZ/payments"}
# --- the key cache across processes (issue: write path, item 7) -----------------------------
# Two apps on one database stand for two worker processes; tests/workers/test_workers.py does the same
# with real `voucher serve --workers 2` processes.


@pytest.fixture
def other_worker(engine) -> Iterator[InProcessClient]:
    with InProcessClient(create_app(engine), raise_server_exceptions=False) as client:
        yield client


def test_a_revocation_reaches_another_worker_within_half_a_second(api, other_worker):
    created = api.ok("POST", "/v1/api-keys", json={"role": "admin", "name": "两处用"},
                     expect=201)
    headers = bearer(created["key"])
    assert other_worker.get("/v1/enterprises", headers=headers).status_code == 200  # cached
    api.ok("DELETE", f"/v1/api-keys/{created['id']}")
    # The other worker reads the revocation counter at most every poll_s (0.5 s), before it
    # trusts its cache.
    time.sleep(other_worker.app.state.key_cache.poll_s)
    r = other_worker.get("/v1/enterprises", headers=headers)
    assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")


def test_a_grace_period_revocation_reaches_another_worker_and_its_expiry_holds(
        api, other_worker, monkeypatch):
    start = datetime(2026, 6, 1, 9, 0, tzinfo=clock.SHANGHAI)
    monkeypatch.setattr(clock, "now", lambda: start)
    created = api.ok("POST", "/v1/api-keys", json={"role": "auditor", "name": "轮换"},
                     expect=201)
    headers = bearer(created["key"])
    assert other_worker.get("/v1/enterprises", headers=headers).status_code == 200
    api.ok("DELETE", f"/v1/api-keys/{created['id']}", params={"grace_seconds": 60})
    time.sleep(other_worker.app.state.key_cache.poll_s)
    # The other worker drops the entry cached without an expiry and caches the key again,
    # now with its expiry, which the cached principal does not outlive (no cache clearing).
    assert other_worker.get("/v1/enterprises", headers=headers).status_code == 200
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=59))
    assert other_worker.get("/v1/enterprises", headers=headers).status_code == 200
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=60))
    assert other_worker.get("/v1/enterprises", headers=headers).status_code == 401


def test_the_cache_keeps_keys_for_five_minutes(monkeypatch):
    cache = KeyCache()
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache.follow_revocations(lambda: 7)
    principal = Principal(key_id="key_1", name="n", role="admin")
    cache.put("digest", principal, expires_at=None, revocations=7)
    now[0] += 299.9
    assert cache.get("digest") is principal
    now[0] += 0.1
    assert cache.get("digest") is None


def test_the_revocation_counter_is_read_at_most_every_poll_interval(monkeypatch):
    cache = KeyCache()
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    reads = []
    for _ in range(100):
        cache.follow_revocations(lambda: reads.append(1) or 3)
        now[0] += 0.004  # 100 requests in 0.4 s
    assert len(reads) == 1
    now[0] += 0.1
    cache.follow_revocations(lambda: reads.append(1) or 3)
    assert len(reads) == 2


def test_a_request_during_the_read_after_a_revocation_waits_for_it():
    """A worker idle since a revocation: its first request reads the counter; a request that
    arrives during that read must wait for it, not answer from the stale cache (seen once in a
    fresh-clone run as a 200 for a revoked key on the second worker)."""
    import threading

    cache = KeyCache(poll_s=0.5)
    cache.follow_revocations(lambda: 1)
    principal = Principal(key_id="key_1", name="n", role="admin")
    cache.put("digest", principal, expires_at=None, revocations=1)
    cache._polled_at -= 1  # idle for a second: the next request must read the counter
    reading, release = threading.Event(), threading.Event()

    def slow_read():
        reading.set()
        release.wait(5)
        return 2  # a revocation committed meanwhile
    first = threading.Thread(target=cache.follow_revocations, args=(slow_read,))
    first.start()
    assert reading.wait(5)
    seen = []
    second = threading.Thread(target=lambda: (cache.follow_revocations(lambda: 2),
                                              seen.append(cache.get("digest"))))
    second.start()
    time.sleep(0.1)
    assert seen == []  # still waiting for the read in flight
    release.set()
    first.join(5)
    second.join(5)
    assert seen == [None]


def test_a_lookup_that_raced_a_revocation_is_not_cached(monkeypatch):
    cache = KeyCache()
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache.follow_revocations(lambda: 1)
    principal = Principal(key_id="key_1", name="n", role="admin")
    cache.put("digest", principal, expires_at=None, revocations=1)
    seen = cache.revocations  # a request reads this, then looks its key up...
    now[0] += 1
    cache.follow_revocations(lambda: 2)  # ...while another sees the counter move
    assert cache.get("digest") is None
    cache.put("other", principal, expires_at=None, revocations=seen)  # the slow lookup lands
    assert cache.get("other") is None
