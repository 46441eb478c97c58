"""公示 in a real headless Chromium (issue 24 §4): the admin publishes a batch from its page, an
objection arrives through the public API, the 公示 page shows it with its line and objector,
the admin upholds it there; the printable public notice shows in Chinese and, on the switch,
in English, with no console error (nothing blocked by the CSP, nothing loaded from outside)."""

import pytest

from tests.e2e.conftest import YEAR, raw_key, shot, sign_in
from tests.factories import bearer
from tests.flows import invoice_body, line


@pytest.fixture
def with_notice(server):
    api = server.api
    api.ok("PATCH", f"/v1/years/{YEAR}", json={"notice_working_days": 5})
    yield
    api.ok("PATCH", f"/v1/years/{YEAR}", json={"notice_working_days": 0})


def _approved_batch(world) -> dict:
    api = world.api
    api.voucher(world.enterprise["id"], 5_000_000)
    invoice = api.ok("POST", "/v1/invoices", headers=bearer(world.prov_key), expect=201,
                     json=invoice_body(world.enterprise["uscc"], [line("gpu", 1_000_000)]))
    api.ok("POST", f"/v1/invoices/{invoice['id']}/payments", headers=bearer(world.prov_key),
           json={"amount_fen": invoice["total_fen"], "paid_on": "2026-05-10"}, expect=201)
    api.ok("POST", "/v1/redemptions", headers=bearer(world.ent_key), expect=201,
           json={"invoice_id": invoice["id"]})
    batch = api.ok("POST", "/v1/settlements", json={"year": YEAR}, expect=201)
    return api.ok("POST", f"/v1/settlements/{batch['id']}/approve")


def test_publish_object_and_uphold_in_the_console(with_notice, world, new_page):
    api = world.api
    batch = _approved_batch(world)
    page = new_page()
    sign_in(page, raw_key(api.admin))
    page.goto(f"/web/bureau/settlements/{batch['id']}")
    page.get_by_role("button", name="发布公示").click()
    page.wait_for_load_state("load")
    assert "2026-06-16 – 2026-06-22" in page.locator("[data-notice-window]").inner_text()
    mine = [x for x in api.ok("GET", f"/v1/settlements/{batch['id']}")["lines"]
            if x["beneficiary_id"] == world.enterprise["id"]][0]
    objection = api.client.post(f"/v1/public/notices/{batch['id']}/objections", headers={}, json={
        "line_ids": [mine["line_id"]], "name": "王五", "phone": "0411-84561234",
        "content": "该企业与服务商为同一实际控制人，请核查。"}).json()

    page.goto(f"/web/bureau/notice?year={YEAR}")
    row = page.locator(f"tr[data-objection='{objection['id']}']")
    assert "王五" in row.inner_text() and mine["line_id"] in row.inner_text()
    row.locator("textarea").fill("经核查属实，驳回相关核销")
    row.get_by_label("异议成立").check()
    row.get_by_role("button", name="提交处理结果").click()
    page.wait_for_load_state("load")
    assert "已认定异议成立" in page.locator(".alert-success").first.inner_text()
    shot(page, "notice-console")
    assert page.console_log.errors == [], page.console_log.errors
    [seen] = [o for o in api.ok("GET", "/v1/objections")["items"] if o["id"] == objection["id"]]
    assert seen["status"] == "upheld"

    public = new_page()
    public.goto(f"/public/notices/{batch['id']}")
    assert public.locator("h1").inner_text() == f"{YEAR}年度算力券补贴资金拨付公示"
    assert "王五" not in public.content()
    public.get_by_role("link", name="English").click()
    public.wait_for_load_state("load")
    assert public.url.endswith(f"/public/notices/{batch['id']}")
    assert "public notice" in public.locator("h1").inner_text()
    shot(public, "notice-public-en")
    assert public.console_log.errors == [], public.console_log.errors
