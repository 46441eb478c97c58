"""The OpenAPI document states the constraints the code enforces, and only those (issue 22 item 6,
docs/openapi.md): ids, USCCs and invoice numbers declare their patterns, every create operation
links to the operations on what it made, and a value outside a declared pattern still answers
as the code always did (404 for an id, 422 invalid_uscc for a USCC), never a new refusal."""

import json
import re

import pytest

from service.kit import ids, uscc
from service.openapi_export import render
from service.openapi_links import BODY_LINKS, LINKS, PAGE_LINKS
from service.kit.types import (
    ID_PATTERN,
    INVOICE_CODE_PATTERN,
    INVOICE_NUMBER_PATTERN,
    USCC_PATTERN,
)

DOCUMENT = json.loads(render())
OPERATIONS = {op["operationId"]: (path, op) for path, methods in DOCUMENT["paths"].items()
              for op in methods.values()}
SCHEMAS = DOCUMENT["components"]["schemas"]


def _property(schema_name: str, field: str) -> dict:
    schema = SCHEMAS[schema_name]["properties"][field]
    return next((s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"), schema)


def test_every_id_in_a_path_declares_the_id_pattern():
    for path, op in OPERATIONS.values():
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] != "year":
                assert parameter["schema"]["pattern"] == ID_PATTERN, (path, parameter)
    assert re.fullmatch(ID_PATTERN.strip("^$"), ids.new_id("red"))


@pytest.mark.parametrize("schema, field", [
    ("EnterpriseCreate", "uscc"), ("ProviderCreate", "uscc"), ("InvoiceCreate", "enterprise_uscc"),
    ("UsageLineIn", "enterprise_uscc")])
def test_usccs_declare_the_gb_32100_alphabet(schema, field):
    assert _property(schema, field)["pattern"] == USCC_PATTERN
    allowed = {c for c in map(chr, range(32, 127)) if re.fullmatch(r"[0-9A-HJ-NP-RTUW-Y]", c)}
    assert allowed == set(uscc.ALPHABET)
    assert re.fullmatch(USCC_PATTERN, uscc.with_check_char("91310000MA1FL8KQ3"))


@pytest.mark.parametrize("schema", ["InvoiceCreate", "ReversalCreate", "OtherSubsidyCreate"])
def test_invoice_numbers_declare_their_lengths(schema):
    assert _property(schema, "invoice_number")["pattern"] == INVOICE_NUMBER_PATTERN
    assert _property(schema, "invoice_code")["pattern"] == INVOICE_CODE_PATTERN


def test_amounts_declare_their_bounds():
    assert _property("InvoiceCreate", "total_fen") == {"type": "integer", "minimum": 0,
                                                      "maximum": 10**15, "title": "Total Fen"}
    payment = SCHEMAS["PaymentCreate"]["properties"]["amount_fen"]
    assert (payment["exclusiveMinimum"], payment["maximum"]) == (0, 10**15)
    assert SCHEMAS["PaymentCreate"]["properties"]["paid_on"]["format"] == "date"


def test_each_create_operation_links_to_what_takes_its_object():
    creates = {op_id for op_id, (_path, op) in OPERATIONS.items() if "201" in op["responses"]}
    gets = {op_id for op_id in OPERATIONS if op_id.startswith("get")}
    for source, targets in LINKS.items():
        responses = OPERATIONS[source][1]["responses"]
        assert source in creates or source == "approveApplication", source
        links = responses["201" if "201" in responses else "200"]["links"]
        assert set(links) == set(targets) | set(BODY_LINKS.get(source, {})), source
        for target, link in links.items():
            path, op = OPERATIONS[target]
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert set(link.get("parameters", {})) <= names, (source, target)
            assert link["operationId"] == target, (source, target)
    linked_gets = {t for targets in LINKS.values() for t in targets if t in gets}
    assert {"getRedemption", "getInvoice", "getYear", "getEnterprise", "getProvider",
            "getApplication", "getVoucher", "getSettlement", "getScenario"} <= linked_gets
    assert LINKS["createRedemption"]["getRedemption"] == {"redemption_id": "$response.body#/id"}


def test_values_outside_the_declared_patterns_answer_as_before(api):
    """Declared, not newly refused: a malformed id is the unknown id's 404, a malformed USCC the
    422 invalid_uscc that names it."""
    for path in ("/v1/redemptions/not%20an%20id", "/v1/vouchers/" + "x" * 41):
        r = api.client.get(path, headers=api.admin)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (path, r.text)
    r = api.client.post("/v1/enterprises", headers=api.admin,
                        json={"uscc": "91310000MA1FL8KQ3I", "name": "某公司"})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_uscc"), r.text


def test_a_method_the_path_lacks_is_405_naming_every_method_it_has(api):
    """RFC 9110 §15.5.6, and Schemathesis's unsupported-method check: Allow lists the methods of
    every route on the path (GET and POST are separate routes on /v1/redemptions)."""
    for method, path, allow in (("TRACE", "/v1/redemptions", "GET, POST"),
                                ("DELETE", "/v1/years/2026", "GET, PATCH"),
                                ("PUT", "/healthz", "GET"), ("OPTIONS", "/v1/invoices/xml", "POST"),
                                ("OPTIONS", "/v1/invoices/batch", "POST")):
        r = api.client.request(method, path, headers=api.admin)
        assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed"), (path, r.text)
        assert r.headers["allow"] == allow, path


def test_free_text_declares_what_the_code_refuses():
    """Control characters (Text keeps newline and tab, Line neither); in a URL, none at all."""
    reason = SCHEMAS["ApplicationReject"]["properties"]["reason"]["pattern"]
    name = SCHEMAS["EnterpriseCreate"]["properties"]["name"]["pattern"]
    assert re.fullmatch(reason, "第一行\n\t第二行") and not re.fullmatch(reason, "a\x07")
    assert re.fullmatch(name, "某某科技有限公司") and not re.fullmatch(name, "a\nb")
    assert not re.fullmatch(name, "a\u202eb")
    for path, op in OPERATIONS.values():
        for parameter in op.get("parameters", []):
            schema = parameter["schema"]
            if parameter["in"] == "query" and "string" in json.dumps(schema) \
                    and "enum" not in json.dumps(schema) and "format" not in json.dumps(schema):
                assert "pattern" in json.dumps(schema), (path, parameter["name"])


@pytest.mark.parametrize("field, good, bad", [
    ("contact_phone", ["+86 138-0000-1234", "0411-88881234", "(0086) 139 8765 4321",
                       "０４１１－８８８８１２３４", "1234567", "0086123456"],
     ["call me", "123456", "1234567890123456", "¹²³⁴⁵⁶⁷⁸", "12+34567"]),
    ("bank_account", ["6222 0211 8765 4320 19", "12345678"], ["6222-ABCD-1234", "1234567"]),
    ("contact_email", ["Boss@Example.CN", " ops@prov.cn "], ["boss@", "no at sign", "a@b..cn",
                                                             "名@例子.中国"]),
])
def test_registry_facts_declare_the_pattern_the_code_checks(api, field, good, bad):
    """The pattern is the check: what it matches is accepted, what it does not is the 422 that
    names the field (issue 22 item 6: Schemathesis found phone numbers the schema allowed)."""
    from tests.factories import uscc as new_uscc
    pattern = _property("EnterpriseCreate", field)["pattern"]
    assert _property("ProviderUpdate", field)["pattern"] == pattern
    for value in good + bad:
        assert bool(re.fullmatch(pattern, value)) == (value in good), value
        r = api.client.post("/v1/enterprises", headers=api.admin,
                            json={"uscc": new_uscc(), "name": "某公司", field: value})
        assert r.status_code == (201 if value in good else 422), (value, r.text)
        if value in bad:
            assert [e["field"] for e in r.json()["errors"]] == [field]


@pytest.mark.parametrize("value", [0, 1654646400, "0", "1654646400", "2026-01-01T00:00:00",
                                   "20260101"])
def test_a_business_date_is_yyyy_mm_dd_and_nothing_else(api, value):
    """PRODUCT.md §2: `format: date` means the string YYYY-MM-DD; pydantic's lax date would read
    0 as 1970-01-01 (Schemathesis's `eligible_from: 0`)."""
    api.ok("POST", "/v1/years", json={"year": 2026}, expect=201)
    r = api.client.patch("/v1/years/2026", headers=api.admin, json={"eligible_from": value})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    assert [e["field"] for e in r.json()["errors"]] == ["eligible_from"]
    r = api.client.post("/v1/years/2026/scenarios/compare", headers=api.admin, json={
        "scenarios": [{"name": "a", "overrides": {"eligible_from": value}}]})
    assert r.status_code == 422, r.text
    ok = api.client.patch("/v1/years/2026", headers=api.admin,
                          json={"eligible_from": "2025-06-01"})
    assert ok.status_code == 200 and ok.json()["eligible_from"] == "2025-06-01", ok.text


def test_an_api_key_request_states_the_fields_each_role_needs(api):
    """The role-bound fields (a provider key's provider, a reviewer's level, a district
    reviewer's district) are stated per role in the schema, and the schema's answer is the
    code's: valid bodies are created (or 404 for an unknown party), the others are 422."""
    import jsonschema_rs

    schema = {**SCHEMAS["ApiKeyCreate"], "components": DOCUMENT["components"]}
    validator = jsonschema_rs.Draft202012Validator(schema)
    enterprise, provider = api.enterprise(), api.provider()
    bodies = [
        ({"role": "admin"}, True), ({"role": "auditor", "provider_id": None}, True),
        ({"role": "admin", "enterprise_id": enterprise["id"]}, False),
        ({"role": "provider", "provider_id": provider["id"]}, True),
        ({"role": "provider"}, False), ({"role": "provider", "provider_id": None}, False),
        ({"role": "provider", "provider_id": provider["id"], "review_level": "city"}, False),
        ({"role": "enterprise", "enterprise_id": enterprise["id"]}, True),
        ({"role": "enterprise", "provider_id": provider["id"]}, False),
        ({"role": "reviewer", "review_level": "city"}, True),
        ({"role": "reviewer", "review_level": "district", "district": "中山区"}, True),
        ({"role": "reviewer", "review_level": "district"}, False),
        ({"role": "reviewer", "review_level": "finance", "district": "中山区"}, False),
        ({"role": "reviewer"}, False), ({"role": "enterprise", "enterprise_id": "ent_0"}, True),
    ]
    for body, valid in bodies:
        body = {"name": "k", **body}
        assert validator.is_valid(body) == valid, body
        r = api.client.post("/v1/api-keys", headers=api.admin, json=body)
        assert r.status_code in ((201, 404) if valid else (422,)), (body, r.text)


def test_every_operation_on_an_object_is_reached_by_a_link():
    """A new operation that takes an id in its path (or a year) fails here until
    service/openapi_links.py says which answer gives it that id, so Schemathesis's stateful phase
    (scripts/schemathesis-run.sh) and a client generator can follow it. Body links name fields
    the target's request body has."""
    supplied: dict[str, set[str]] = {}
    for targets in (*LINKS.values(), *PAGE_LINKS.values()):
        for target, parameters in targets.items():
            supplied.setdefault(target, set()).update(parameters)
    for op_id, (path, op) in OPERATIONS.items():
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        if names:
            assert supplied.get(op_id, set()) & names, (op_id, path, "reached by no link")
    for source, targets in BODY_LINKS.items():
        for target, fields in targets.items():
            body = OPERATIONS[target][1]["requestBody"]["content"]["application/json"]["schema"]
            properties = SCHEMAS[body["$ref"].rsplit("/", 1)[1]]["properties"]
            assert set(fields) <= set(properties), (source, target)
            link = OPERATIONS[source][1]["responses"]["201"]["links"][target]
            assert link["requestBody"] == fields, (source, target)


@pytest.mark.parametrize("value", [False, True, 5.0, "5"])
def test_a_year_and_a_count_of_days_are_strict_integers(api, value):
    """Schemathesis's `notice_working_days: false`, accepted as 0: the schema says `integer`."""
    api.ok("POST", "/v1/years", json={"year": 2026}, expect=201)
    r = api.client.patch("/v1/years/2026", headers=api.admin, json={"notice_working_days": value})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [
        "notice_working_days"], r.text
    r = api.client.post("/v1/years", headers=api.admin, json={"year": 2027.0})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["year"], r.text


def test_an_objectors_phone_declares_the_pattern_the_code_checks():
    """The phone pattern is the check (Schemathesis's `phone: "0000000"`): what it matches, the
    objection's model accepts; what it does not, the model refuses naming `phone`."""
    from pydantic import ValidationError

    from service.notices.router import ObjectionCreate
    pattern = _property("ObjectionCreate", "phone")["pattern"]
    good = ["13912345678", "+86 13912345678", "0411-84561234", "01088886666",
            "\u3000139 12345678".replace(" ", ""), " 0411 84561234 "]
    bad = ["0000000", "12345678", "1391234567", "88886666", "139123456789", "０４１１８４５６１２３４"]
    for value in good + bad:
        assert bool(re.search(pattern, value)) == (value in good), value
        try:
            ObjectionCreate(line_ids=["sln_1"], name="张三", phone=value, content="x" * 10)
            accepted = True
        except ValidationError as error:
            assert [e["loc"] for e in error.errors()] == [("phone",)]
            accepted = False
        assert accepted == (value in good), value


def test_a_list_links_its_first_item_to_the_operations_on_it():
    """PAGE_LINKS: what exists before the run (a flagged redemption's review, a published
    notice) is reached from its list, on the list's 200."""
    for source, targets in PAGE_LINKS.items():
        path, op = OPERATIONS[source]
        page = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert "items" in SCHEMAS[page.rsplit("/", 1)[1]]["properties"], source
        for target, parameters in targets.items():
            link = op["responses"]["200"]["links"][target]
            assert link == {"operationId": target, "parameters": parameters}, (source, target)
            names = {p["name"] for p in OPERATIONS[target][1].get("parameters", [])
                     if p["in"] == "path"}
            assert set(parameters) <= names and set(parameters.values()) == {
                "$response.body#/items/0/id"}, (source, target)
    assert PAGE_LINKS["listReviews"]["clearReview"] == {"review_id": "$response.body#/items/0/id"}
