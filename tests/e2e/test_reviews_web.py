"""The bureau's review queue, review page and rule precision table in a real headless Chromium
(issue 14 item 6), in Chinese and English."""

from sqlalchemy import text

from tests.e2e.conftest import YEAR, shot, sign_in
from tests.factories import bearer
from tests.flows import invoice_body, line


def held_redemption(world) -> dict:
    api = world.api
    api.ok("PATCH", f"/v1/enterprises/{world.enterprise['id']}",
           json={"contact_phone": "0411-8476 5432", "bank_account": "6222 0200 1111 2222"})
    api.ok("PATCH", f"/v1/providers/{world.provider['id']}",
           json={"contact_phone": "041184765432"})
    api.voucher(world.enterprise["id"], 1_000_000_00, year=YEAR)
    prov = bearer(world.prov_key)
    invoice = api.ok("POST", "/v1/invoices", headers=prov, expect=201,
                     json=invoice_body(world.enterprise["uscc"],
                                       [line("gpu", 1_234_500, unit="卡时")]))
    api.ok("POST", f"/v1/invoices/{invoice['id']}/payments", headers=prov, expect=201,
           json={"amount_fen": invoice["total_fen"], "paid_on": "2026-05-10"})
    r = api.ok("POST", "/v1/redemptions", headers=bearer(world.ent_key), expect=201,
               json={"invoice_id": invoice["id"]})
    assert r["status"] == "under_review", r
    return r


def test_bureau_reviews_a_held_redemption(world, new_page):
    api = world.api
    before = api.ok("GET", f"/v1/years/{YEAR}")["review_threshold"]
    api.ok("PATCH", f"/v1/years/{YEAR}", json={"review_threshold": 50})
    try:
        r = held_redemption(world)
        review = next(i for i in api.ok("GET", "/v1/reviews?status=open")["items"]
                      if i["redemption_id"] == r["id"])
        with api.engine.begin() as conn:  # an overdue one, as a week later
            conn.execute(text("UPDATE review SET due_on = '2026-06-10' WHERE id = :i"),
                         {"i": review["id"]})
        page = new_page()
        sign_in(page, api.make_key("admin"))
        page.goto(f"/web/bureau?year={YEAR}")
        assert "待复核核销" in page.locator("[data-held]").inner_text()
        page.locator("#sidebar").get_by_role("link", name="风险复核").click()
        row = page.locator(f"tr[data-review='{review['id']}']")
        assert "overdue" in (row.get_attribute("class") or "")
        assert row.locator("[data-overdue]").inner_text() == "已逾期"
        assert "联系电话相同" in row.inner_text()
        shot(page, "review-queue")
        row.get_by_role("link", name="查看").click()
        assert page.locator("[data-flag='shared_contact']").is_visible()
        assert "0411-8476 5432" in page.locator("[data-flag='shared_contact']").inner_text()
        shared = page.locator("tr[data-fact='contact_phone']")
        assert "shared" in (shared.get_attribute("class") or "")
        assert "0411-8476 5432" in shared.inner_text() and "041184765432" in shared.inner_text()
        assert "12,345.00" in page.locator("[data-invoice-lines]").inner_text()
        shot(page, "review-detail")
        page.locator("#reject-reason").fill("联系电话与服务商一致，系关联交易")
        page.get_by_role("button", name="驳回（退回券余额）").click()
        assert "已驳回" in page.locator(".alert-success").inner_text()
        assert "联系电话与服务商一致" in page.locator("[data-decisions]").inner_text()
        assert api.ok("GET", f"/v1/redemptions/{r['id']}")["status"] == "rejected"
        page.locator("#sidebar").get_by_role("link", name="风险规则").click()
        rule = page.locator("tr[data-rule='shared_contact']")
        assert rule.locator("[data-precision]").inner_text() == "100.00%"
        page.goto("/web/lang/en?next=/web/bureau/reviews?status=rejected")
        assert "Risk review queue" in page.locator("h1").inner_text()
        assert "share a contact phone" in page.locator(
            f"tr[data-review='{review['id']}']").inner_text()
        assert page.console_log.errors == []
    finally:
        api.ok("PATCH", f"/v1/years/{YEAR}", json={"review_threshold": before})


def test_auditor_sees_the_queue_without_forms(world, new_page):
    page = new_page()
    sign_in(page, world.api.make_key("auditor"))
    page.goto("/web/bureau/reviews?status=rejected")
    assert page.locator("h1").inner_text() == "风险复核队列"
    for link in page.locator("tr[data-review] a").all()[:1]:
        link.click()
        assert page.locator("form[action$='/clear']").count() == 0
