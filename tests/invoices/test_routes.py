"""Invoices (PRODUCT.md §3.4, §4, §5a): validation, duplicates, batches, payments, red-letter
reversals, visibility and usage statements. Every refusal is checked to have written nothing."""

import pytest
from sqlalchemy import text

from service.kit.uscc import uscc_problem
from tests.conftest import SQLITE_ONLY
from tests.factories import uscc
from tests.flows import invoice_body, invoice_number, line, make_world


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    return make_world(api)


def counts(engine) -> tuple[int, ...]:
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                     for t in ("invoice", "invoice_line", "invoice_payment", "invoice_reversal",
                               "usage_statement", "audit_event"))


def post(world, body, headers=None, path="/v1/invoices"):
    return world.api.client.post(path, headers=headers or world.prov, json=body)


def refused(world, response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    return body


def invalid(world, body, errors: list[tuple[str, str]], code: str = "validation_error") -> dict:
    """POST one invoice, expect 422 naming exactly these (field, type) pairs, nothing saved."""
    before = counts(world.api.engine)
    problem = refused(world, post(world, body), 422, code)
    assert [(e["field"], e["type"]) for e in problem["errors"]] == errors, problem
    assert counts(world.api.engine) == before
    return problem


def provider_invoices(world, headers=None) -> list[dict]:
    return world.api.ok("GET", "/v1/invoices", headers=headers or world.prov,
                        params={"limit": 500})["items"]


# --- invoice numbers ---------------------------------------------------------------------------


def test_fully_digital_invoice_accepted_with_computed_fields(world):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 1_000_000), line("storage", 60_000)],
                        contract_number="HT-2026-007")
    inv = world.api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    assert inv["invoice_number"] == body["invoice_number"]
    assert len(inv["invoice_number"]) == 20
    assert inv["invoice_code"] is None
    assert inv["provider_id"] == world.provider["id"]
    assert inv["enterprise_id"] == world.enterprise["id"]
    assert inv["enterprise_uscc"] == world.enterprise["uscc"]
    assert inv["contract_number"] == "HT-2026-007"
    assert (inv["total_fen"], inv["tax_fen"]) == (1_060_000, 60_000)
    assert (inv["paid_fen"], inv["reversed_fen"], inv["net_total_fen"]) == (0, 0, 1_060_000)
    assert inv["status"] == "unpaid"
    # reimbursement mode: nothing is paid yet, so nothing is eligible yet
    assert (inv["eligible_subsidy_fen"], inv["redeemed_fen"], inv["redeemable_fen"]) == (0, 0, 0)
    assert [(l_["line_no"], l_["category"], l_["amount_fen"]) for l_ in inv["lines"]] == [
        (1, "gpu", 1_000_000), (2, "storage", 60_000)]
    got = world.api.ok("GET", f"/v1/invoices/{inv['id']}", headers=world.prov)
    assert got == inv


@pytest.mark.parametrize("code", ["1234567890", "123456789012"])
def test_legacy_invoice_code_and_number_accepted(world, code):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)], invoice_code=code,
                        invoice_number="00012345")
    inv = world.api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    assert (inv["invoice_code"], inv["invoice_number"]) == (code, "00012345")
    # the same number under another code is another invoice
    other = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)],
                         invoice_code="9" * len(code), invoice_number="00012345")
    world.api.ok("POST", "/v1/invoices", headers=world.prov, json=other, expect=201)
    assert len(provider_invoices(world)) == 2


@pytest.mark.parametrize("fields, errors", [
    ({"invoice_number": "1" * 19}, [("invoice_number", "invalid")]),
    ({"invoice_number": "12345678"}, [("invoice_number", "invalid")]),  # legacy number, no code
    ({"invoice_number": "1" * 21}, [("invoice_number", "string_too_long")]),
    ({"invoice_number": "2621000000000000000A"}, [("invoice_number", "string_pattern_mismatch")]),
    ({"invoice_number": ""}, [("invoice_number", "string_too_short")]),
    ({"invoice_code": "12345678901", "invoice_number": "00012345"},
     [("invoice_code", "invalid")]),
    ({"invoice_code": "123456789", "invoice_number": "00012345"}, [("invoice_code", "invalid")]),
    ({"invoice_code": "1234567890", "invoice_number": "0001234"},
     [("invoice_number", "invalid")]),
    ({"invoice_code": "1234567890", "invoice_number": "1" * 20},
     [("invoice_number", "invalid")]),
    ({"invoice_code": "1234567890", "invoice_number": "1234567"},
     [("invoice_number", "invalid")]),
    ({"invoice_code": "12345678901", "invoice_number": "123456789"},
     [("invoice_code", "invalid"), ("invoice_number", "invalid")]),
    ({"invoice_code": "12345-7890", "invoice_number": "00012345"},
     [("invoice_code", "string_pattern_mismatch")]),
])
def test_invoice_number_shapes_refused(world, fields, errors):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)], **fields)
    invalid(world, body, errors)


# --- amounts, dates, lines ---------------------------------------------------------------------


def test_lines_must_sum_to_total(world):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000), line("npu", 50_000)])
    body["total_fen"] = 150_001
    problem = invalid(world, body, [("total_fen", "invalid")])
    assert problem["errors"][0]["message"] == (
        "lines sum to 150000 fen but total_fen is 150001")


def test_tax_above_total(world):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)], tax_fen=100_001)
    invalid(world, body, [("tax_fen", "invalid")])
    # tax equal to the total is allowed
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)], tax_fen=100_000)
    assert post(world, body).status_code == 201


def test_service_end_before_start(world):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)],
                        start="2026-04-02", end="2026-04-01")
    invalid(world, body, [("service_end", "invalid")])
    one_day = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)],
                           start="2026-04-01", end="2026-04-01")
    assert post(world, one_day).status_code == 201


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("field", ["quantity", "unit_price_fen", "amount_fen"])
def test_negative_line_numbers_refused(world, field):
    bad = {**line("gpu", 100_000), field: -1}
    body = invoice_body(world.enterprise["uscc"], [line("npu", 5), bad])
    body["total_fen"] = 100_005
    invalid(world, body, [(f"lines.1.{field}", "greater_than_equal")])


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("field", ["total_fen", "tax_fen"])
def test_negative_totals_refused(world, field):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    body[field] = -1
    invalid(world, body, [(field, "greater_than_equal")])


def test_unknown_category_refused(world):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100), line("quantum", 100)])
    invalid(world, body, [("lines.1.category", "literal_error")])


def test_float_money_refused(world):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    body["lines"][0]["amount_fen"] = 100_000.5
    invalid(world, body, [("lines.0.amount_fen", "int_type")])  # strict: no floats


def test_no_lines_refused(world):
    body = invoice_body(world.enterprise["uscc"], [])
    invalid(world, body, [("lines", "too_short")])


def test_several_problems_are_all_named(world):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)],
                        invoice_number="1" * 19, tax_fen=200_000, start="2026-05-01",
                        end="2026-04-01")
    body["total_fen"] = 150_000
    invalid(world, body, [("invoice_number", "invalid"), ("total_fen", "invalid"),
                          ("tax_fen", "invalid"), ("service_end", "invalid")])


# --- enterprise USCC ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["91210200000000001X", "9121020000000000", "91210200O00000001A"])
def test_invalid_enterprise_uscc(world, bad):
    body = invoice_body(bad, [line("gpu", 100_000)])
    # §2: an invalid USCC is a 422 with code invalid_uscc (as on the registry endpoints)
    problem = invalid(world, body, [("enterprise_uscc", "invalid_uscc")], code="invalid_uscc")
    assert problem["errors"][0]["message"] == uscc_problem(bad)


def test_invalid_uscc_among_other_problems_is_a_validation_error(world):
    body = invoice_body("91210200000000001X", [line("gpu", 100_000)], tax_fen=100_001)
    invalid(world, body, [("tax_fen", "invalid"), ("enterprise_uscc", "invalid_uscc")])


def test_unregistered_enterprise_uscc(world):
    body = invoice_body(uscc(), [line("gpu", 100_000)])
    problem = invalid(world, body, [("enterprise_uscc", "invalid")])
    assert problem["errors"][0]["message"] == "no enterprise is registered with this USCC"


def test_enterprise_registered_with_uscc_override_can_be_invoiced(world, api):
    """The bureau may register an early pilot code whose check character fails; invoices
    addressed to that registered enterprise must not then be refused as invalid_uscc."""
    code = "91350100M000100Y44"
    pilot = api.ok("POST", "/v1/enterprises", expect=201,
                   json={"uscc": code, "name": "试点单位", "uscc_override_reason": "已核实"})
    inv = api.ok("POST", "/v1/invoices", headers=world.prov, expect=201,
                 json=invoice_body(code, [line("gpu", 100_000)]))
    assert (inv["enterprise_id"], inv["enterprise_uscc"]) == (pilot["id"], code)


# --- duplicates --------------------------------------------------------------------------------


def test_duplicate_invoice_is_409_and_writes_nothing(world, api):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    first = api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    other = api.provider()
    api.approve_provider(other["id"])
    other_key = api.provider_key(other["id"])
    before = counts(api.engine)
    refused(world, post(world, body), 409, "invoice_duplicate")
    # the same number with different content, and from another provider
    changed = {**body, "lines": [line("npu", 7)], "total_fen": 7, "tax_fen": 0}
    refused(world, post(world, changed), 409, "invoice_duplicate")
    refused(world, post(world, body, headers=other_key), 409,
            "invoice_duplicate")
    assert counts(api.engine) == before
    assert [i["id"] for i in provider_invoices(world, api.admin)] == [first["id"]]


def test_duplicate_legacy_invoice(world, api):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)],
                        invoice_code="123456789012", invoice_number="00000001")
    api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    before = counts(api.engine)
    refused(world, post(world, body), 409, "invoice_duplicate")
    assert counts(api.engine) == before


def test_invoice_number_of_a_red_letter_invoice_cannot_be_posted_again(world, api):
    """An invoice is unique system-wide (§2): a red-letter invoice's number is taken too."""
    inv = world.invoice([line("gpu", 100_000)])
    red = invoice_number()
    api.ok("POST", f"/v1/invoices/{inv['id']}/reversals", headers=world.prov, expect=201,
           json={"invoice_number": red, "issued_on": "2026-06-01", "amount_fen": 10_000,
                 "reason": "折让"})
    before = counts(api.engine)
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)], invoice_number=red)
    refused(world, post(world, body), 409, "invoice_duplicate")
    batch = {"invoices": [invoice_body(world.enterprise["uscc"], [line("gpu", 1)]), body]}
    problem = refused(world, post(world, batch, path="/v1/invoices/batch"), 422,
                      "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("invoices[1].invoice_number", "invoice_duplicate")]
    assert counts(api.engine) == before


# --- batches -----------------------------------------------------------------------------------


def test_batch_of_three_in_request_order(world, api):
    bodies = [invoice_body(world.enterprise["uscc"], [line("gpu", 100_000 * (i + 1))])
              for i in range(3)]
    out = api.ok("POST", "/v1/invoices/batch", headers=world.prov, json={"invoices": bodies},
                 expect=201)
    assert [i["invoice_number"] for i in out["items"]] == [b["invoice_number"] for b in bodies]
    assert [i["total_fen"] for i in out["items"]] == [100_000, 200_000, 300_000]
    assert all(i["provider_id"] == world.provider["id"] for i in out["items"])
    listed = provider_invoices(world)
    assert sorted(i["id"] for i in listed) == sorted(i["id"] for i in out["items"])
    for item in out["items"]:
        assert api.ok("GET", f"/v1/invoices/{item['id']}", headers=world.prov) == item


def test_batch_all_or_nothing_names_each_rejected_index(world, api):
    existing = world.invoice([line("gpu", 100_000)], paid=False)
    good = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    bad = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    bad["total_fen"] = 99_999
    duplicate = invoice_body(world.enterprise["uscc"], [line("gpu", 5)],
                             invoice_number=existing["invoice_number"])
    tail = invoice_body(world.enterprise["uscc"], [line("gpu", 5)])
    before = counts(api.engine)
    problem = refused(world, post(world, {"invoices": [good, bad, duplicate, tail]},
                                  path="/v1/invoices/batch"), 422, "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("invoices[1].total_fen", "invalid"), ("invoices[2].invoice_number", "invoice_duplicate")]
    assert "2 of 4 invoices rejected (indexes 1, 2)" in problem["detail"]
    assert counts(api.engine) == before
    assert [i["id"] for i in provider_invoices(world)] == [existing["id"]]


def test_batch_schema_error_names_the_index(world, api):
    good = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    bad = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    bad["lines"][0]["amount_fen"] = -1
    before = counts(api.engine)
    problem = refused(world, post(world, {"invoices": [good, bad]}, path="/v1/invoices/batch"),
                      422, "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("invoices.1.lines.0.amount_fen", "greater_than_equal")]
    assert counts(api.engine) == before


def test_batch_duplicate_within_the_batch(world, api):
    first = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    middle = invoice_body(world.enterprise["uscc"], [line("gpu", 1)])
    again = {**first, "lines": [line("npu", 3)], "total_fen": 3, "tax_fen": 0}
    before = counts(api.engine)
    problem = refused(world, post(world, {"invoices": [first, middle, again]},
                                  path="/v1/invoices/batch"), 422, "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("invoices[2].invoice_number", "invoice_duplicate")]
    assert counts(api.engine) == before
    assert provider_invoices(world) == []


def test_batch_unknown_enterprise_and_invalid_uscc(world, api):
    items = [invoice_body(uscc(), [line("gpu", 1)]),
             invoice_body("91210200000000001X", [line("gpu", 1)]),
             invoice_body(world.enterprise["uscc"], [line("gpu", 1)])]
    before = counts(api.engine)
    problem = refused(world, post(world, {"invoices": items}, path="/v1/invoices/batch"), 422,
                      "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("invoices[0].enterprise_uscc", "invalid"),
        ("invoices[1].enterprise_uscc", "invalid_uscc")]
    assert counts(api.engine) == before


def test_batch_of_1000_accepted_and_1001_refused(world, api):
    def many(n):
        return {"invoices": [invoice_body(world.enterprise["uscc"], [line("gpu", 100 + i)])
                             for i in range(n)]}
    before = counts(api.engine)
    problem = refused(world, post(world, many(1001), path="/v1/invoices/batch"), 422,
                      "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("invoices", "too_long")]
    assert counts(api.engine) == before
    body = many(1000)
    out = api.ok("POST", "/v1/invoices/batch", headers=world.prov, json=body, expect=201)
    assert [i["invoice_number"] for i in out["items"]] == [
        b["invoice_number"] for b in body["invoices"]]
    assert sum(i["total_fen"] for i in out["items"]) == sum(100 + i for i in range(1000))
    assert api.ok("GET", "/v1/invoices", headers=world.prov, params={"limit": 1})[
        "next_cursor"] is not None


def test_empty_batch_refused(world, api):
    problem = refused(world, post(world, {"invoices": []}, path="/v1/invoices/batch"), 422,
                      "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("invoices", "too_short")]
    problem = refused(world, post(world, {}, path="/v1/invoices/batch"), 422, "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [("invoices", "missing")]
    assert provider_invoices(world) == []


# --- payments ----------------------------------------------------------------------------------


def pay(world, invoice_id, amount_fen, headers=None):
    return world.api.client.post(f"/v1/invoices/{invoice_id}/payments",
                                 headers=headers or world.prov,
                                 json={"amount_fen": amount_fen, "paid_on": "2026-05-10"})


def reverse(world, invoice_id, amount_fen, number=None, headers=None):
    return world.api.client.post(f"/v1/invoices/{invoice_id}/reversals",
                                 headers=headers or world.prov,
                                 json={"invoice_number": number or invoice_number(),
                                       "issued_on": "2026-06-01", "amount_fen": amount_fen,
                                       "reason": "服务量调整"})


def test_payments_accumulate_and_never_exceed_the_total(world, api):
    inv = world.invoice([line("gpu", 500_000)], paid=False)
    first = pay(world, inv["id"], 200_000)
    assert first.status_code == 201
    body = first.json()
    assert (body["paid_fen"], body["status"], body["eligible_subsidy_fen"]) == (
        200_000, "partially_paid", 60_000)
    before = counts(api.engine)
    refused(world, pay(world, inv["id"], 300_001), 409, "payment_exceeds_total")
    assert counts(api.engine) == before
    second = pay(world, inv["id"], 300_000).json()
    assert (second["paid_fen"], second["status"], second["eligible_subsidy_fen"]) == (
        500_000, "paid", 150_000)
    refused(world, pay(world, inv["id"], 1), 409, "payment_exceeds_total")
    assert world.get_invoice(inv["id"])["paid_fen"] == 500_000


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("amount", [0, -5, 1.5])
def test_payment_amount_must_be_a_positive_integer(world, amount):
    inv = world.invoice([line("gpu", 500_000)], paid=False)
    problem = refused(world, pay(world, inv["id"], amount), 422, "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["amount_fen"]


def test_payment_after_reversal_is_limited_by_the_net_total(world, api):
    inv = world.invoice([line("gpu", 500_000)], paid=False)
    assert reverse(world, inv["id"], 100_000).status_code == 201
    refused(world, pay(world, inv["id"], 400_001), 409, "payment_exceeds_total")
    body = pay(world, inv["id"], 400_000).json()
    assert (body["paid_fen"], body["net_total_fen"], body["status"]) == (400_000, 400_000,
                                                                         "paid")


# --- red-letter reversals ----------------------------------------------------------------------


def test_partial_reversals_accumulate_and_net_never_below_zero(world, api):
    inv = world.invoice([line("gpu", 800_000), line("accelerator", 200_000)])
    assert inv["eligible_subsidy_fen"] == 300_000
    r1 = reverse(world, inv["id"], 250_000)
    assert r1.status_code == 201
    body = r1.json()
    assert (body["reversed_fen"], body["net_total_fen"], body["eligible_subsidy_fen"]) == (
        250_000, 750_000, 225_000)
    body = reverse(world, inv["id"], 150_000).json()
    assert (body["reversed_fen"], body["net_total_fen"], body["eligible_subsidy_fen"]) == (
        400_000, 600_000, 180_000)
    before = counts(api.engine)
    refused(world, reverse(world, inv["id"], 600_001), 409, "reversal_exceeds_total")
    assert counts(api.engine) == before
    body = reverse(world, inv["id"], 600_000).json()
    assert (body["reversed_fen"], body["net_total_fen"], body["status"],
            body["eligible_subsidy_fen"]) == (1_000_000, 0, "reversed", 0)
    refused(world, reverse(world, inv["id"], 1), 409, "reversal_exceeds_total")
    refused(world, pay(world, inv["id"], 1), 409, "payment_exceeds_total")


def test_reversal_above_the_total_at_once(world, api):
    inv = world.invoice([line("gpu", 100_000)])
    before = counts(api.engine)
    refused(world, reverse(world, inv["id"], 100_001), 409, "reversal_exceeds_total")
    assert counts(api.engine) == before
    assert world.get_invoice(inv["id"])["reversed_fen"] == 0


def test_red_letter_number_reused_is_duplicate(world, api):
    inv = world.invoice([line("gpu", 100_000)])
    other = world.invoice([line("gpu", 100_000)])
    red = invoice_number()
    assert reverse(world, inv["id"], 10_000, number=red).status_code == 201
    before = counts(api.engine)
    refused(world, reverse(world, inv["id"], 10_000, number=red), 409, "invoice_duplicate")
    refused(world, reverse(world, other["id"], 10_000, number=red), 409, "invoice_duplicate")
    # a red-letter invoice cannot carry the number of an ordinary invoice either
    refused(world, reverse(world, inv["id"], 10_000, number=other["invoice_number"]), 409,
            "invoice_duplicate")
    refused(world, reverse(world, inv["id"], 10_000, number=inv["invoice_number"]), 409,
            "invoice_duplicate")
    assert counts(api.engine) == before
    assert world.get_invoice(inv["id"])["reversed_fen"] == 10_000


# --- visibility and roles ----------------------------------------------------------------------


def test_provider_sees_only_its_own_invoices(world, api):
    mine = world.invoice([line("gpu", 100_000)], paid=False)
    other = api.provider()
    api.approve_provider(other["id"])
    theirs_key = api.provider_key(other["id"])
    theirs = api.ok("POST", "/v1/invoices", headers=theirs_key, expect=201,
                    json=invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)]))
    assert [i["id"] for i in provider_invoices(world)] == [mine["id"]]
    assert [i["id"] for i in provider_invoices(world, theirs_key)] == [theirs["id"]]
    before = counts(api.engine)
    refused(world, api.client.get(f"/v1/invoices/{theirs['id']}", headers=world.prov), 404,
            "not_found")
    refused(world, pay(world, theirs["id"], 1), 404, "not_found")
    refused(world, reverse(world, theirs["id"], 1), 404, "not_found")
    refused(world, pay(world, "inv_doesnotexist", 1), 404, "not_found")
    assert counts(api.engine) == before
    # filtering by the other provider's id does not widen what a provider sees
    assert api.ok("GET", "/v1/invoices", headers=world.prov,
                  params={"provider_id": other["id"]})["items"] == []


def test_enterprise_sees_only_invoices_addressed_to_it(world, api):
    mine = world.invoice([line("gpu", 100_000)], paid=False)
    stranger = api.enterprise()
    theirs = api.ok("POST", "/v1/invoices", headers=world.prov, expect=201,
                    json=invoice_body(stranger["uscc"], [line("gpu", 100_000)]))
    assert [i["id"] for i in provider_invoices(world, world.ent)] == [mine["id"]]
    assert api.ok("GET", f"/v1/invoices/{mine['id']}", headers=world.ent)["id"] == mine["id"]
    refused(world, api.client.get(f"/v1/invoices/{theirs['id']}", headers=world.ent), 404,
            "not_found")
    assert api.ok("GET", "/v1/invoices", headers=world.ent,
                  params={"enterprise_id": stranger["id"]})["items"] == []
    stranger_key = api.enterprise_key(stranger["id"])
    assert [i["id"] for i in provider_invoices(world, stranger_key)] == [theirs["id"]]


def test_bureau_sees_all_invoices(world, api):
    a = world.invoice([line("gpu", 100_000)], paid=False)
    other = api.provider()
    b = api.ok("POST", "/v1/invoices", headers=api.provider_key(other["id"]), expect=201,
               json=invoice_body(api.enterprise()["uscc"], [line("npu", 1)]))
    for headers in (api.admin, api.auditor()):
        assert sorted(i["id"] for i in provider_invoices(world, headers)) == sorted(
            [a["id"], b["id"]])
        for inv in (a, b):
            assert api.ok("GET", f"/v1/invoices/{inv['id']}", headers=headers)["id"] == inv["id"]


def test_only_providers_post_invoices_payments_and_reversals(world, api):
    inv = world.invoice([line("gpu", 100_000)], paid=False)
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)])
    auditor = api.auditor()
    before = counts(api.engine)
    for headers in (world.ent, api.admin, auditor):
        refused(world, post(world, body, headers=headers), 403, "forbidden")
        refused(world, post(world, {"invoices": [body]}, headers=headers,
                            path="/v1/invoices/batch"), 403, "forbidden")
        refused(world, pay(world, inv["id"], 1, headers=headers), 403, "forbidden")
        refused(world, reverse(world, inv["id"], 1, headers=headers), 403, "forbidden")
    refused(world, api.client.post("/v1/invoices", json=body), 401, "unauthenticated")
    assert counts(api.engine) == before


# --- usage statements --------------------------------------------------------------------------


def test_usage_statement(world, api):
    other = api.enterprise()
    body = {"month": "2026-03", "lines": [
        {"enterprise_uscc": world.enterprise["uscc"], "billed_fen": 120_000},
        {"enterprise_uscc": other["uscc"], "billed_fen": 5_000},
        {"enterprise_uscc": world.enterprise["uscc"], "billed_fen": 30_000}]}
    out = api.ok("POST", "/v1/usage-statements", headers=world.prov, json=body, expect=201)
    assert out["provider_id"] == world.provider["id"]
    assert out["month"] == "2026-03"
    assert sorted((x["enterprise_uscc"], x["billed_fen"]) for x in out["lines"]) == sorted([
        (world.enterprise["uscc"], 150_000), (other["uscc"], 5_000)])
    # a second statement for the month replaces the first
    again = {"month": "2026-03", "lines": [
        {"enterprise_uscc": other["uscc"], "billed_fen": 7_000}]}
    out = api.ok("POST", "/v1/usage-statements", headers=world.prov, json=again, expect=201)
    assert [(x["enterprise_id"], x["billed_fen"]) for x in out["lines"]] == [(other["id"], 7_000)]
    with api.engine.connect() as conn:
        rows = conn.execute(text("SELECT enterprise_id, billed_fen FROM usage_statement")).all()
    assert [tuple(r) for r in rows] == [(other["id"], 7_000)]


def test_usage_statement_refusals(world, api):
    good = {"enterprise_uscc": world.enterprise["uscc"], "billed_fen": 1}
    auditor = api.auditor()
    before = counts(api.engine)
    problem = refused(world, api.client.post(
        "/v1/usage-statements", headers=world.prov,
        json={"month": "2026-03", "lines": [good, {"enterprise_uscc": uscc(), "billed_fen": 5}]}),
        422, "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("lines[1].enterprise_uscc", "invalid")]
    for month in ("2026-13", "2026-3", "26-03"):
        problem = refused(world, api.client.post("/v1/usage-statements", headers=world.prov,
                                                 json={"month": month, "lines": [good]}),
                          422, "validation_error")
        assert [e["field"] for e in problem["errors"]] == ["month"]
    problem = refused(world, api.client.post(
        "/v1/usage-statements", headers=world.prov,
        json={"month": "2026-03", "lines": [{**good, "billed_fen": -1}]}), 422,
        "validation_error")
    assert [e["field"] for e in problem["errors"]] == ["lines.0.billed_fen"]
    for headers in (world.ent, api.admin, auditor):
        refused(world, api.client.post("/v1/usage-statements", headers=headers,
                                       json={"month": "2026-03", "lines": [good]}),
                403, "forbidden")
    assert counts(api.engine) == before
