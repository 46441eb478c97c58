"""Web sessions live in the database, so any worker serves a session's next request
(docs/web.md). Two apps on one database stand for two worker processes here;
tests/workers/test_workers.py signs in through real `voucher serve --workers 2` processes."""

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from service.kit import clock
from service.app import create_app
from service.web.sessions import COOKIE
from tests.factories import bearer
from tests.inprocess import InProcessClient

START = datetime(2026, 6, 15, 9, 0, tzinfo=clock.SHANGHAI)


@pytest.fixture
def now(monkeypatch) -> list[datetime]:
    moment = [START]
    monkeypatch.setattr(clock, "now", lambda: moment[0])
    return moment


@pytest.fixture
def worker_b(engine) -> Iterator[InProcessClient]:
    with InProcessClient(create_app(engine), raise_server_exceptions=False,
                    follow_redirects=False) as client:
        yield client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: InProcessClient, key: str) -> str:
    client.cookies.clear()
    page = client.get("/web/login", follow_redirects=False)
    r = client.post("/web/login", data={"api_key": key, "csrf_token": _csrf(page.text)},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/web/bureau"), r.text
    return client.cookies[COOKIE]


def on(client: InProcessClient, session_id: str, method: str, path: str, **kwargs):
    client.cookies.clear()
    client.cookies.set(COOKIE, session_id, path="/web")
    return client.request(method, path, follow_redirects=False, **kwargs)


def rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM web_session"))]


def test_a_session_signed_in_on_one_worker_works_on_another(api, worker_b, engine, now):
    key = api.make_key("admin")
    session_id = sign_in(api.client, key)
    assert on(worker_b, session_id, "GET", "/web/bureau").status_code == 200
    assert on(api.client, session_id, "GET", "/web/bureau").status_code == 200
    # Stored: the digest of the id and the key's id, never the id nor the key.
    (row,) = rows(engine)
    assert row["id_digest"] == hashlib.sha256(session_id.encode()).hexdigest()
    key_id = api.ok("GET", "/v1/api-keys")["items"][-1]["id"]
    assert row["api_key_id"] == key_id
    stored = repr(row)
    assert session_id not in stored and key not in stored and "cvk_" not in stored


def test_a_flash_set_on_one_worker_shows_on_the_next_page_on_another(api, worker_b, now):
    session_id = sign_in(api.client, api.make_key("admin"))
    page = on(worker_b, session_id, "GET", "/web/bureau/applications")
    r = on(api.client, session_id, "POST", "/web/bureau/applications/app_x/approve",
           data={"csrf_token": _csrf(page.text), "approved_yuan": "no"})
    assert (r.status_code, r.headers["location"]) == (303, "/web/bureau/applications")
    shown = on(worker_b, session_id, "GET", "/web/bureau/applications")
    assert "请输入以元为单位、最多两位小数的正数金额。" in shown.text
    again = on(api.client, session_id, "GET", "/web/bureau/applications")
    assert "请输入以元为单位、最多两位小数的正数金额。" not in again.text  # shown once


def test_the_csrf_token_is_the_sessions_on_every_worker(api, worker_b, now):
    session_id = sign_in(api.client, api.make_key("admin"))
    token = _csrf(on(api.client, session_id, "GET", "/web/bureau").text)
    assert _csrf(on(worker_b, session_id, "GET", "/web/bureau").text) == token
    other = sign_in(worker_b, api.make_key("admin"))
    r = on(worker_b, other, "POST", "/web/logout", data={"csrf_token": token})
    assert r.status_code == 403  # another session's token
    assert on(worker_b, other, "GET", "/web/bureau").status_code == 200


def test_signing_out_on_one_worker_ends_the_session_on_every_worker(api, worker_b, engine,
                                                                    now):
    session_id = sign_in(api.client, api.make_key("admin"))
    token = _csrf(on(worker_b, session_id, "GET", "/web/bureau").text)
    r = on(worker_b, session_id, "POST", "/web/logout", data={"csrf_token": token})
    assert (r.status_code, r.headers["location"]) == (303, "/web/login?out=1")
    assert rows(engine) == []
    r = on(api.client, session_id, "GET", "/web/bureau")
    assert (r.status_code, r.headers["location"]) == (303, "/web/login?expired=1")


def test_a_revoked_key_ends_its_session_on_every_worker(api, worker_b, engine, now):
    created = api.ok("POST", "/v1/api-keys", json={"role": "admin", "name": "网页"}, expect=201)
    session_id = sign_in(api.client, created["key"])
    assert on(worker_b, session_id, "GET", "/web/bureau").status_code == 200
    api.ok("DELETE", f"/v1/api-keys/{created['id']}")
    r = on(worker_b, session_id, "GET", "/web/bureau")
    assert (r.status_code, r.headers["location"]) == (303, "/web/login?expired=1")
    assert rows(engine) == []


def test_a_session_idle_for_thirty_minutes_has_expired(api, worker_b, now):
    session_id = sign_in(api.client, api.make_key("admin"))
    now[0] += timedelta(minutes=29)
    assert on(worker_b, session_id, "GET", "/web/bureau").status_code == 200  # touched
    now[0] += timedelta(minutes=29)
    assert on(api.client, session_id, "GET", "/web/bureau").status_code == 200
    now[0] += timedelta(minutes=30, seconds=1)
    r = on(worker_b, session_id, "GET", "/web/bureau")
    assert (r.status_code, r.headers["location"]) == (303, "/web/login?expired=1")


def test_a_session_ends_eight_hours_after_sign_in_however_busy(api, worker_b, now):
    session_id = sign_in(api.client, api.make_key("admin"))
    for _ in range(24):  # every 20 minutes for eight hours
        now[0] += timedelta(minutes=20)
        assert on(worker_b, session_id, "GET", "/web/bureau").status_code == 200
    now[0] += timedelta(seconds=1)
    r = on(api.client, session_id, "GET", "/web/bureau")
    assert (r.status_code, r.headers["location"]) == (303, "/web/login?expired=1")


def test_signing_in_gives_a_new_id_and_sweeps_expired_sessions(api, worker_b, engine, now):
    worker_b.get("/web/login")
    anonymous = worker_b.cookies[COOKIE]
    stale = sign_in(api.client, api.make_key("admin"))
    now[0] += timedelta(hours=1)
    fresh = sign_in(worker_b, api.make_key("admin"))
    assert anonymous.startswith("anon.") and fresh not in (anonymous, stale)
    assert [row["id_digest"] for row in rows(engine)] == [
        hashlib.sha256(fresh.encode()).hexdigest()]


def test_the_sign_in_form_writes_nothing(api, engine):
    for _ in range(3):
        api.client.cookies.clear()
        assert api.client.get("/web/login").status_code == 200
    assert rows(engine) == []


def test_a_made_up_session_id_is_not_signed_in(api, worker_b):
    r = on(worker_b, "x" * 43, "GET", "/web/bureau")
    assert (r.status_code, r.headers["location"]) == (303, "/web/login?expired=1")
    r = on(worker_b, "anon." + "x" * 43, "GET", "/web/bureau")
    assert (r.status_code, r.headers["location"]) == (303, "/web/login")


def test_the_api_ignores_web_session_cookies(api, worker_b, now):
    session_id = sign_in(api.client, api.make_key("admin"))
    r = on(worker_b, session_id, "GET", "/v1/enterprises")
    assert r.status_code == 401  # the API wants a key; a web cookie is no credential for it
    assert on(worker_b, session_id, "GET", "/v1/enterprises",
              headers=bearer(api.make_key("auditor"))).status_code == 200
