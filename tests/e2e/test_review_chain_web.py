"""The review chain in the console, in a real headless Chromium (issue 14, item 6): each
reviewer's inbox, approve / send back / reject with a reason, the trail on the pages."""

import pytest

from tests.e2e.conftest import YEAR, shot, sign_in
from tests.factories import bearer
from tests.flows import invoice_body, line

CHAIN = ["district", "city", "finance"]


def _reviewer(api, level: str, district: str | None = None) -> str:
    body = {"role": "reviewer", "name": f"{level} 复核员", "review_level": level}
    if district:
        body["district"] = district
    return api.ok("POST", "/v1/api-keys", json=body, expect=201)["key"]


@pytest.fixture
def chain(server):
    """The session's year with the three-level chain for the test, back to ["city"] after."""
    api = server.api
    api.ok("PATCH", f"/v1/years/{YEAR}", json={"review_levels": CHAIN})
    yield
    api.ok("PATCH", f"/v1/years/{YEAR}", json={"review_levels": ["city"]})


def _decide(page, decision_label: str, reason: str | None = None) -> None:
    if reason is not None:
        page.locator("#reason").fill(reason)
    form = page.locator("form.review-form")
    form.get_by_label(decision_label, exact=True).check()
    form.get_by_role("button", name="提交").click()
    page.wait_for_load_state("load")


def _alert(page, kind: str) -> str:
    return page.locator(f".alert-{kind}").first.inner_text()


def test_an_application_passes_the_chain_in_the_console(chain, world, new_page):
    api = world.api
    district = world.enterprise["district"]
    keys = {"district": _reviewer(api, "district", district), "city": _reviewer(api, "city"),
            "finance": _reviewer(api, "finance")}
    app = api.ok("POST", "/v1/applications", headers=bearer(world.ent_key), expect=201,
                 json={"year": YEAR, "requested_fen": 1_000_000, "project_name": "智慧港口模型",
                       "purpose": "租用 GPU 训练"})
    assert app["review_level"] == "district"

    page = new_page()
    sign_in(page, keys["district"])
    assert page.url.endswith("/web/inbox")
    assert "复核员" in page.locator(".who-role").inner_text()
    assert district in page.content()
    row = page.locator(f"tr[data-application='{app['id']}']")
    row.get_by_role("link", name="查看并复核").click()
    page.wait_for_load_state("load")
    assert page.locator("[data-waiting]").inner_text() == "区县复核"
    assert page.locator("table.trail").count() == 0
    shot(page, "review-inbox-application")
    _decide(page, "通过", "属地复核通过")
    assert "已提交复核意见" in _alert(page, "success")
    assert page.locator(f"tr[data-application='{app['id']}']").count() == 0
    assert page.url.endswith("/web/inbox")

    city = new_page()
    sign_in(city, keys["city"])
    city.goto(f"/web/inbox/applications/{app['id']}")
    _decide(city, "退回上一级")  # no reason: refused in words, nothing recorded
    assert "提交的内容有误" in _alert(city, "error")
    assert api.ok("GET", f"/v1/applications/{app['id']}")["review_level"] == "city"
    _decide(city, "退回上一级", "请补充用电证明")
    assert "已提交复核意见：退回上一级" in _alert(city, "success")

    page.goto(f"/web/inbox/applications/{app['id']}")
    assert page.locator("table.trail tbody tr").count() == 2
    assert "请补充用电证明" in page.locator("table.trail").inner_text()
    _decide(page, "通过", "已补充")
    city.goto(f"/web/inbox/applications/{app['id']}")
    _decide(city, "通过")

    # A reviewer of another level sees the page but has nothing to decide there.
    page.goto(f"/web/inbox/applications/{app['id']}")
    assert page.locator("form.review-form").count() == 0
    assert "该事项当前不在本级" in page.content()

    finance = new_page()
    sign_in(finance, keys["finance"])
    row = finance.locator(f"tr[data-application='{app['id']}']")
    assert row.count() == 1
    row.get_by_role("link", name="查看并复核").click()
    finance.wait_for_load_state("load")
    finance.locator("#approved_yuan").fill("6000")
    _decide(finance, "通过", "同意")
    assert "已提交复核意见：通过" in _alert(finance, "success")
    done = api.ok("GET", f"/v1/applications/{app['id']}")
    assert (done["status"], done["approved_fen"], done["review_level"]) == (
        "approved", 600_000, None)
    assert [(r["level"], r["decision"]) for r in done["reviews"]] == [
        ("district", "approve"), ("city", "send_back"), ("district", "approve"),
        ("city", "approve"), ("finance", "approve")]

    finance.goto(f"/web/inbox/applications/{app['id']}")
    assert finance.locator("table.trail tbody tr").count() == 5
    assert finance.locator("[data-waiting]").inner_text() == "已办结"
    finance.goto(f"/web/lang/en?next=/web/inbox/applications/{app['id']}")
    assert finance.get_by_role("heading", name="Review trail").count() == 1
    assert "Finance bureau" in finance.locator("table.trail").inner_text()
    shot(finance, "review-trail-en")
    for p in (page, city, finance):
        assert p.console_log.errors == [], p.console_log.errors


def test_a_reviewer_of_another_district_sees_nothing_of_this_one(chain, world, new_page):
    api = world.api
    app = api.ok("POST", "/v1/applications", headers=bearer(world.ent_key), expect=201,
                 json={"year": YEAR, "requested_fen": 500_000, "project_name": "质检模型",
                       "purpose": "推理"})
    page = new_page()
    sign_in(page, _reviewer(api, "district", "旅顺口区"))
    assert page.locator(f"tr[data-application='{app['id']}']").count() == 0
    page.goto(f"/web/inbox/applications/{app['id']}")
    assert page.url.endswith("/web/inbox")
    assert "找不到该记录" in _alert(page, "error")
    # The bureau rejects it from the inbox, with a reason, at the level it waits at.
    admin = new_page()
    sign_in(admin, api.make_key("admin"))
    admin.goto(f"/web/inbox/applications/{app['id']}")
    _decide(admin, "驳回", "重复申报")
    rejected = api.ok("GET", f"/v1/applications/{app['id']}")
    assert (rejected["status"], rejected["reason"]) == ("rejected", "重复申报")
    assert rejected["reviews"][-1]["level"] == "district"


def test_a_settlement_batch_shows_its_chain_and_is_paid_after_the_last_level(
        chain, world, new_page):
    api = world.api
    prov = bearer(world.prov_key)
    invoice = api.ok("POST", "/v1/invoices", headers=prov, expect=201,
                     json=invoice_body(world.enterprise["uscc"], [line("gpu", 2_000_000)]))
    api.ok("POST", f"/v1/invoices/{invoice['id']}/payments", headers=prov, expect=201,
           json={"amount_fen": invoice["total_fen"], "paid_on": "2026-05-10"})
    api.voucher(world.enterprise["id"], 1_000_000, year=YEAR)
    api.ok("POST", "/v1/redemptions", headers=bearer(world.ent_key), expect=201,
           json={"invoice_id": invoice["id"]})
    batch = api.ok("POST", "/v1/settlements", json={"year": YEAR}, expect=201)
    assert batch["review_level"] == "district"

    admin = new_page()
    sign_in(admin, api.make_key("admin"))
    admin.goto(f"/web/bureau/settlements/{batch['id']}")
    admin.locator(f"form[action='/web/bureau/settlements/{batch['id']}/approve'] button").click()
    admin.wait_for_load_state("load")
    assert "前序复核环节尚未全部通过" in _alert(admin, "error")

    district = new_page()
    sign_in(district, _reviewer(api, "district", world.enterprise["district"]))
    row = district.locator(f"tr[data-settlement='{batch['id']}']")
    row.get_by_role("link", name="查看并复核").click()
    district.wait_for_load_state("load")
    _decide(district, "通过", "属地核对无误")
    for level in ("city", "finance"):
        reviewer = new_page()
        sign_in(reviewer, _reviewer(api, level))
        reviewer.goto(f"/web/inbox/settlements/{batch['id']}")
        _decide(reviewer, "通过")
        assert "已提交复核意见" in _alert(reviewer, "success")

    admin.goto(f"/web/bureau/settlements/{batch['id']}")
    assert admin.locator("table.trail tbody tr").count() == 3
    assert admin.locator("[data-waiting]").inner_text() == "已办结"
    admin.locator("#bank_reference").fill("BOC-2026-0615")
    admin.locator(f"form[action='/web/bureau/settlements/{batch['id']}/pay'] button").click()
    admin.wait_for_load_state("load")
    assert api.ok("GET", f"/v1/settlements/{batch['id']}")["status"] == "paid"
    shot(admin, "review-settlement-paid")
    assert admin.console_log.errors == [], admin.console_log.errors
