"""The public notice (issue 24 §1): no key, exactly the listed fields, newest first; never a
bank account, a contact, a key id, an internal note, a reviewer's name or an objector."""

import json

import pytest

from tests.notice.helpers import line_of, two_enterprises

NOTICE_FIELDS = {"id", "year", "title", "published_on", "notice_starts_on", "notice_ends_on",
                 "status", "total_fen", "lines"}
LINE_FIELDS = {"line_id", "recipient_name", "recipient_uscc", "district", "beneficiary_type",
               "amount_fen"}


@pytest.fixture
def two(api, today):
    today("2026-06-15")  # a Monday
    return two_enterprises(api, notice_working_days=5)


def test_the_notice_carries_exactly_the_listed_fields(two, api, client):
    two.redeem_both()
    batch = two.published_batch()
    notice = client.get(f"/v1/public/notices/{batch['id']}").json()
    assert set(notice) == NOTICE_FIELDS
    assert {k: notice[k] for k in NOTICE_FIELDS - {"lines", "title"}} == {
        "id": batch["id"], "year": 2026, "published_on": "2026-06-15",
        "notice_starts_on": "2026-06-16", "notice_ends_on": "2026-06-22", "status": "in_notice",
        "total_fen": 900_000}
    assert notice["title"] == "2026年度算力券补贴资金拨付公示"
    a, b = (line_of(batch, w.enterprise["id"]) for w in (two.a, two.b))
    assert sorted(notice["lines"], key=lambda x: x["amount_fen"]) == [
        {"line_id": a["line_id"], "recipient_name": two.a.enterprise["name"],
         "recipient_uscc": two.a.enterprise["uscc"], "district": two.a.enterprise["district"],
         "beneficiary_type": "enterprise", "amount_fen": 300_000},
        {"line_id": b["line_id"], "recipient_name": two.b.enterprise["name"],
         "recipient_uscc": two.b.enterprise["uscc"], "district": two.b.enterprise["district"],
         "beneficiary_type": "enterprise", "amount_fen": 600_000}]
    assert all(set(x) == LINE_FIELDS for x in notice["lines"])


def test_list_newest_first_paginated_and_unpublished_batches_absent(two, api, client, today):
    two.redeem_both()
    first = two.published_batch()
    two.a.redeem(two.a.invoice([{"category": "gpu", "description": "GPU", "quantity": 1,
                                 "unit": "月", "unit_price_fen": 100_000,
                                 "amount_fen": 100_000}])["id"])
    second = two.published_batch()
    page = client.get("/v1/public/notices", params={"limit": 1}).json()
    assert [n["id"] for n in page["items"]] == [second["id"]]
    assert set(page["items"][0]) == NOTICE_FIELDS
    rest = client.get("/v1/public/notices",
                      params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert ([n["id"] for n in rest["items"]], rest["next_cursor"]) == ([first["id"]], None)
    two.b.redeem(two.b.invoice([{"category": "gpu", "description": "GPU", "quantity": 1,
                                 "unit": "月", "unit_price_fen": 50_000,
                                 "amount_fen": 50_000}])["id"])
    draft = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    r = client.get(f"/v1/public/notices/{draft['id']}")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert draft["id"] not in [n["id"] for n in client.get("/v1/public/notices").json()["items"]]


def test_status_closes_after_the_window(two, client, today):
    two.redeem_both()
    batch = two.published_batch()
    today("2026-06-22")
    assert client.get(f"/v1/public/notices/{batch['id']}").json()["status"] == "in_notice"
    today("2026-06-23")
    assert client.get(f"/v1/public/notices/{batch['id']}").json()["status"] == "closed"


def test_nothing_private_appears_in_the_json_or_the_page(two, api, client):
    two.redeem_both()
    batch = two.published_batch()
    line_id = batch["lines"][0]["line_id"]
    client.post(f"/v1/public/notices/{batch['id']}/objections", json={
        "line_ids": [line_id], "name": "欧阳秘密", "phone": "13912345678",
        "organisation": "保密研究所", "content": "该企业与服务商存在关联关系，请核查。"})
    private = {api.ok("GET", f"/v1/enterprises/{w.enterprise['id']}")[k]
               for w in (two.a, two.b) for k in ("bank_account", "bank_name")}
    private |= {"欧阳秘密", "13912345678", "保密研究所", "关联关系"}
    keys = api.ok("GET", "/v1/api-keys")["items"]
    private |= {k["id"] for k in keys}
    private |= {k["name"] for k in keys}
    private -= {None, ""}
    listing = client.get("/v1/public/notices").text
    one = client.get(f"/v1/public/notices/{batch['id']}").text
    for lang, heading in (("zh-CN", "2026年度算力券补贴资金拨付公示"),
                          ("en", "Compute voucher subsidy payments for 2026: public notice")):
        client.cookies.set("cv_lang", lang)
        page = client.get(f"/public/notices/{batch['id']}")
        assert page.status_code == 200
        assert heading in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "http://" not in page.text and "https://" not in page.text
        for text in (listing, one, page.text):
            for secret in private:
                assert secret not in text, (secret, lang)
    assert json.loads(one)["lines"]  # the scan read a real notice


def test_the_page_of_an_unpublished_batch_is_404(two, api, client):
    two.redeem_both()
    draft = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    page = client.get(f"/public/notices/{draft['id']}")
    assert page.status_code == 404
    assert "没有这份公示" in page.text


def test_the_language_switch_comes_back_to_the_notice(two, client):
    two.redeem_both()
    batch = two.published_batch()
    r = client.get(f"/web/lang/en?next=/public/notices/{batch['id']}", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/public/notices/{batch['id']}")
