"""Objections to a notice (issue 24 §1): real name and phone, content, known lines, the window,
the per-address limit and Idempotency-Key; nothing written when refused."""

import pytest
from sqlalchemy import text

from tests.notice.helpers import line_of, two_enterprises

GOOD = {"name": "张三", "phone": "13912345678", "organisation": "某科技公司",
        "content": "该企业的发票与合同金额不符，请核查。"}


@pytest.fixture
def two(api, today):
    today("2026-06-15")
    return two_enterprises(api, notice_working_days=5)


@pytest.fixture
def batch(two):
    two.redeem_both()
    return two.published_batch()


def _count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _object(client, batch, line_ids, **fields):
    return client.post(f"/v1/public/notices/{batch['id']}/objections",
                       json={"line_ids": line_ids, **GOOD, **fields})


def test_received_answers_id_status_and_time_only(batch, client, api):
    r = _object(client, batch, [batch["lines"][0]["line_id"]])
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "status", "received_at"}
    assert body["status"] == "received" and body["received_at"].startswith("2026-06-15")
    [seen] = api.ok("GET", "/v1/objections", params={"settlement_id": batch["id"]})["items"]
    assert {k: seen[k] for k in ("id", "name", "phone", "organisation", "line_ids",
                                 "status")} == {
        "id": body["id"], "name": "张三", "phone": "13912345678", "organisation": "某科技公司",
        "line_ids": [batch["lines"][0]["line_id"]], "status": "received"}


@pytest.mark.parametrize("fields, field", [
    ({"name": None}, "name"), ({"name": ""}, "name"), ({"name": "张"}, "name"),
    ({"name": "匿名"}, "name"), ({"name": "Anonymous"}, "name"), ({"name": "x" * 51}, "name"),
    ({"name": "  李 "}, "name"), ({"phone": None}, "phone"), ({"phone": "12345678"}, "phone"),
    ({"phone": "1391234567"}, "phone"), ({"phone": "88886666"}, "phone"),
    ({"phone": "139123456789"}, "phone"), ({"content": "太短了"}, "content"),
    ({"content": "        短短短短短短短短短"}, "content"), ({"content": "长" * 2001}, "content"),
    ({"line_ids": []}, "line_ids"), ({"organisation": "x" * 201}, "organisation"),
    ({"email": "a@b.cn"}, "email"),
])
def test_malformed_or_anonymous_objections_write_nothing(batch, client, engine, fields, field):
    body = {"line_ids": [batch["lines"][0]["line_id"]], **GOOD, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    r = client.post(f"/v1/public/notices/{batch['id']}/objections", json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"].split(".")[0] for e in r.json()["errors"]]
    assert (_count(engine, "objection"), _count(engine, "objection_line")) == (0, 0)


@pytest.mark.parametrize("phone", ["13912345678", "+86 13912345678", "0411-84561234",
                                   "01088886666", "021 6666 8888".replace(" 8888", "8888")])
def test_mobile_and_landline_with_area_code_are_accepted(batch, client, phone):
    assert _object(client, batch, [batch["lines"][0]["line_id"]], phone=phone).status_code == 201


def test_unknown_lines_are_422_and_write_nothing(batch, client, engine, api):
    other = api.ok("GET", f"/v1/settlements/{batch['id']}")["lines"][0]["line_id"]
    r = _object(client, batch, [other, "sln_NOTALINE"])
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["line_ids"]
    assert (_count(engine, "objection"), _count(engine, "objection_line")) == (0, 0)


def test_after_notice_ends_on_is_notice_closed(batch, client, engine, today):
    today("2026-06-22")
    assert _object(client, batch, [batch["lines"][0]["line_id"]]).status_code == 201
    today("2026-06-23")
    r = _object(client, batch, [batch["lines"][0]["line_id"]])
    assert (r.status_code, r.json()["code"]) == (409, "notice_closed")
    assert _count(engine, "objection") == 1


def test_unknown_notice_is_404(client):
    r = client.post("/v1/public/notices/stl_NOPE/objections",
                    json={"line_ids": ["sln_X"], **GOOD})
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


def test_five_per_address_per_hour(batch, client, engine):
    line_id = batch["lines"][0]["line_id"]
    for n in range(5):
        assert _object(client, batch, [line_id], content=f"第{n}条异议：金额不符请核查").status_code \
            == 201
    r = _object(client, batch, [line_id], content="第六条异议：金额不符请核查")
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
    assert 1 <= int(r.headers["Retry-After"]) <= 3601
    assert _count(engine, "objection") == 5
    # a refused (malformed) request does not count against the address
    assert _object(client, batch, [line_id], name="匿名").status_code == 422


def test_malformed_requests_do_not_use_up_the_limit(batch, client):
    line_id = batch["lines"][0]["line_id"]
    for _ in range(6):
        assert _object(client, batch, [line_id], phone="123").status_code == 422
    assert _object(client, batch, ["sln_UNKNOWN"]).status_code == 422
    assert _object(client, batch, [line_id]).status_code == 201


def test_idempotency_key_replays_and_refuses_another_body(batch, client, engine):
    line_id = batch["lines"][0]["line_id"]
    headers = {"Idempotency-Key": "obj-1"}
    first = client.post(f"/v1/public/notices/{batch['id']}/objections", headers=headers,
                        json={"line_ids": [line_id], **GOOD})
    again = client.post(f"/v1/public/notices/{batch['id']}/objections", headers=headers,
                        json={"line_ids": [line_id], **GOOD})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = client.post(f"/v1/public/notices/{batch['id']}/objections", headers=headers,
                        json={"line_ids": [line_id], **GOOD, "name": "李四"})
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert _count(engine, "objection") == 1


def test_objections_are_read_by_the_bureau_only(batch, client, api, two):
    _object(client, batch, [batch["lines"][0]["line_id"]])
    assert client.get("/v1/objections").status_code == 401
    assert client.get("/v1/objections", headers=two.a.ent).status_code == 403
    assert len(api.ok("GET", "/v1/objections", headers=api.auditor())["items"]) == 1
    r = client.post(f"/v1/objections/{api.ok('GET', '/v1/objections')['items'][0]['id']}"
                    "/resolve", headers=api.auditor(), json={"outcome": "dismissed",
                                                             "reason": "x"})
    assert r.status_code == 403


def test_an_objection_freezes_only_the_lines_it_names(batch, client, api, two):
    a = line_of(batch, two.a.enterprise["id"])["line_id"]
    b = line_of(batch, two.b.enterprise["id"])["line_id"]
    oid = _object(client, batch, [a]).json()["id"]
    seen = api.ok("GET", f"/v1/settlements/{batch['id']}")
    assert {x["line_id"]: (x["frozen"], x["objection_ids"]) for x in seen["lines"]} == {
        a: (True, [oid]), b: (False, [])}


def test_a_malformed_body_on_a_public_route_is_422_not_a_request_for_a_key(client):
    """A public route takes no key: a body that is not JSON is the 422 that says so."""
    r = client.post("/v1/public/notices/stl_x/objections", content=b"{",
                    headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
