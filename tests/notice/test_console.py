"""The bureau's 公示 console (issue 24 §4): publish from the batch's page, the window, the
objections with their lines and the objector, resolve; the dashboard counts; both languages."""

import re

import pytest

from tests.notice.helpers import line_of, two_enterprises


@pytest.fixture
def two(api, today):
    today("2026-06-15")
    return two_enterprises(api, notice_working_days=5)


def _sign_in(api, lang: str) -> None:
    client = api.client
    client.cookies.set("cv_lang", lang)
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/web/login").text).group(1)
    key = api.admin["Authorization"].removeprefix("Bearer ")
    r = client.post("/web/login", data={"api_key": key, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("lang, words", [
    ("zh-CN", ("发布公示", "公示中批次", "异议成立", "张三")),
    ("en", ("Publish the notice", "Batches in notice", "Uphold", "张三")),
])
def test_publish_object_and_resolve_from_the_console(two, api, lang, words):
    two.redeem_both()
    batch = two.approved_batch()
    _sign_in(api, lang)
    client = api.client
    page = client.get(f"/web/bureau/settlements/{batch['id']}")
    assert words[0] in page.text
    r = client.post(f"/web/bureau/settlements/{batch['id']}/publish",
                    data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    published = api.ok("GET", f"/v1/settlements/{batch['id']}")
    assert (published["status"], published["notice_ends_on"]) == ("in_notice", "2026-06-22")
    a = line_of(published, two.a.enterprise["id"])["line_id"]
    objection = client.post(f"/v1/public/notices/{batch['id']}/objections", json={
        "line_ids": [a], "name": "张三", "phone": "13912345678",
        "content": "该企业的发票与合同金额不符，请核查。"}).json()
    notice = client.get("/web/bureau/notice", params={"year": 2026})
    assert notice.status_code == 200
    for word in words[1:]:
        assert word in notice.text
    assert f'data-objection="{objection["id"]}"' in notice.text
    assert "2026-06-16 – 2026-06-22" in notice.text
    dash = client.get("/web/bureau", params={"year": 2026})
    assert "data-notice" in dash.text
    detail = client.get(f"/web/bureau/settlements/{batch['id']}")
    assert f'data-line="{a}"' in detail.text and objection["id"] in detail.text
    r = client.post(f"/web/bureau/objections/{objection['id']}/resolve",
                    data={"csrf_token": _csrf(notice.text), "outcome": "dismissed",
                          "reason": "经核查不成立", "back": "/web/bureau/notice"},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/web/bureau/notice")
    [seen] = api.ok("GET", "/v1/objections")["items"]
    assert (seen["status"], seen["resolution_reason"]) == ("dismissed", "经核查不成立")


def test_the_auditor_reads_without_forms(two, api):
    two.redeem_both()
    batch = two.published_batch()
    api.client.post(f"/v1/public/notices/{batch['id']}/objections", json={
        "line_ids": [batch["lines"][0]["line_id"]], "name": "张三", "phone": "13912345678",
        "content": "该企业的发票与合同金额不符，请核查。"})
    client = api.client
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/web/login").text).group(1)
    key = api.auditor()["Authorization"].removeprefix("Bearer ")
    client.post("/web/login", data={"api_key": key, "csrf_token": token})
    page = client.get("/web/bureau/notice", params={"year": 2026})
    assert page.status_code == 200 and "张三" in page.text
    assert "/resolve" not in page.text
