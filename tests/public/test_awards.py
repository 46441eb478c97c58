"""The open-data feed of awards (issue 24 §2, docs/open-data.md) over HTTP, on both databases:
exactly the listed fields, lines of paid batches only, JSON and CSV, pagination, ETag and 304,
and never a bank account, contact or key."""

import csv
import io

import pytest

from service.kit.config import get_settings
from service.public.awards import FIELDS
from tests.flows import line, make_world
from tests.inprocess import InProcessClient

PHONE, BANK_NAME = "13812345678", "招商银行大连分行"


@pytest.fixture
def year(api, today):
    """2026: batch 1 paid on 06-01 and clawed back on 06-15, batch 2 paid on 06-10, batch 3 a
    draft (unpaid) of 06-20."""
    today("2026-06-01")
    world = make_world(api)
    api.ok("PATCH", f"/v1/enterprises/{world.enterprise['id']}",
           json={"contact_phone": PHONE, "legal_representative": "张三", "bank_name": BANK_NAME,
                 "account_name": "大连算力应用有限公司基本户"})
    world.voucher(2_000_000)
    first = world.invoice([line("gpu", 1_000_000)], end="2026-05-31")
    world.redeem(first["id"])
    paid_1 = world.settle()
    today("2026-06-10")
    world.redeem(world.invoice([line("gpu", 400_000)], end="2026-05-31")["id"])
    paid_2 = world.settle()
    today("2026-06-15")
    world.reverse(first["id"], 500_000)  # eligible 300_000 → 150_000: a clawback of 150_000
    today("2026-06-20")
    world.redeem(world.invoice([line("gpu", 100_000)], end="2026-05-31")["id"])
    draft = world.settle(approve_and_pay=False)
    enterprise = api.ok("GET", f"/v1/enterprises/{world.enterprise['id']}")
    return world, enterprise, paid_1, paid_2, draft


def _award(world, enterprise, batch, **amounts):
    return {"identifier": f"{batch['id']}-{enterprise['id']}",
            "title": f"算力券 2026: {enterprise['name']}", "currency": "CNY", **amounts,
            "recipient_org_id": enterprise["uscc"], "recipient_name": enterprise["name"],
            "recipient_district": "高新园区", "beneficiary_type": "enterprise",
            "funding_org_name": "大连市数据局", "programme": "算力券 2026",
            "settlement_id": batch["id"]}


def test_one_row_per_line_of_a_paid_batch_with_exactly_the_listed_fields(api, year):
    world, enterprise, paid_1, paid_2, draft = year
    r = api.client.get("/v1/public/awards", params={"year": 2026})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    page = r.json()
    assert set(page) == {"items", "next_cursor"} and page["next_cursor"] is None
    expected = sorted([
        _award(world, enterprise, paid_1, amount_awarded_fen=300_000,
               amount_disbursed_fen=300_000, clawback_fen=150_000, award_date="2026-06-01",
               last_modified="2026-06-15T12:00:00+08:00"),
        _award(world, enterprise, paid_2, amount_awarded_fen=120_000,
               amount_disbursed_fen=120_000, clawback_fen=0, award_date="2026-06-10",
               last_modified="2026-06-10T12:00:00+08:00"),
    ], key=lambda a: a["identifier"])
    assert page["items"] == expected
    assert all(list(item) == list(FIELDS) for item in page["items"])
    assert draft["id"] not in r.text
    assert api.client.get("/v1/public/awards", params={"year": 2027}).json() == {
        "items": [], "next_cursor": None}


def test_a_batch_appears_only_once_paid(api, year):
    world, enterprise, *_, draft = year
    before = {a["settlement_id"] for a in
              api.client.get("/v1/public/awards", params={"year": 2026}).json()["items"]}
    api.ok("POST", f"/v1/settlements/{draft['id']}/approve")
    approved = api.client.get("/v1/public/awards", params={"year": 2026}).json()["items"]
    assert {a["settlement_id"] for a in approved} == before
    api.ok("POST", f"/v1/settlements/{draft['id']}/pay", json={"bank_reference": "BOC-3"})
    (row,) = [a for a in api.client.get("/v1/public/awards", params={"year": 2026}).json()[
        "items"] if a["settlement_id"] == draft["id"]]
    # 30_000 awarded, all of it netted against the 150_000 clawback still owed: nothing paid
    assert (row["amount_awarded_fen"], row["amount_disbursed_fen"], row["clawback_fen"]) == (
        30_000, 0, 0)


def test_no_bank_data_contact_or_key_in_either_format(api, year):
    world, enterprise, *_ = year
    secrets = [enterprise["bank_account"], BANK_NAME, PHONE, "张三", "基本户",
               world.provider["uscc"], "BOC-2026-0001", "Bearer"]
    for fmt in ("json", "csv"):
        text = api.client.get("/v1/public/awards", params={"year": 2026, "format": fmt}).text
        assert enterprise["uscc"] in text
        for secret in secrets:
            assert secret not in text, (fmt, secret)
        # the account number without its spaces, as a bank file would write it
        assert enterprise["bank_account"].replace(" ", "") not in text


def test_csv_has_the_same_rows_under_a_header_of_the_fields(api, year):
    as_json = api.client.get("/v1/public/awards", params={"year": 2026}).json()["items"]
    r = api.client.get("/v1/public/awards", params={"year": 2026, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == list(FIELDS)
    assert rows[1:] == [[str(a[f]) if a[f] is not None else "" for f in FIELDS]
                        for a in as_json]


def test_pages_follow_the_identifier_and_cover_every_row(api, year):
    everything = api.client.get("/v1/public/awards", params={"year": 2026}).json()["items"]
    first = api.client.get("/v1/public/awards", params={"year": 2026, "limit": 1})
    assert first.json()["items"] == everything[:1]
    cursor = first.json()["next_cursor"]
    assert cursor and f"cursor={cursor}" in first.headers["link"]
    second = api.client.get("/v1/public/awards", params={"year": 2026, "limit": 1,
                                                         "cursor": cursor})
    assert second.json() == {"items": everything[1:], "next_cursor": None}
    assert "link" not in second.headers
    csv_page = api.client.get("/v1/public/awards", params={"year": 2026, "limit": 1,
                                                           "format": "csv", "cursor": cursor})
    assert len(csv_page.content.decode("utf-8-sig").splitlines()) == 2
    for bad in ("x", "c3RsXzE", cursor + "A"):
        r = api.client.get("/v1/public/awards", params={"year": 2026, "cursor": bad})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor", bad


def test_etag_and_cache_control_and_304(api, year, today):
    world = year[0]
    r = api.client.get("/v1/public/awards", params={"year": 2026})
    tag = r.headers["etag"]
    assert tag.startswith('"') and r.headers["cache-control"] == "public, max-age=300"
    again = api.client.get("/v1/public/awards", params={"year": 2026},
                           headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    listed = api.client.get("/v1/public/awards", params={"year": 2026},
                            headers={"If-None-Match": f'"other", W/{tag}'})
    assert listed.status_code == 304
    csv_tag = api.client.get("/v1/public/awards",
                             params={"year": 2026, "format": "csv"}).headers["etag"]
    assert csv_tag != tag
    # another paid batch changes the data: the old tag no longer matches
    today("2026-07-01")
    second = world.invoice([line("gpu", 1_000_000)], end="2026-05-31")
    world.redeem(second["id"])
    world.settle()
    changed = api.client.get("/v1/public/awards", params={"year": 2026},
                             headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


def test_no_key_needed_and_a_malformed_query_is_422(api, year):
    assert api.client.get("/v1/public/awards", params={"year": 2026},
                          headers={"Authorization": "Bearer nonsense"}).status_code == 200
    for params in ({}, {"year": "x"}, {"year": 2026, "format": "xml"},
                   {"year": 2026, "limit": 0}):
        r = api.client.get("/v1/public/awards", params=params)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", params


def test_rate_limited_per_client_address_with_retry_after(api, app, year, monkeypatch):
    monkeypatch.setattr(get_settings(), "open_data_rate_limit", 3)
    monkeypatch.setattr(get_settings(), "open_data_rate_window_s", 60)
    for _ in range(3):
        assert api.client.get("/v1/public/awards", params={"year": 2026}).status_code == 200
    refused = api.client.get("/v1/public/awards", params={"year": 2026, "format": "csv"})
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    # the clock stands at noon: the next 60-second window opens in 60 s
    assert refused.headers["retry-after"] == "61"
    assert "recipient_name" not in refused.text
    # a key does not lift the limit; another address has its own count
    assert api.client.get("/v1/public/awards", params={"year": 2026},
                          headers=api.admin).status_code == 429
    with InProcessClient(app, client=("203.0.113.9", 50000)) as elsewhere:
        assert elsewhere.get("/v1/public/awards", params={"year": 2026}).status_code == 200


def test_a_provider_paid_in_deduction_mode_has_no_district(api, today):
    today("2026-06-01")
    world = make_world(api, settlement_mode="deduction")
    world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 200_000)], end="2026-05-31")["id"])
    batch = world.settle()
    (award,) = api.client.get("/v1/public/awards", params={"year": 2026}).json()["items"]
    provider = world.provider
    assert award == {
        "identifier": f"{batch['id']}-{provider['id']}", "title": f"算力券 2026: {provider['name']}",
        "currency": "CNY", "amount_awarded_fen": 60_000, "amount_disbursed_fen": 60_000,
        "clawback_fen": 0, "award_date": "2026-06-01", "recipient_org_id": provider["uscc"],
        "recipient_name": provider["name"], "recipient_district": None,
        "beneficiary_type": "provider", "funding_org_name": "大连市数据局",
        "programme": "算力券 2026", "settlement_id": batch["id"],
        "last_modified": "2026-06-01T12:00:00+08:00"}
    text = api.client.get("/v1/public/awards", params={"year": 2026, "format": "csv"}).text
    assert f",{provider['name']},,provider," in text
    assert provider["bank_account"] not in text


def test_the_funder_and_programme_come_from_the_settings(api, year, monkeypatch):
    monkeypatch.setattr(get_settings(), "open_data_funding_org_name", "Dalian Data Bureau")
    monkeypatch.setattr(get_settings(), "open_data_programme", "Compute vouchers")
    awards = api.client.get("/v1/public/awards", params={"year": 2026}).json()["items"]
    assert {(a["funding_org_name"], a["programme"]) for a in awards} == {
        ("Dalian Data Bureau", "Compute vouchers 2026")}
    assert all(a["title"].startswith("Compute vouchers 2026: ") for a in awards)


def test_a_refused_request_writes_nothing_not_even_its_hit(api, year, engine):
    from tests.conftest import sql

    before = sql(engine, "SELECT COALESCE(SUM(hits), 0) FROM rate_window").scalar()
    for params in ({"year": 2026, "cursor": "x"}, {"year": 2026, "limit": 0}, {}):
        assert api.client.get("/v1/public/awards", params=params).status_code == 422
    assert sql(engine, "SELECT COALESCE(SUM(hits), 0) FROM rate_window").scalar() == before
    api.client.get("/v1/public/awards", params={"year": 2026})
    assert sql(engine, "SELECT COALESCE(SUM(hits), 0) FROM rate_window").scalar() == before + 1
