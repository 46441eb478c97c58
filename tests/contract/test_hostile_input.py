"""Hostile input on every write endpoint: each gets a 4xx problem+json and nothing is written.

The routes are read from the app where a class of input applies to all of them (forged cursors
on every list, deep nesting and oversize chunked bodies on every write), so a new route cannot
escape the test."""

import base64
import re

import pytest
from sqlalchemy import create_engine

from service.app import create_app
from tests.conftest import row_counts
from tests.flows import invoice_body, invoice_number, line, make_world
from tests.routes import walk

BAD_FEN = [-1, 2**63, 2**64, 10**30, 1.5, 100.0, "100", True, [1], {"v": 1}]
BAD_TEXT = ["\x00", "a\u202eb", "bell\x07", "x" * 5000, 12, ["a"]]
BAD_DATE = ["2025-02-30", "2025-13-01", "2025-1-1", "yesterday", 20250101, "2025-02-28'; --"]


def _seed(api):
    w = make_world(api)
    w.voucher_row = w.voucher(1_000_000)
    w.invoice_row = w.invoice([line("gpu", 100_000)])
    w.app_row = api.ok("POST", "/v1/applications", headers=w.ent, expect=201, json={
        "year": 2026, "requested_fen": 100, "project_name": "大模型训练", "purpose": "训练"})
    return w


@pytest.fixture
def world(shared_world, today):
    """The world, seeded once per module and database and restored for each test."""
    today("2026-06-15")
    _api, w = shared_world(_seed)
    return w


@pytest.fixture
def api(world):
    return world.api


def endpoints(w) -> list[tuple[str, str, dict, dict, dict[str, list]]]:
    """(method, path, headers, valid body, {field: bad values})."""
    e, p, i, a = (w.enterprise, w.provider, w.invoice_row, w.app_row)
    admin, ent, prov = w.api.admin, w.ent, w.prov
    inv = invoice_body(e["uscc"], [line("gpu", 1000)])
    return [
        ("POST", "/v1/years", admin, {"year": 2030, "pool_fen": 100},
         {"pool_fen": BAD_FEN, "year": [1.5, "2030x", 10**20, None], "rate_bp": [-1, 10_001, 1.5],
          "eligible_from": BAD_DATE, "settlement_mode": ["cash", 1]}),
        ("PATCH", "/v1/years/2026", admin, {"application_closes_on": "2026-12-31"},
         {"application_closes_on": BAD_DATE, "category_rates_bp": [{"gpu": 1.5}, {"tpu": 1}]}),
        ("POST", "/v1/enterprises", admin, {"uscc": "91350100M000100Y43", "name": "某公司"},
         {"name": BAD_TEXT + [""], "uscc": ["' OR 1=1 --", "\x00" * 18, "9135010"]}),
        ("PATCH", f"/v1/enterprises/{e['id']}", admin, {"district": "中山区"},
         {"district": BAD_TEXT, "credit_blocked": ["yes", 2]}),
        ("POST", "/v1/providers", admin, {"uscc": "91110000600037341L", "name": "算力"},
         {"name": BAD_TEXT}),
        ("POST", "/v1/related-parties", admin,
         {"enterprise_id": e["id"], "provider_id": p["id"], "reason": "关联"},
         {"reason": BAD_TEXT, "enterprise_id": ["' OR '1'='1", 5]}),
        ("POST", "/v1/other-subsidies", admin,
         {"enterprise_id": e["id"], "programme": "省补", "invoice_number": invoice_number(),
          "amount_fen": 1},
         {"amount_fen": BAD_FEN, "programme": BAD_TEXT}),
        ("POST", "/v1/applications", ent,
         {"year": 2026, "requested_fen": 100, "project_name": "x", "purpose": "y"},
         {"requested_fen": BAD_FEN + [0], "project_name": BAD_TEXT}),
        ("POST", f"/v1/applications/{a['id']}/approve", admin, {"approved_fen": 50},
         {"approved_fen": BAD_FEN + [0], "valid_until": BAD_DATE}),
        ("POST", f"/v1/applications/{a['id']}/reject", admin, {"reason": "材料不全"},
         {"reason": BAD_TEXT + [""]}),
        ("POST", "/v1/vouchers", admin, {"enterprise_id": e["id"], "year": 2026, "face_fen": 1},
         {"face_fen": BAD_FEN + [0], "valid_until": BAD_DATE}),
        ("POST", "/v1/invoices", prov, inv,
         {"total_fen": BAD_FEN, "tax_fen": BAD_FEN, "issued_on": BAD_DATE,
          "invoice_number": ["' OR 1=1 --", "１２３４５６７８９０１２３４５６７８９０", 123],
          "lines": [[], "gpu", [{"category": "gpu"}], [dict(line("gpu", 1000), amount_fen=1.5)],
                    [dict(line("gpu", 1000), description="\x00")],
                    [dict(line("gpu", 1000), quantity="NaN")],
                    [dict(line("gpu", 1000), quantity=-1)]]}),
        ("POST", "/v1/invoices/batch", prov, {"invoices": [inv]},
         {"invoices": [[], [None], [dict(inv, total_fen=1.5)], "x"]}),
        ("POST", f"/v1/invoices/{i['id']}/payments", prov,
         {"amount_fen": 1, "paid_on": "2026-05-01"},
         {"amount_fen": BAD_FEN + [0], "paid_on": BAD_DATE}),
        ("POST", f"/v1/invoices/{i['id']}/reversals", prov,
         {"invoice_number": "26219999999999999999", "issued_on": "2026-06-01", "amount_fen": 1,
          "reason": "调整"},
         {"amount_fen": BAD_FEN + [0], "reason": BAD_TEXT, "issued_on": BAD_DATE}),
        ("POST", "/v1/usage-statements", prov,
         {"month": "2026-04", "lines": [{"enterprise_uscc": e["uscc"], "billed_fen": 1}]},
         {"month": ["2026-13", "2026-4", "'; --"], "lines": [[], [{"billed_fen": 1.5}]]}),
        ("POST", "/v1/redemptions", ent, {"invoice_id": i["id"]},
         {"invoice_id": ["' OR 1=1 --", 5, None, ""], "voucher_id": [5, ""]}),
        ("POST", "/v1/settlements", admin, {"year": 2026},
         {"year": ["2026; DROP TABLE settlement", 1.5, None], "cutoff": BAD_DATE}),
        ("POST", "/v1/api-keys", admin, {"role": "auditor", "name": "审计"},
         {"role": ["root", "ADMIN", None], "name": BAD_TEXT}),
        ("POST", "/v1/years/2026/reclaim", admin,
         {"issued_before": "2026-07-01", "max_used_bp": 5000, "reclaim_bp": 5000},
         {"max_used_bp": [0, 10_001, 1.5], "issued_before": BAD_DATE}),
        ("POST", "/v1/years/2026/close", admin, {"force": True, "reason": "测试"},
         {"force": ["yes", 2], "reason": BAD_TEXT}),
    ]


def assert_refused(response, engine, before, case=None):
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:200])
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == response.status_code
    assert row_counts(engine) == before


def test_every_bad_field_value_is_refused(world, api):
    before = row_counts(api.engine)
    tried = 0
    for method, path, headers, body, fields in endpoints(world):
        for field, values in fields.items():
            for value in values:
                r = api.client.request(method, path, headers=headers, json={**body, field: value})
                assert_refused(r, api.engine, before, (path, field, value))
                tried += 1
        r = api.client.request(method, path, headers=headers, json={**body, "surprise": 1})
        assert_refused(r, api.engine, before)
    assert tried > 200


def test_malformed_bodies_everywhere(world, api):
    before = row_counts(api.engine)
    for method, path, headers, _body, _fields in endpoints(world):
        for raw, ctype in ((b'{"year": ', "application/json"), (b"\xff\xfe", "application/json"),
                           (b"[" * 50_000 + b"]" * 50_000, "application/json"),
                           (b"[]", "application/json"), (b'"text"', "application/json"),
                           (b"year=2026", "application/x-www-form-urlencoded"),
                           (b"<xml/>", "text/xml")):
            r = api.client.request(method, path, headers={**headers, "Content-Type": ctype},
                                   content=raw)
            assert_refused(r, api.engine, before, (path, raw[:20], ctype))


def test_oversized_body_is_413(world, api):
    before = row_counts(api.engine)
    huge = b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    r = api.client.post("/v1/enterprises", headers={**api.admin,
                                                    "Content-Type": "application/json"},
                        content=huge)
    assert r.status_code == 413
    assert r.json()["code"] == "body_too_large"
    assert row_counts(api.engine) == before


def test_sql_in_a_name_is_just_text(world, api):
    name = "Robert'); DROP TABLE voucher;--"
    ent = api.ok("POST", "/v1/enterprises", expect=201,
                 json={"uscc": "91350100M000100Y43", "name": name})
    assert api.ok("GET", f"/v1/enterprises/{ent['id']}")["name"] == name
    assert row_counts(api.engine)["voucher"] == 1


def test_hostile_path_and_query_parameters(world, api):
    before = row_counts(api.engine)
    for path in ("/v1/vouchers/' OR 1=1 --", "/v1/invoices/%00", "/v1/years/abc",
                 "/v1/years/99999999999999999999", "/v1/vouchers?limit=0",
                 "/v1/vouchers?limit=501", "/v1/vouchers?cursor=%%%", "/v1/vouchers?year=1.5"):
        r = api.client.get(path, headers=api.admin)
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert row_counts(api.engine) == before


# --- every route of a kind, read from the app ---------------------------------------------------

def _query_names(dependant) -> set[str]:
    names = {p.name for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


_ROUTES = list(walk(create_app(create_engine("sqlite://")).routes))
LIST_ROUTES = sorted(path for path, route in _ROUTES
                     if "GET" in route.methods and "cursor" in _query_names(route.dependant))
WRITE_ROUTES = sorted((method, path) for path, route in _ROUTES for method in route.methods
                      if method in ("POST", "PUT", "PATCH", "DELETE"))


def _b64(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


FORGED_CURSORS = [
    "wrI",                      # base64url of "²", which str.isdigit() calls a digit
    _b64("9" * 30),             # past a bigint on PostgreSQL, past a C long on SQLite
    _b64("9" * 19), _b64("-1"), _b64("0"), _b64("1e5"), _b64(" 1"),
    _b64("' OR 1=1 --"), _b64("ent_x\x00"), _b64("ent_" + "Z" * 37), _b64("ENT_01ABC"),
    "MR",                       # "1", but not as this service writes it (non-canonical)
    "A", "====", "%%%", "a.b", "x" * 200,
]
ID_ONLY = _b64("ent_01J000000000000000000000")   # an id: not an audit event's position
SEQ_ONLY = _b64("12")                            # a position: not an id


def test_route_enumeration_sees_every_list_and_write():
    assert {"/v1/audit-events", "/v1/api-keys", "/v1/ledger/transfers", "/v1/invoices",
            "/v1/redemptions"} <= set(LIST_ROUTES)
    # + scenarios (issue 13), /v1/reviews (14), /v1/years (21), /v1/public/awards, the public
    # notices and the objections (24), /v1/holds (26)
    assert len(LIST_ROUTES) == 18
    assert ("DELETE", "/v1/api-keys/{key_id}") in WRITE_ROUTES
    assert ("POST", "/v1/settlements/{settlement_id}/approve") in WRITE_ROUTES
    assert ("POST", "/web/provider/upload") in WRITE_ROUTES


# What a list needs besides its cursor (the open-data feed is of one year).
REQUIRED_QUERY = {"/v1/public/awards": {"year": 2026}}


def nothing_written(api):
    """Every table's row count (the audit events among them) and the year's budget."""
    return row_counts(api.engine), api.ok("GET", "/v1/years/2026/budget")


def test_forged_cursor_on_every_list_is_422_naming_cursor(world, api):
    before = nothing_written(api)
    for path in (p.replace("{year}", "2026") for p in LIST_ROUTES):  # + a year's scenarios
        seq_keyed = path in ("/v1/audit-events", "/v1/years")  # keyed by a number, not an id
        forged = FORGED_CURSORS + [ID_ONLY if seq_keyed else SEQ_ONLY]
        required = REQUIRED_QUERY.get(path, {})
        for cursor in forged:
            r = api.client.get(path, params={"cursor": cursor, **required}, headers=api.admin)
            assert r.status_code == 422, (path, cursor, r.status_code, r.text[:200])
            body = r.json()
            assert body["code"] == "validation_error", (path, cursor)
            assert [e["field"] for e in body["errors"]] == ["cursor"], (path, cursor, body)
        assert nothing_written(api) == before, path  # refused: not even a rate-limit hit
        # what the service did issue still pages on
        first = api.ok("GET", path, params={"limit": 1, **required})
        if first["next_cursor"]:
            api.ok("GET", path, params={"limit": 1, "cursor": first["next_cursor"], **required})
        # a served public read counts its hit per client address (service/ratelimit)
        before = nothing_written(api)


def _path_params(w, settlement, key) -> dict[str, str]:
    return {"year": "2026", "enterprise_id": w.enterprise["id"], "provider_id": w.provider["id"],
            "key_id": key["id"], "application_id": w.app_row["id"],
            "voucher_id": w.voucher_row["id"], "invoice_id": w.invoice_row["id"],
            "settlement_id": settlement["id"], "action": "approve",
            "review_id": "rev_01J000000000000000000000",
            "objection_id": "obj_01J000000000000000000000",
            "hold_id": "hld_01J000000000000000000000"}


def _caller(w, method: str, path: str) -> dict[str, str]:
    if path.startswith(("/v1/invoices", "/v1/usage-statements", "/v1/holds")):
        return w.prov
    if path.startswith("/v1/redemptions") or (method, path) == ("POST", "/v1/applications"):
        return w.ent
    return w.api.admin


def _every_write(world, api):
    world.redeem(world.invoice_row["id"])  # something to settle
    settlement = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    key = api.ok("POST", "/v1/api-keys", json={"role": "auditor", "name": "目标"}, expect=201)
    params = _path_params(world, settlement, key)
    for method, template in WRITE_ROUTES:
        path = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], template)
        yield method, template, path, _caller(world, method, template)


DEEP = (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000)


def test_deeply_nested_body_on_every_write_is_400(world, api):
    writes = list(_every_write(world, api))
    before = nothing_written(api)
    for method, template, path, headers in writes:
        for deep in DEEP:
            r = api.client.request(method, path, content=deep, follow_redirects=False, headers={
                **headers, "Content-Type": "application/json", "Idempotency-Key": "deep"})
            if template.startswith("/web/"):  # forms: no session or CSRF token here
                assert 300 <= r.status_code < 500, (method, template, r.status_code)
                continue
            assert r.status_code == 400, (method, template, r.status_code, r.text[:200])
            assert r.json()["code"] == "bad_request"
    assert nothing_written(api) == before


def _chunked(size: int):
    chunk = b" " * (1024 * 1024)
    for _ in range(size // len(chunk)):
        yield chunk
    yield b" " * (size % len(chunk))


def test_oversize_body_on_every_write_is_413_chunked_or_not(world, api):
    writes = list(_every_write(world, api))
    before = nothing_written(api)
    from service.kit.config import get_settings
    for method, template, path, headers in writes:
        # The XML intake takes a ZIP of up to 1000 invoices: its own, larger limit.
        size = (get_settings().max_xml_body_bytes if template.endswith(("/invoices/xml",
                                                                        "/provider/xml"))
                else 8 * 1024 * 1024) + 1
        for how, content in (("chunked", lambda size=size: _chunked(size)),
                             ("with length", lambda size=size: b" " * size)):
            r = api.client.request(method, path, content=content(), follow_redirects=False,
                                   headers={**headers, "Content-Type": "application/json"})
            assert r.status_code == 413, (method, template, how, r.status_code, r.text[:200])
            assert r.json()["code"] == "body_too_large"
            assert r.headers["content-type"].startswith("application/problem+json")
    assert nothing_written(api) == before


def test_chunked_body_under_the_limit_is_read_as_usual(world, api):
    body = '{"uscc": "91350100M000100Y43", "name": "分块"}'.encode()
    r = api.client.post("/v1/enterprises", content=iter([body[:10], body[10:]]),
                        headers={**api.admin, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "分块"


# --- invoice numbers (PRODUCT.md §2), everywhere one is accepted --------------------------------

# (invoice_number, invoice_code or None, the field the refusal names)
BAD_NUMBERS = [
    ("1" * 19, None, "invoice_number"), ("1" * 21, None, "invoice_number"),
    ("12345678", None, "invoice_number"), ("1" * 12, None, "invoice_number"),
    ("", None, "invoice_number"), ("2621000000000000000A", None, "invoice_number"),
    ("２６２１０００００００００００００００１", None, "invoice_number"),
    (" 26210000000000000001", None, "invoice_number"), ("2621-0000000000000001", None,
                                                         "invoice_number"),
    ("0001234", "1234567890", "invoice_number"), ("1" * 20, "1234567890", "invoice_number"),
    ("00012345", "12345678901", "invoice_code"), ("00012345", "123456789", "invoice_code"),
    ("00012345", "1234567890123", "invoice_code"), ("00012345", "12345-7890", "invoice_code"),
]


def _with_number(body: dict, number: str, code: str | None) -> dict:
    out = {**body, "invoice_number": number}
    if code is not None:
        out["invoice_code"] = code
    return out


def _number_routes(w):
    e, i = w.enterprise, w.invoice_row
    inv = invoice_body(e["uscc"], [line("gpu", 1000)])
    return [
        ("/v1/invoices", w.prov, lambda n, c: _with_number(inv, n, c)),
        ("/v1/invoices/batch", w.prov,
         lambda n, c: {"invoices": [invoice_body(e["uscc"], [line("gpu", 1)]),
                                    _with_number(inv, n, c)]}),
        (f"/v1/invoices/{i['id']}/reversals", w.prov,
         lambda n, c: _with_number({"issued_on": "2026-06-01", "amount_fen": 1,
                                    "reason": "调整"}, n, c)),
        ("/v1/other-subsidies", w.api.admin,
         lambda n, c: _with_number({"enterprise_id": e["id"], "programme": "省补",
                                    "amount_fen": 1}, n, c)),
    ]


def test_every_invoice_number_accepted_follows_product_section_2(world, api):
    before = nothing_written(api)
    for path, headers, body in _number_routes(world):
        for number, code, field in BAD_NUMBERS:
            r = api.client.post(path, headers=headers, json=body(number, code))
            assert r.status_code == 422, (path, number, code, r.status_code, r.text[:300])
            fields = [e["field"].rsplit(".", 1)[-1] for e in r.json()["errors"]]
            assert field in fields, (path, number, code, fields)
            assert nothing_written(api) == before, (path, number, code)


def test_red_letter_and_other_programme_numbers_take_both_forms(world, api):
    inv = world.invoice_row
    digital = api.ok("POST", f"/v1/invoices/{inv['id']}/reversals", headers=world.prov,
                     expect=201, json={"invoice_number": invoice_number(),
                                       "issued_on": "2026-06-01", "amount_fen": 1,
                                       "reason": "调整"})
    assert digital["reversed_fen"] == 1
    legacy = {"invoice_code": "210000000012", "invoice_number": "00000001",
              "issued_on": "2026-06-01", "amount_fen": 2, "reason": "调整"}
    assert api.ok("POST", f"/v1/invoices/{inv['id']}/reversals", headers=world.prov,
                  expect=201, json=legacy)["reversed_fen"] == 3
    r = api.client.post(f"/v1/invoices/{inv['id']}/reversals", headers=world.prov, json=legacy)
    assert (r.status_code, r.json()["code"]) == (409, "invoice_duplicate")
    claim = api.ok("POST", "/v1/other-subsidies", expect=201, json={
        "enterprise_id": world.enterprise["id"], "programme": "省补",
        "invoice_code": "2100000000", "invoice_number": "00000002", "amount_fen": 1})
    assert (claim["invoice_code"], claim["invoice_number"]) == ("2100000000", "00000002")


def test_web_upload_refuses_a_19_digit_invoice_number(world, api):
    from service.web.upload import TEMPLATE_HEADER

    c = api.client
    login = c.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    key = api.make_key("provider", provider_id=world.provider["id"])
    assert c.post("/web/login", data={"csrf_token": token, "api_key": key},
                  follow_redirects=False).status_code == 303
    page = c.get("/web/provider/upload")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    row = {"invoice_number": "1" * 19, "enterprise_uscc": world.enterprise["uscc"],
           "issued_on": "2026-04-30", "service_start": "2026-04-01",
           "service_end": "2026-04-30", "contract_number": "", "invoice_code": "",
           "total": "10.00", "tax": "0.56", "category": "gpu", "description": "GPU 算力服务",
           "quantity": "1", "unit": "月", "unit_price": "10.00", "amount": "10.00"}
    csv = ",".join(TEMPLATE_HEADER) + "\r\n" + ",".join(row[h] for h in TEMPLATE_HEADER)
    before = nothing_written(api)
    r = c.post("/web/provider/upload", data={"csrf_token": token},
               files={"file": ("invoices.csv", csv.encode(), "text/csv")})
    assert r.status_code == 422, r.text[:300]
    assert nothing_written(api) == before


# --- the 数电票 XML intake (issue 20) --------------------------------------------------------------

def _xml_cases(w):
    """(Content-Type or None, body, status, code): each class of hostile XML upload once."""
    from tests import xmlgen as g

    def x(lines=None, **kw) -> bytes:
        return g.XInvoice(w.provider["uscc"], w.enterprise["uscc"],
                          lines or [g.gpu(1_000_000)], **kw).xml()
    xml, zip_ = "application/xml", "application/zip"
    return [
        (xml, g.declared(x(), "x-unknown"), 422, "invalid_xml"),
        (zip_, g.zip_of({"a.xml": x(), "b.xml": g.declared(x(), "UTF-9")}), 422, "invalid_xml"),
        (xml, x([g.XLine("名" * 1_000_000, 1_000_000)]), 422, "validation_error"),
        (zip_, g.zip_of({"a.xml": x([g.XLine("GPU" * 200, 1_000_000)])}), 422,
         "validation_error"),
        (xml, x([g.gpu(1_000_000, unit="卡" * 41)]), 422, "validation_error"),
        (xml, x([g.gpu(1_000_000, quantity="0.0000001")]), 422, "validation_error"),
        (xml, x([g.gpu(1_000_000, quantity="-1")]), 422, "validation_error"),
        (xml, x([g.XLine("GPU", 10**15 + 1, tax_fen=0)]), 422, "invalid_amount"),
        (xml, x([g.gpu(-1_000_000)]), 422, "invalid_amount"),
        (xml, x(invoice_number="１" * 20), 422, "validation_error"),
        (xml, x(issue_time="２０２６-04-30"), 422, "validation_error"),
        (xml, x(issue_time="2026-02-30"), 422, "validation_error"),
        ("application/octet-stream", x(), 415, "unsupported_media_type"),
        (None, x(), 415, "unsupported_media_type"),
    ]


def test_hostile_xml_uploads_are_refused_with_small_answers_and_write_nothing(world, api):
    cases = _xml_cases(world)
    period = {"service_start": "2026-04-01", "service_end": "2026-04-30"}
    before = nothing_written(api)
    for n, (ctype, body, status, code) in enumerate(cases):
        headers = {**world.prov, **({"Content-Type": ctype} if ctype else {})}
        r = api.client.post("/v1/invoices/xml", content=body, headers=headers, params=period)
        assert (r.status_code, r.json()["code"]) == (status, code), (n, r.text[:300])
        assert r.headers["content-type"].startswith("application/problem+json")
        assert len(r.content) < 10_000, (n, len(r.content))  # no input echoed unbounded
    assert nothing_written(api) == before
