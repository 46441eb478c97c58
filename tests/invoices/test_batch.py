"""Bulk posting (issue 7): a posted invoice is shaped from what was inserted, not read back, so
the batch answer must be exactly what GET shows afterwards; rows go in by COPY on PostgreSQL
and by executemany on SQLite, all or nothing."""

import pytest
from sqlalchemy import text

from service.app import create_app
from service.invoices.models import Invoice, InvoiceLine, InvoiceRow, LineRow
from tests.flows import invoice_body, invoice_number, line, make_world
from tests.invoices.test_routes import counts, refused
from tests.inprocess import InProcessClient


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    return make_world(api)


def batch(world, items):
    return world.api.client.post("/v1/invoices/batch", headers=world.prov,
                                 json={"invoices": items})


def test_row_tuples_follow_the_table_columns():
    # COPY names its columns from these tuples: they must be the tables' columns, in order.
    assert InvoiceRow._fields == tuple(Invoice.__table__.columns.keys())
    assert LineRow._fields == tuple(InvoiceLine.__table__.columns.keys())


def test_batch_items_equal_their_get_representation(world, api):
    # 2027 in deduction mode: a new, unpaid invoice already has an eligible subsidy there.
    api.year(2027, settlement_mode="deduction")
    uscc = world.enterprise["uscc"]
    items = [
        invoice_body(uscc, [line("gpu", 720_500, quantity="720.5", unit_price_fen=1_000),
                            line("storage", 60_000, quantity="0.000001")],
                     contract_number="HT-2026-007"),
        invoice_body(uscc, [line("npu", 12_345_678)], start="2026-11-01", end="2027-02-28",
                     issued_on="2026-11-01"),
        {**invoice_body(uscc, [line("accelerator", 99_999, quantity=3)]),
         "invoice_code": "2102001130", "invoice_number": "00012345"},
        invoice_body(uscc, [line("gpu", 0), line("cpu", 0)]),
        invoice_body(uscc, [line("gpu", 5_000)], start="2028-01-01", end="2028-01-31"),
    ]
    response = batch(world, items)
    assert response.status_code == 201, response.text
    posted = response.json()["items"]
    assert [i["invoice_number"] for i in posted] == [d["invoice_number"] for d in items]
    for item in posted:
        assert api.ok("GET", f"/v1/invoices/{item['id']}", headers=world.prov) == item
    first, cross, legacy, zero, later = posted
    assert [ln["quantity"] for ln in first["lines"]] == ["720.500000", "0.000001"]
    assert (first["status"], first["eligible_subsidy_fen"], first["redeemable_fen"]) == (
        "unpaid", 0, 0)
    # 12_345_678 × 30 % × 59/120 days, rounded down once (§5a worked example 2, deduction mode)
    assert cross["eligible_by_year"] == {"2026": 0, "2027": 1_820_987}
    assert (cross["eligible_subsidy_fen"], cross["redeemable_fen"]) == (0, 1_820_987)
    assert (legacy["invoice_code"], legacy["invoice_number"]) == ("2102001130", "00012345")
    assert (zero["total_fen"], zero["status"]) == (0, "paid")
    assert later["eligible_by_year"] == {}
    listed = api.ok("GET", "/v1/invoices", headers=world.prov, params={"limit": 500})["items"]
    assert sorted(listed, key=lambda i: i["id"]) == sorted(posted, key=lambda i: i["id"])


def test_text_that_copy_must_escape_comes_back_unchanged(world, api):
    # COPY's text format gives tab, newline, backslash and \N a meaning of their own.
    awkward = "多行\n说明\t制表 \\ 反斜杠 \\N 不是空值"
    items = [invoice_body(world.enterprise["uscc"],
                          [line("gpu", 100, description=awkward, unit="\\N"),
                           line("npu", 200, description="\\.", unit="卡时")],
                          contract_number="HT\\2026")]
    response = batch(world, items)
    assert response.status_code == 201, response.text
    posted = response.json()["items"][0]
    assert [(ln["description"], ln["unit"]) for ln in posted["lines"]] == [
        (awkward, "\\N"), ("\\.", "卡时")]
    assert posted["contract_number"] == "HT\\2026"
    assert api.ok("GET", f"/v1/invoices/{posted['id']}", headers=world.prov) == posted


def test_single_post_equals_its_get_representation(world, api):
    body = invoice_body(world.enterprise["uscc"], [line("gpu", 1_000, quantity="2.25")])
    posted = api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    assert api.ok("GET", f"/v1/invoices/{posted['id']}", headers=world.prov) == posted
    assert posted["lines"][0]["quantity"] == "2.250000"


def test_bad_items_in_the_middle_of_a_full_batch_save_nothing(world, api):
    existing = world.invoice([line("gpu", 100_000)])
    red = invoice_number()
    api.ok("POST", f"/v1/invoices/{existing['id']}/reversals", headers=world.prov, expect=201,
           json={"invoice_number": red, "issued_on": "2026-06-01", "amount_fen": 1_000,
                 "reason": "折让"})
    items = [invoice_body(world.enterprise["uscc"], [line("gpu", 100 + i)]) for i in range(1000)]
    items[400]["invoice_number"] = existing["invoice_number"]
    items[500]["invoice_number"] = red
    items[600]["total_fen"] += 1
    items[700]["invoice_number"] = items[699]["invoice_number"]
    before = counts(api.engine)
    problem = refused(world, batch(world, items), 422, "validation_error")
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("invoices[400].invoice_number", "invoice_duplicate"),
        ("invoices[500].invoice_number", "invoice_duplicate"),
        ("invoices[600].total_fen", "invalid"),
        ("invoices[700].invoice_number", "invoice_duplicate")]
    assert "4 of 1000 invoices rejected (indexes 400, 500, 600, 700)" in problem["detail"]
    assert counts(api.engine) == before


def test_batch_refused_by_the_database_saves_nothing(world, api):
    """What only the database can refuse (here a CHECK constraint the request schema cannot
    see) rolls the whole batch back, whichever way the rows went in."""
    items = [invoice_body(world.enterprise["uscc"], [line("gpu", 100 + i)]) for i in range(10)]
    with api.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE invoice_line ADD CONSTRAINT test_no_13 "
                              "CHECK (amount_fen <> 107)"))
        else:
            conn.execute(text("CREATE TRIGGER test_no_13 BEFORE INSERT ON invoice_line "
                              "WHEN NEW.amount_fen = 107 BEGIN SELECT RAISE(ABORT, 'no'); END"))
    try:
        before = counts(api.engine)
        with InProcessClient(create_app(api.engine), raise_server_exceptions=False) as client:
            response = client.post("/v1/invoices/batch", headers=world.prov,
                                   json={"invoices": items})
        assert response.status_code == 500, response.text
        assert counts(api.engine) == before
    finally:
        with api.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("ALTER TABLE invoice_line DROP CONSTRAINT test_no_13"))
            else:
                conn.execute(text("DROP TRIGGER test_no_13"))


def test_batch_is_one_audit_event_naming_every_invoice(world, api):
    items = [invoice_body(world.enterprise["uscc"], [line("gpu", 100 + i)]) for i in range(3)]
    posted = api.ok("POST", "/v1/invoices/batch", headers=world.prov, json={"invoices": items},
                    expect=201)["items"]
    events = api.ok("GET", "/v1/audit-events", params={"action": "invoice.post_batch"})["items"]
    assert len(events) == 1
    assert events[0]["summary"] == {"count": 3, "total_fen": 303,
                                    "invoice_ids": [i["id"] for i in posted]}
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True
