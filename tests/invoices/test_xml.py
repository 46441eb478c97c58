"""POST /v1/invoices/xml (issue 15): 数电票 XML files become exactly what the JSON routes create,
every refusal names the file, the element and a code, and hostile files write nothing."""

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from service.invoices import xml as xmlparse
from service.invoices.verify import FormatVerifier, VerificationResult
from service.kit.uscc import with_check_char
from tests.conftest import SQLITE_ONLY
from tests import xmlgen as g
from tests.flows import invoice_body, line, make_world
from tests.invoices.test_routes import counts

FIXTURES = Path(__file__).parent.parent / "fixtures" / "xml"
SELLER = with_check_char("91210200MA0XML001")   # the fixtures' seller and buyer
BUYER = with_check_char("91210200MA0XML002")
PERIOD = {"service_start": "2026-04-01", "service_end": "2026-04-30"}


def all_counts(engine):
    from sqlalchemy import text
    with engine.connect() as conn:
        extra = tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                      for t in ("invoice_source", "idempotency_record"))
    return counts(engine) + extra


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    w = make_world(api)
    # The fixtures' parties, registered with the USCCs the files carry.
    w.provider = api.provider(uscc=SELLER, name="大连智算中心有限公司")
    api.approve_provider(w.provider["id"])
    w.enterprise = api.enterprise(uscc=BUYER, name="大连算力应用有限公司")
    w.prov = api.provider_key(w.provider["id"])
    w.ent = api.enterprise_key(w.enterprise["id"])
    return w


def post_xml(world, body: bytes, *, zip_: bool = False, headers=None, params=None, **kw):
    h = {**(headers or world.prov),
         "Content-Type": "application/zip" if zip_ else "application/xml", **kw}
    return world.api.client.post("/v1/invoices/xml", content=body, headers=h,
                                 params=PERIOD if params is None else params)


def refused_xml(world, response, status, code, expect_errors=None):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    if expect_errors is not None:
        assert [(e["file"], e["element"], e["code"]) for e in body["errors"]] == expect_errors
    for e in body.get("errors") or []:
        assert set(e) >= {"file", "element", "code", "message"} and e["message"]
    return body


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def inv(world, lines=None, **kw) -> g.XInvoice:
    kw = {"seller_uscc": SELLER, "buyer_uscc": BUYER, **kw}
    return g.XInvoice(lines=lines or [g.gpu(1_000_000)], **kw)


# --- the happy paths ---------------------------------------------------------------------------

def test_single_file_equals_the_json_invoice_and_get(world, api):
    content = fixture("gpu-single.xml")
    response = post_xml(world, content, params={**PERIOD, "contract_number": "HT-2026-015"})
    assert response.status_code == 201, response.text
    body = response.json()
    [item], [report] = body["items"], body["files"]
    assert item["source_sha256"] == hashlib.sha256(content).hexdigest()
    assert (item["invoice_number"], item["invoice_code"], item["enterprise_uscc"]) == (
        "26212000000000000101", None, BUYER)
    assert (item["total_fen"], item["tax_fen"], item["issued_on"]) == (
        1_272_000, 72_000, "2026-04-30")
    assert (item["service_start"], item["service_end"], item["contract_number"]) == (
        "2026-04-01", "2026-04-30", "HT-2026-015")
    assert [(ln["category"], ln["amount_fen"], ln["unit"], ln["quantity"],
             ln["unit_price_fen"]) for ln in item["lines"]] == [
        ("gpu", 1_272_000, "卡时", "720.000000", 1767)]
    assert item["lines"][0]["description"] == "*信息技术服务*GPU算力租赁服务 A800 80G"
    assert report == {"file": "invoice.xml", "source_sha256": item["source_sha256"],
                      "invoice_id": item["id"], "reversal": None, "warnings": [],
                      "line_mapping": [{"line_no": 1, "element":
                                        "EInvoiceData/IssuItemInformation[1]",
                                        "item_name": "*信息技术服务*GPU算力租赁服务",
                                        "tax_classification_code": "3040203000000000000",
                                        "category": "gpu", "rule": 16}]}
    assert body["warnings"] == []
    # Each item is exactly what GET shows.
    assert api.ok("GET", f"/v1/invoices/{item['id']}", headers=world.prov) == item
    # The same invoice posted as JSON: the same shape, no source.
    body = invoice_body(BUYER, [line("gpu", 1_272_000)])
    json_item = api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    assert set(json_item) == set(item) and json_item["source_sha256"] is None
    assert api.ok("GET", f"/v1/invoices/{json_item['id']}")["source_sha256"] is None
    # One audit event, the JSON route's, with the file's SHA-256.
    events = [e for e in api.ok("GET", "/v1/audit-events",
                                params={"action": "invoice.post", "limit": 500})["items"]
              if e["object_id"] == item["id"]]
    assert len(events) == 1 and events[0]["summary"]["source_sha256"] == item["source_sha256"]


def test_multi_line_file_maps_categories_and_both_rate_spellings(world, api):
    content = fixture("multi-line-gpu-storage.xml")
    assert b"<TaxRate>6%</TaxRate>" in content and b"<TaxRate>0.06</TaxRate>" in content
    assert b"ds:Signature" in content
    response = post_xml(world, content)
    assert response.status_code == 201, response.text
    [item] = response.json()["items"]
    [report] = response.json()["files"]
    assert [(ln["category"], ln["amount_fen"]) for ln in item["lines"]] == [
        ("gpu", 8_480_000), ("storage", 530_000), ("network", 212_000)]
    assert item["total_fen"] == 9_222_000 == sum(ln["amount_fen"] for ln in item["lines"])
    assert item["tax_fen"] == 522_000
    assert [m["category"] for m in report["line_mapping"]] == ["gpu", "storage", "network"]
    world.pay(item["id"], item["total_fen"])
    # 30 % of the GPU line only (storage, network excluded)
    assert api.ok("GET", f"/v1/invoices/{item['id']}")["eligible_subsidy_fen"] == 2_544_000


def test_header_total_is_not_the_line_total(world):
    # Two lines: the first line's TotaltaxIncludedAmount is not the invoice's total.
    x = inv(world, [g.gpu(1_000_000), g.storage(250_000)])
    response = post_xml(world, x.xml())
    assert response.status_code == 201, response.text
    [item] = response.json()["items"]
    assert item["total_fen"] == 1_325_000
    assert [ln["amount_fen"] for ln in item["lines"]] == [1_060_000, 265_000]


def test_zip_all_files_in_order_with_meta_json(world, api):
    files = {f"2026-04/{i}.xml": inv(world, [g.gpu(100_000 * (i + 1))]).xml() for i in range(3)}
    meta = {"2026-04/1.xml": {"service_start": "2026-05-01", "service_end": "2026-05-31",
                              "contract_number": "HT-B"},
            "2.xml": {"contract_number": "HT-C"}}
    response = post_xml(world, g.zip_of(files, meta), zip_=True,
                        params={**PERIOD, "contract_number": "HT-A"})
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [f["file"] for f in response.json()["files"]] == list(files)
    assert [f["invoice_id"] for f in response.json()["files"]] == [i["id"] for i in items]
    assert [i["total_fen"] for i in items] == [106_000, 212_000, 318_000]
    assert [(i["service_start"], i["contract_number"]) for i in items] == [
        ("2026-04-01", "HT-A"), ("2026-05-01", "HT-B"), ("2026-04-01", "HT-C")]
    for i, content in zip(items, files.values()):
        assert i["source_sha256"] == hashlib.sha256(content).hexdigest()
        assert api.ok("GET", f"/v1/invoices/{i['id']}") == i
    batch_events = api.ok("GET", "/v1/audit-events",
                          params={"action": "invoice.post_batch"})["items"]
    assert [e["summary"]["source_sha256"] for e in batch_events] == [
        [i["source_sha256"] for i in items]]


def test_zip_is_all_or_nothing(world):
    good = inv(world).xml()
    bad = inv(world, total_with_tax="999.99").xml()
    before = all_counts(world.api.engine)
    response = post_xml(world, g.zip_of({"a.xml": good, "b.xml": bad, "c.xml": good}),
                        zip_=True)
    body = refused_xml(world, response, 422, "totals_mismatch")
    assert [(e["file"], e["code"]) for e in body["errors"]] == [
        ("b.xml", "totals_mismatch"), ("c.xml", "invoice_duplicate")]
    assert all_counts(world.api.engine) == before


def test_red_letter_file_reverses_its_original(world, api):
    original = post_xml(world, fixture("gpu-single.xml")).json()["items"][0]
    world.pay(original["id"], original["total_fen"])
    red = fixture("red-letter.xml")
    response = post_xml(world, red, params={})
    assert response.status_code == 201, response.text
    [item], [report] = response.json()["items"], response.json()["files"]
    assert item["id"] == original["id"] == report["invoice_id"]
    assert (item["reversed_fen"], item["net_total_fen"]) == (318_000, 954_000)
    assert report["reversal"]["invoice_number"] == "26212000000000000103"
    assert report["reversal"]["original_invoice_number"] == "26212000000000000101"
    assert report["reversal"]["amount_fen"] == 318_000
    assert report["source_sha256"] == hashlib.sha256(red).hexdigest()
    # The item is the reduced original as GET shows it (its own source is the original file).
    got = api.ok("GET", f"/v1/invoices/{original['id']}")
    assert got == item and got["source_sha256"] == original["source_sha256"]
    [event] = api.ok("GET", "/v1/audit-events", params={"action": "invoice.reverse"})["items"]
    assert event["summary"]["source_sha256"] == report["source_sha256"]
    # Its own file is kept too.
    r = api.client.get(f"/v1/invoices/{original['id']}/source",
                       params={"sha256": report["source_sha256"]}, headers=world.prov)
    assert r.status_code == 200 and r.content == red
    # Posting it again: its number is taken.
    again = post_xml(world, red, params={})
    refused_xml(world, again, 422, "invoice_duplicate",
                [("invoice.xml", "TaxSupervisionInfo/InvoiceNumber", "invoice_duplicate")])


def test_red_letter_of_an_absent_original_is_404(world):
    x = g.red_letter(inv(world))
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, x.xml()), 404, "not_found")
    assert body["errors"][0]["element"] == \
        "EInvoiceData/SpecificInformation/RedEInvoice/OriginalInvoiceCode"
    assert all_counts(world.api.engine) == before


def test_red_letter_in_the_same_zip_as_its_original(world, api):
    original = inv(world)
    red = g.red_letter(original)
    response = post_xml(world, g.zip_of({"o.xml": original.xml(), "r.xml": red.xml()}),
                        zip_=True)
    assert response.status_code == 201, response.text
    first, second = response.json()["items"]
    assert first["id"] == second["id"]
    assert second["status"] == "reversed" and second["reversed_fen"] == 1_060_000


# --- the checks, each with its code, file and element ------------------------------------------

@pytest.mark.parametrize("change, element, code", [
    ({"seller_uscc": with_check_char("91210200MA0XML009")},
     "EInvoiceData/SellerInformation/SellerIdNum", "seller_mismatch"),
    ({"buyer_uscc": with_check_char("91210200MA0XML008")},
     "EInvoiceData/BuyerInformation/BuyerIdNum", "unknown_buyer"),
    # a header total off by a fen: against the lines, and against the tax-included total
    ({"total_without_tax": "10000.01"},
     ["EInvoiceData/BasicInformation/TotalAmWithoutTax",
      "EInvoiceData/BasicInformation/TotalTax-includedAmount"], "totals_mismatch"),
    ({"total_tax": "599.99"}, ["EInvoiceData/BasicInformation/TotalTaxAm",
                               "EInvoiceData/BasicInformation/TotalTax-includedAmount"],
     "totals_mismatch"),
    ({"total_with_tax": "10600.01"},
     "EInvoiceData/BasicInformation/TotalTax-includedAmount", "totals_mismatch"),
    ({"total_with_tax": "10600.005"},
     "EInvoiceData/BasicInformation/TotalTax-includedAmount", "invalid_amount"),
    ({"invoice_number": "2621200000000000"}, "TaxSupervisionInfo/InvoiceNumber",
     "validation_error"),
])
def test_each_check_refuses_with_its_code(world, change, element, code):
    x = inv(world, **change)
    before = all_counts(world.api.engine)
    elements = element if isinstance(element, list) else [element]
    refused_xml(world, post_xml(world, x.xml()), 422, code,
                [("invoice.xml", e, code) for e in elements])
    assert all_counts(world.api.engine) == before


def test_amounts_are_exact_decimals_never_rounded(world):
    x = inv(world, [g.XLine("*信息技术服务*GPU算力服务", 100_500, amount_text="1005.005")])
    body = refused_xml(world, post_xml(world, x.xml()), 422, "invalid_amount")
    assert body["errors"][0]["element"] == "EInvoiceData/IssuItemInformation[1]/Amount"
    assert "1005.005" in body["errors"][0]["message"]
    assert xmlparse.money_fen("1.005") is None and xmlparse.money_fen("1.5") == 150
    assert xmlparse.money_fen("-0.01") == -1 and xmlparse.money_fen("1e3") is None


def test_line_total_must_be_amount_plus_tax(world):
    x = inv(world, [g.gpu(1_000_000, line_total="10600.01")])
    refused_xml(world, post_xml(world, x.xml()), 422, "totals_mismatch", [
        ("invoice.xml", "EInvoiceData/IssuItemInformation[1]/TotaltaxIncludedAmount",
         "totals_mismatch")])


def test_tax_rate_spellings():
    assert xmlparse.tax_rate("0.06") == xmlparse.tax_rate("6%") == xmlparse.tax_rate(" 6 %")
    assert xmlparse.tax_rate("13%") == xmlparse.tax_rate("0.13")
    assert xmlparse.tax_rate("免税") is None
    with pytest.raises(ValueError):
        xmlparse.tax_rate("six percent")


def test_duplicate_number_is_invoice_duplicate(world, api):
    x = inv(world)
    assert post_xml(world, x.xml()).status_code == 201
    before = all_counts(world.api.engine)
    refused_xml(world, post_xml(world, x.xml()), 422, "invoice_duplicate",
                [("invoice.xml", "TaxSupervisionInfo/InvoiceNumber", "invoice_duplicate")])
    # A number taken by a JSON-posted invoice is taken for XML too, and the other way round.
    body = invoice_body(BUYER, [line("gpu", 100)])
    api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    y = inv(world, invoice_number=body["invoice_number"])
    refused_xml(world, post_xml(world, y.xml()), 422, "invoice_duplicate")
    z = inv(world)
    assert post_xml(world, z.xml()).status_code == 201
    r = api.client.post("/v1/invoices", headers=world.prov,
                        json={**invoice_body(BUYER, [line("gpu", 100)]),
                              "invoice_number": z.invoice_number})
    assert (r.status_code, r.json()["code"]) == (409, "invoice_duplicate")
    assert all_counts(world.api.engine)[0] == before[0] + 2


def test_unmapped_item_is_other_with_a_warning(world, api):
    x = inv(world, [g.gpu(1_000_000), g.XLine("*现代服务*技术咨询费", 50_000, tax_code="30499")])
    response = post_xml(world, x.xml())
    assert response.status_code == 201, response.text
    body = response.json()
    [item], [report] = body["items"], body["files"]
    assert [ln["category"] for ln in item["lines"]] == ["gpu", "other"]
    assert report["line_mapping"][1]["rule"] is None
    assert [(w["file"], w["element"], w["code"]) for w in body["warnings"]] == [
        ("invoice.xml", "EInvoiceData/IssuItemInformation[2]/ItemName", "unmapped_item")]
    assert body["warnings"] == report["warnings"]


def test_bureau_edits_the_item_category_table(world, api):
    table = api.ok("GET", "/v1/years/2026/item-categories")
    assert table["is_default"] is True and table["unmapped_category"] == "other"
    assert {"match": "item_name", "pattern": "GPU", "category": "gpu"} in table["rules"]
    rules = [{"match": "tax_code_prefix", "pattern": "30499", "category": "accelerator"},
             {"match": "item_name", "pattern": "gpu", "category": "gpu"}]
    auditor = api.auditor()
    r = api.client.put("/v1/years/2026/item-categories", headers=auditor, json={"rules": rules})
    assert r.status_code == 403
    r = api.client.put("/v1/years/2026/item-categories", headers=world.prov,
                       json={"rules": rules})
    assert r.status_code == 403
    got = api.ok("PUT", "/v1/years/2026/item-categories", json={"rules": rules})
    assert got == {"year": 2026, "is_default": False, "rules": rules,
                   "unmapped_category": "other"}
    assert api.ok("GET", "/v1/years/2026/item-categories", headers=auditor) == got
    [event] = api.ok("GET", "/v1/audit-events",
                     params={"action": "year.item_categories"})["items"]
    assert event["summary"]["after"] == rules and event["summary"]["was_default"] is True
    x = inv(world, [g.gpu(1_000_000), g.XLine("*现代服务*异构计算服务", 50_000,
                                             tax_code="3049900000000000000"),
                    g.storage(10_000)])
    answer = post_xml(world, x.xml()).json()
    assert [ln["category"] for ln in answer["items"][0]["lines"]] == [
        "gpu", "accelerator", "other"]
    assert [m["rule"] for m in answer["files"][0]["line_mapping"]] == [2, 1, None]
    assert api.client.get("/v1/years/2031/item-categories",
                          headers=api.admin).status_code == 404
    r = api.client.put("/v1/years/2026/item-categories", headers=api.admin,
                       json={"rules": [{"match": "regex", "pattern": ".*", "category": "gpu"}]})
    assert r.status_code == 422


def test_service_period_is_required_for_an_invoice(world):
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, inv(world).xml(), params={}), 422,
                       "validation_error")
    assert [e["element"] for e in body["errors"]] == ["service_start", "service_end"]
    assert all_counts(world.api.engine) == before


def test_meta_json_naming_an_absent_file_is_refused(world):
    z = g.zip_of({"a.xml": inv(world).xml()}, {"b.xml": PERIOD})
    refused_xml(world, post_xml(world, z, zip_=True), 422, "validation_error",
                [("meta.json", "b.xml", "validation_error")])


def test_void_answer_of_a_verifier_refuses_with_invoice_void(world, app):
    class VoidVerifier(FormatVerifier):
        def verify(self, request):
            assert request.total_fen == 1_060_000 and request.seller_uscc == SELLER
            return VerificationResult(status="void", times_checked=3)
    app.state.invoice_verifier = VoidVerifier()
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, inv(world).xml()), 422, "invoice_void",
                       [("invoice.xml", "TaxSupervisionInfo/InvoiceNumber", "invoice_void")])
    assert "3" in body["errors"][0]["message"]
    assert all_counts(world.api.engine) == before


def test_default_verifier_needs_no_network(monkeypatch, world):
    import socket

    def no_network(*a, **k):
        raise AssertionError("the default verifier must not call the network")
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert post_xml(world, inv(world).xml()).status_code == 201


# --- hostile files -----------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<EInvoice><Header><EIid>&lol9;</EIid></Header></EInvoice>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE EInvoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EInvoice><EInvoiceData><BuyerInformation><BuyerName>&xxe;</BuyerName></BuyerInformation>
</EInvoiceData></EInvoice>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE EInvoice SYSTEM "http://127.0.0.1:9/evil.dtd"><EInvoice/>"""


@SQLITE_ONLY  # refused while the upload is read, before any database work
@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL, EXTERNAL_DTD],
                         ids=["billion-laughs", "external-entity", "external-dtd"])
def test_unsafe_xml_is_refused_and_nothing_written(world, content):
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, content), 422, "unsafe_xml")
    assert body["errors"][0]["file"] == "invoice.xml"
    assert "passwd" not in str(body) or "root:" not in str(body)
    assert all_counts(world.api.engine) == before
    # Inside a ZIP too, beside a good file.
    z = g.zip_of({"good.xml": inv(world).xml(), "evil.xml": content})
    body = refused_xml(world, post_xml(world, z, zip_=True), 422, "unsafe_xml")
    assert [e["file"] for e in body["errors"]] == ["evil.xml"]
    assert all_counts(world.api.engine) == before


def test_100_mb_file_is_refused_with_413(world):
    before = all_counts(world.api.engine)
    big = b"<EInvoice>" + b" " * (100 * 1024 * 1024) + b"</EInvoice>"
    response = post_xml(world, big)
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    # Between the per-file cap and the body limit: still 413, nothing read.
    response = post_xml(world, b"<EInvoice>" + b" " * (5 * 1024 * 1024) + b"</EInvoice>")
    assert response.status_code == 413
    assert all_counts(world.api.engine) == before


def _zip_raw(entries: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in entries:
            z.writestr(zipfile.ZipInfo(name), content, zipfile.ZIP_DEFLATED)
    return out.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name")
@SQLITE_ONLY  # refused while the upload is read, before any database work
@pytest.mark.parametrize("kind", ["bomb", "ratio", "traversal", "absolute", "duplicate",
                                  "nested", "too-many", "not-a-zip", "backslash"])
def test_hostile_archives_are_unsafe_archive_and_nothing_written(world, kind):
    good = inv(world).xml()
    entries = {
        "bomb": [("a.xml", good), ("bomb.xml", b"<" + b"A" * (200 * 1024 * 1024))],
        "ratio": [("a.xml", good), ("b.xml", b"<EInvoice>" + b" " * (3 * 1024 * 1024))],
        "traversal": [("../../etc/cron.d/x.xml", good)],
        "absolute": [("/tmp/x.xml", good)],
        "duplicate": [("a.xml", good), ("a.xml", good)],
        "nested": [("a.xml", good), ("inner.zip", g.zip_of({"b.xml": good}))],
        "too-many": [(f"{i}.xml", b"<x/>") for i in range(1001)],
        "backslash": [("..\\..\\x.xml", good)],
    }
    body_bytes = b"PK\x03\x04 not really a zip" if kind == "not-a-zip" else \
        _zip_raw(entries[kind])
    if kind == "bomb":
        assert len(body_bytes) < 1024 * 1024  # 200 MB compressed under 1 MB
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, body_bytes, zip_=True), 422, "unsafe_archive")
    assert len(body["errors"]) == 1 and body["errors"][0]["code"] == "unsafe_archive"
    assert all_counts(world.api.engine) == before


def test_bomb_with_a_lying_header_is_stopped_while_reading():
    content = _zip_raw([("bomb.xml", b"<" + b"A" * (20 * 1024 * 1024))])
    # Forge the declared size (local header and central directory) to look small.
    import struct
    size = struct.pack("<I", 20 * 1024 * 1024 + 1)
    forged = content.replace(size, struct.pack("<I", 1000))
    assert forged != content
    with pytest.raises(xmlparse.Unsafe) as err:
        xmlparse.open_archive(forged)
    assert err.value.code == "unsafe_archive"


def test_non_xml_members_are_ignored_and_an_empty_zip_is_refused(world):
    z = g.zip_of({"a.xml": inv(world).xml(), "a.pdf": b"%PDF-1.7", "__MACOSX/._a.xml": b"x"})
    response = post_xml(world, z, zip_=True)
    assert response.status_code == 201, response.text
    assert [f["file"] for f in response.json()["files"]] == ["a.xml"]
    refused_xml(world, post_xml(world, g.zip_of({"a.pdf": b"%PDF"}), zip_=True), 422,
                "validation_error")


def test_not_xml_and_wrong_root_and_wrong_type(world):
    refused_xml(world, post_xml(world, b"this is not xml"), 422, "invalid_xml")
    refused_xml(world, post_xml(world, b"<Invoice/>"), 422, "validation_error",
                [("invoice.xml", "Invoice", "validation_error")])
    r = world.api.client.post("/v1/invoices/xml", json={"a": 1}, headers=world.prov)
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type")


def test_gbk_encoded_file_is_read(world):
    content = inv(world).xml().decode().replace('encoding="UTF-8"', 'encoding="GBK"')
    response = post_xml(world, content.encode("gbk"))
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["lines"][0]["description"].startswith("*信息技术服务*")


# --- idempotency, access, source ---------------------------------------------------------------

def test_idempotency_replay_and_reuse(world):
    content = inv(world).xml()
    first = post_xml(world, content, **{"Idempotency-Key": "xml-1"})
    assert first.status_code == 201
    before = all_counts(world.api.engine)
    again = post_xml(world, content, **{"Idempotency-Key": "xml-1"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert all_counts(world.api.engine) == before
    other = post_xml(world, inv(world).xml(), **{"Idempotency-Key": "xml-1"})
    refused_xml(world, other, 422, "idempotency_key_reused")
    # Same bytes, different query: a different request.
    changed = post_xml(world, content, params={**PERIOD, "contract_number": "X"},
                       **{"Idempotency-Key": "xml-1"})
    refused_xml(world, changed, 422, "idempotency_key_reused")
    assert all_counts(world.api.engine) == before


def test_only_providers_post_xml(world, api):
    content = inv(world).xml()
    for headers, status in ((api.admin, 403), (world.ent, 403), ({}, 401)):
        r = api.client.post("/v1/invoices/xml", content=content, params=PERIOD,
                            headers={**headers, "Content-Type": "application/xml"})
        assert r.status_code == status


def test_source_download_for_bureau_and_own_provider_only(world, api):
    content = fixture("gpu-single.xml")
    [item] = post_xml(world, content).json()["items"]
    for headers in (api.admin, api.auditor(), world.prov):
        r = api.client.get(f"/v1/invoices/{item['id']}/source", headers=headers)
        assert r.status_code == 200, r.text
        assert r.content == content
        assert r.headers["content-type"].startswith("application/xml")
        assert hashlib.sha256(r.content).hexdigest() == item["source_sha256"]
    other = api.provider()
    for headers in (api.provider_key(other["id"]), world.ent):
        r = api.client.get(f"/v1/invoices/{item['id']}/source", headers=headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert api.client.get(f"/v1/invoices/{item['id']}/source").status_code == 401
    # A JSON-posted invoice has no source.
    body = invoice_body(BUYER, [line("gpu", 100)])
    posted = api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    for path in (f"/v1/invoices/{posted['id']}/source", "/v1/invoices/inv_nothere/source"):
        assert api.client.get(path, headers=api.admin).status_code == 404


def test_generated_bulk_zip_of_1000(world, api):
    files = {f"{i:04d}.xml": x.xml() for i, x in enumerate(g.bulk(SELLER, [BUYER], 1000))}
    z = g.zip_of(files)
    before = all_counts(world.api.engine)
    response = post_xml(world, z, zip_=True)
    assert response.status_code == 201, response.text[:500]
    items = response.json()["items"]
    assert len(items) == 1000
    assert [f["file"] for f in response.json()["files"]] == list(files)
    after = all_counts(world.api.engine)
    assert after[0] == before[0] + 1000 and after[6] == before[6] + 1000


def test_multipart_upload_with_a_json_part(world, api):
    a, b = inv(world), inv(world, [g.storage(40_000)])
    files = [("files", ("a.xml", a.xml(), "application/xml")),
             ("files", ("b.xml", b.xml(), "application/xml"))]
    meta = '{"b.xml": {"service_start": "2026-05-01", "service_end": "2026-05-31"}}'
    r = api.client.post("/v1/invoices/xml", headers={**world.prov, "Idempotency-Key": "mp"},
                        files=files, data={"meta": meta, **PERIOD})
    assert r.status_code == 201, r.text
    items = r.json()["items"]
    assert [f["file"] for f in r.json()["files"]] == ["a.xml", "b.xml"]
    assert [i["service_start"] for i in items] == ["2026-04-01", "2026-05-01"]
    assert items[1]["lines"][0]["category"] == "storage"
    # The same parts again (a new boundary): replayed, not refused.
    again = api.client.post("/v1/invoices/xml", headers={**world.prov, "Idempotency-Key": "mp"},
                            files=files, data={"meta": meta, **PERIOD})
    assert again.status_code == 201 and again.json() == r.json()
    # One file with the fields in a JSON part.
    c = inv(world)
    r = api.client.post("/v1/invoices/xml", headers=world.prov,
                        files=[("file", ("c.xml", c.xml(), "application/xml"))],
                        data={"meta": '{"service_start": "2026-06-01", '
                                      '"service_end": "2026-06-30", "contract_number": "HT-9"}'})
    assert r.status_code == 201, r.text
    [item] = r.json()["items"]
    assert r.json()["files"][0]["file"] == "c.xml"
    assert (item["service_start"], item["contract_number"]) == ("2026-06-01", "HT-9")
    bad = api.client.post("/v1/invoices/xml", headers=world.prov, data={"x": "1"},
                          files=[("meta", ("meta.json", b"{}", "application/json"))])
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")


def test_red_letter_for_another_buyer_is_refused(world, api):
    other = api.enterprise()
    original = inv(world)
    assert post_xml(world, original.xml()).status_code == 201
    red = g.red_letter(original)
    red.buyer_uscc = other["uscc"]
    before = all_counts(world.api.engine)
    refused_xml(world, post_xml(world, red.xml(), params={}), 422, "validation_error",
                [("invoice.xml", "EInvoiceData/BuyerInformation/BuyerIdNum",
                  "validation_error")])
    assert all_counts(world.api.engine) == before


# --- issue 20: the JSON contract's bounds, unknown encodings, signs, media types ---------------

LINE1 = "EInvoiceData/IssuItemInformation[1]"


@SQLITE_ONLY  # refused while the upload is read, before any database work
@pytest.mark.parametrize("encoding", ["x-unknown", "GBK2", "UTF-9", "rot13", "shift_jis"])
def test_unknown_declared_encoding_is_invalid_xml_naming_it(world, encoding):
    content = g.declared(inv(world).xml(), encoding)
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, content), 422, "invalid_xml",
                       [("invoice.xml", "EInvoice", "invalid_xml")])
    assert repr(encoding) in body["errors"][0]["message"]
    # A ZIP member declaring it, beside a good file: that member is named.
    z = g.zip_of({"good.xml": inv(world).xml(), "odd.xml": content})
    body = refused_xml(world, post_xml(world, z, zip_=True), 422, "invalid_xml",
                       [("odd.xml", "EInvoice", "invalid_xml")])
    assert repr(encoding) in body["errors"][0]["message"]
    assert all_counts(world.api.engine) == before


def test_declared_gbk_whose_bytes_are_not_gbk_says_so():
    content = b'<?xml version="1.0" encoding="GBK"?><EInvoice>\xff\xff</EInvoice>'
    with pytest.raises(xmlparse.Unsafe) as err:
        xmlparse.parse_tree(content, "a.xml")
    assert err.value.code == "invalid_xml"
    assert "bytes are not GBK/GB18030" in err.value.message


def test_million_character_item_name_is_refused_like_the_json_route(world, api):
    name = "算" * 1_000_000
    content = inv(world, [g.XLine(name, 1_000_000)]).xml()
    assert len(content) < xmlparse.MAX_XML_BYTES
    before = all_counts(world.api.engine)
    response = post_xml(world, content)
    refused_xml(world, response, 422, "validation_error",
                [("invoice.xml", f"{LINE1}/ItemName", "validation_error")])
    assert len(response.content) < 10_000  # the name is not echoed
    # The same description on POST /v1/invoices: refused too.
    r = api.client.post("/v1/invoices", headers=world.prov, json=invoice_body(
        BUYER, [dict(line("gpu", 1_060_000), description=name)]))
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert len(r.content) < 10_000
    assert all_counts(world.api.engine) == before


# Each field the JSON contract bounds, as the XML states it: (lines, invoice fields, element,
# code). None of these was refused before issue 20 (cut, rounded, or a 500).
BOUNDED = {
    "description-over-500": ([g.XLine("GPU" * 166, 1_000_000, spec="A800 80G")], {},
                             f"{LINE1}/ItemName", "validation_error"),
    "description-bidi": ([g.XLine("GPU\u202e算力", 1_000_000)], {}, f"{LINE1}/ItemName",
                         "validation_error"),
    "description-c1-control": ([g.XLine("GPU\u0085算力", 1_000_000)], {},
                               f"{LINE1}/ItemName", "validation_error"),
    "unit-over-40": ([g.gpu(1_000_000, unit="卡" * 41)], {}, f"{LINE1}/MeaUnits",
                     "validation_error"),
    "quantity-7-places": ([g.gpu(1_000_000, quantity="1.0000001")], {}, f"{LINE1}/Quantity",
                          "validation_error"),
    "quantity-negative": ([g.gpu(1_000_000, quantity="-720")], {}, f"{LINE1}/Quantity",
                          "validation_error"),
    "quantity-not-a-number": ([g.gpu(1_000_000, quantity="1_000")], {}, f"{LINE1}/Quantity",
                              "validation_error"),
    "quantity-tiny-unit-price-beyond-max": ([g.gpu(2_000_000_000, quantity="0.000001")], {},
                                            f"{LINE1}/Quantity", "validation_error"),
    "amount-full-width-digits": ([g.XLine("GPU", 1_000_000, amount_text="１００００.００")], {},
                                 f"{LINE1}/Amount", "invalid_amount"),
    "number-full-width-digits": ([g.gpu(1_000_000)], {"invoice_number": "２" * 20},
                                 "TaxSupervisionInfo/InvoiceNumber", "validation_error"),
    "date-full-width-digits": ([g.gpu(1_000_000)], {"issue_time": "２０２６-０４-３０"},
                               "TaxSupervisionInfo/IssueTime", "validation_error"),
    "date-impossible": ([g.gpu(1_000_000)], {"issue_time": "2026-02-30 10:00:00"},
                        "TaxSupervisionInfo/IssueTime", "validation_error"),
    "tax-code-full-width": ([g.gpu(1_000_000, tax_code="３０４")], {},
                            f"{LINE1}/TaxClassificationCode", "validation_error"),
    "buyer-over-64": ([g.gpu(1_000_000)], {"buyer_uscc": "9" * 65},
                      "EInvoiceData/BuyerInformation/BuyerIdNum", "unknown_buyer"),
}


@pytest.mark.parametrize("case", list(BOUNDED))
def test_what_the_json_contract_refuses_is_refused_naming_the_element(world, case):
    lines, fields, element, code = BOUNDED[case]
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, inv(world, lines, **fields).xml()), 422, code)
    assert ("invoice.xml", element, code) in [(e["file"], e["element"], e["code"])
                                              for e in body["errors"]], body["errors"]
    assert all_counts(world.api.engine) == before


def test_amount_beyond_the_contract_maximum_is_invalid_amount(world):
    from service.vouchers.schemas import MAX_FEN
    x = inv(world, [g.XLine("GPU", MAX_FEN + 1, tax_fen=0)])
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, x.xml()), 422, "invalid_amount")
    elements = {e["element"] for e in body["errors"]}
    assert {f"{LINE1}/Amount", "EInvoiceData/BasicInformation/TotalAmWithoutTax"} <= elements
    assert all_counts(world.api.engine) == before


def test_more_lines_than_the_contract_takes_is_refused_before_reading_them(world):
    x = inv(world, [g.gpu(100) for _ in range(501)])
    before = all_counts(world.api.engine)
    refused_xml(world, post_xml(world, x.xml()), 422, "validation_error",
                [("invoice.xml", "EInvoiceData/IssuItemInformation", "validation_error")])
    assert all_counts(world.api.engine) == before


def test_reasons_per_file_are_bounded_and_messages_quote_little(world):
    lines = [g.XLine("GPU", 100, amount_text="x" * 5000) for _ in range(200)]
    x = inv(world, lines, seller_uscc="9" * 100_000)
    before = all_counts(world.api.engine)
    response = post_xml(world, x.xml())
    body = refused_xml(world, response, 422, "invalid_amount")
    assert len(body["errors"]) == 10
    assert "more reasons in this file, not listed" in body["errors"][-1]["message"]
    assert all(len(e["message"]) < 400 for e in body["errors"])
    assert len(response.content) < 20_000
    # Only the seller wrong, but 100,000 characters of it: quoted in part.
    response = post_xml(world, inv(world, seller_uscc="9" * 100_000).xml())
    body = refused_xml(world, response, 422, "seller_mismatch")
    assert len(response.content) < 5_000
    assert all_counts(world.api.engine) == before


@pytest.mark.parametrize("reason, element", [
    ("调整" * 1001, "RedReason"), ("销售\u202e折让", "RedReason")])
def test_red_letter_fields_the_reversal_contract_refuses(world, reason, element):
    original = inv(world)
    assert post_xml(world, original.xml()).status_code == 201
    red = g.red_letter(original, red_reason=reason)
    before = all_counts(world.api.engine)
    refused_xml(world, post_xml(world, red.xml(), params={}), 422, "validation_error", [
        ("invoice.xml", f"EInvoiceData/SpecificInformation/RedEInvoice/{element}",
         "validation_error")])
    assert all_counts(world.api.engine) == before


def test_negative_amounts_on_a_normal_invoice_are_invalid_amount_naming_each(world):
    before = all_counts(world.api.engine)
    x = inv(world, [g.gpu(-1_000_000)])
    basic = "EInvoiceData/BasicInformation"
    refused_xml(world, post_xml(world, x.xml()), 422, "invalid_amount", [
        ("invoice.xml", e, "invalid_amount") for e in (
            f"{basic}/TotalAmWithoutTax", f"{basic}/TotalTaxAm",
            f"{basic}/TotalTax-includedAmount", f"{LINE1}/Amount", f"{LINE1}/ComTaxAm",
            f"{LINE1}/TotaltaxIncludedAmount")])
    # A negative (discount) line under a positive total: that line's amounts are named.
    y = inv(world, [g.gpu(1_000_000), g.XLine("*信息技术服务*折扣", -100_000)])
    line2 = "EInvoiceData/IssuItemInformation[2]"
    refused_xml(world, post_xml(world, y.xml()), 422, "invalid_amount", [
        ("invoice.xml", f"{line2}/{e}", "invalid_amount")
        for e in ("Amount", "ComTaxAm", "TotaltaxIncludedAmount")])
    assert all_counts(world.api.engine) == before


def test_positive_amounts_on_a_red_letter_invoice_are_named(world):
    original = inv(world)
    assert post_xml(world, original.xml()).status_code == 201
    red = g.red_letter(original, [g.XLine("GPU", -1_000_000), g.XLine("GPU", 10_000)])
    before = all_counts(world.api.engine)
    line2 = "EInvoiceData/IssuItemInformation[2]"
    refused_xml(world, post_xml(world, red.xml(), params={}), 422, "invalid_amount", [
        ("invoice.xml", f"{line2}/{e}", "invalid_amount")
        for e in ("Amount", "ComTaxAm", "TotaltaxIncludedAmount")])
    assert all_counts(world.api.engine) == before


@SQLITE_ONLY  # refused while the upload is read, before any database work
@pytest.mark.parametrize("ctype", ["application/octet-stream", "text/plain", None,
                                   "application/x-www-form-urlencoded"])
def test_anything_but_xml_or_zip_is_415_naming_both(world, ctype):
    content = inv(world).xml()
    headers = {**world.prov, **({"Content-Type": ctype} if ctype else {})}
    before = all_counts(world.api.engine)
    for body in (content, g.zip_of({"a.xml": content})):
        r = world.api.client.post("/v1/invoices/xml", content=body, headers=headers,
                                  params=PERIOD)
        assert r.status_code == 415, r.text
        problem = r.json()
        assert problem["code"] == "unsupported_media_type"
        assert "XML" in problem["title"] and "ZIP" in problem["title"]
        assert "json" not in problem["title"].lower()
    assert all_counts(world.api.engine) == before


def test_every_documented_type_is_read(world):
    for ctype, body in (("text/xml", inv(world).xml()),
                        ("application/xml; charset=utf-8", inv(world).xml()),
                        ("application/x-zip-compressed", g.zip_of({"a.xml": inv(world).xml()}))):
        r = world.api.client.post("/v1/invoices/xml", content=body, params=PERIOD,
                                  headers={**world.prov, "Content-Type": ctype})
        assert r.status_code == 201, (ctype, r.text)


def test_member_names_are_bounded(world):
    z = g.zip_of({"a" * 300 + ".xml": inv(world).xml()})
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, z, zip_=True), 422, "unsafe_archive")
    assert len(body["errors"][0]["element"]) <= 255 and len(body["errors"][0]["message"]) < 300
    assert all_counts(world.api.engine) == before


def test_contract_number_query_is_checked_as_the_json_field(world):
    before = all_counts(world.api.engine)
    body = refused_xml(world, post_xml(world, inv(world).xml(),
                                       params={**PERIOD, "contract_number": "HT\u202e1"}),
                       422, "validation_error")
    assert [e["element"] for e in body["errors"]] == ["contract_number"]
    assert all_counts(world.api.engine) == before


def _portal(api, world):
    """A signed-in provider portal session and the XML page's form token."""
    import re
    c = api.client
    login = c.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    key = api.make_key("provider", provider_id=world.provider["id"])
    assert c.post("/web/login", data={"csrf_token": token, "api_key": key},
                  follow_redirects=False).status_code == 303
    page = c.get("/web/provider/xml")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_portal_xml_page_still_posts_what_the_browser_form_sends(world, api):
    """The page sends XML as application/xml and several files or a ZIP as application/zip
    (service/web/xml_upload.py): what the 415 rule leaves readable."""
    token = _portal(api, world)
    one, a, b = inv(world), inv(world), inv(world)
    for files in ([("files", ("one.xml", one.xml(), "application/octet-stream"))],
                  [("files", ("a.xml", a.xml(), "text/xml")),
                   ("files", ("b.xml", b.xml(), "text/xml"))]):
        r = api.client.post("/web/provider/xml", files=files,
                            data={"csrf_token": token, **PERIOD})
        assert r.status_code == 201, r.text[:500]
    numbers = {i["invoice_number"] for i in api.ok("GET", "/v1/invoices",
                                                    headers=world.prov)["items"]}
    assert {one.invoice_number, a.invoice_number, b.invoice_number} <= numbers
    # A refused file: the reason in Chinese, the element named, nothing saved.
    before = all_counts(world.api.engine)
    bad = inv(world, [g.gpu(-1_000_000)])
    r = api.client.post("/web/provider/xml", data={"csrf_token": token, **PERIOD},
                        files=[("files", ("bad.xml", g.declared(bad.xml(), "x-unknown"),
                                          "application/xml"))])
    assert r.status_code == 422
    assert "声明了无法识别的编码" in r.text and "x-unknown" in r.text
    r = api.client.post("/web/provider/xml", data={"csrf_token": token, **PERIOD},
                        files=[("files", ("bad.xml", bad.xml(), "application/xml"))])
    assert r.status_code == 422
    assert "蓝字发票的金额不得为负数" in r.text
    assert "EInvoiceData/IssuItemInformation[1]/Amount" in r.text
    assert all_counts(world.api.engine) == before
