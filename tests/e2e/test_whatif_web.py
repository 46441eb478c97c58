"""The policy what-if page (issue 13, item 6) in a real headless Chromium, in Chinese and
English: the form prefilled with the year's policy, scenarios compared side by side, the
budget curve and winners/losers charts drawn by the locally served ECharts, a sortable group
table and the XLSX link."""

from tests.e2e.conftest import YEAR, shot, sign_in
from tests.e2e.test_web import no_console_errors, paid_invoice
from tests.factories import bearer
from tests.flows import line

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def redeemed_year(world) -> None:
    api = world.api
    voucher = api.voucher(world.enterprise["id"], 80_000_00, year=YEAR)
    invoice = paid_invoice(world, line("gpu", 100_000_00), line("npu", 50_000_00))
    api.ok("POST", "/v1/redemptions", headers=bearer(world.ent_key), expect=201,
           json={"invoice_id": invoice["id"], "voucher_id": voucher["id"]})


def charts_drawn(page) -> list[dict]:
    page.wait_for_function("""() => {
        const els = document.querySelectorAll('[data-whatif]');
        return els.length === 2 && [...els].every(el => window.echarts &&
            window.echarts.getInstanceByDom(el) && el.querySelector('canvas'));
    }""")
    page.wait_for_timeout(600)
    return page.evaluate("""() => [...document.querySelectorAll('[data-whatif]')].map(el => {
        const chart = window.echarts.getInstanceByDom(el);
        const canvas = el.querySelector('canvas');
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width,
                                                             canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted++; }
        return {kind: el.dataset.whatif, series: chart.getOption().series.map(s => s.name),
                painted};
    })""")


def test_bureau_compares_scenarios_in_chinese(world, new_page):
    redeemed_year(world)
    api = world.api
    expected = api.ok("POST", f"/v1/years/{YEAR}/scenarios/compare", expect=200, json={
        "scenarios": [{"name": "比例20%", "overrides": {"rate_bp": 2000}}]})
    page = new_page()
    sign_in(page, api.make_key("admin"))
    page.get_by_role("link", name="政策模拟").click()
    assert page.locator("h1").inner_text() == f"{YEAR} 年政策模拟"
    # the form is prefilled with the year's policy in the first column
    assert page.locator("#s1_rate_bp").input_value() == "3000"
    assert page.locator("#s1_pool_fen").input_value() == "20000000.00"
    assert page.locator("#s1_enterprise_cap_fen").input_value() == "2000000.00"
    assert page.locator("#s2_rate_bp").input_value() == ""
    page.locator("#s1_name").fill("现行政策")
    page.locator("#s2_name").fill("比例20%")
    page.locator("#s2_rate_bp").fill("2000")
    page.locator("#s3_name").fill("资金池减半")
    page.locator("#s3_pool_fen").fill("10000000")
    page.locator("#whatif-run").click()
    page.wait_for_load_state("load")
    totals = page.locator("#whatif-summary [data-total]").evaluate_all(
        "els => els.map(e => +e.dataset.total)")
    baseline = expected["baseline"]["total_subsidy_fen"]
    assert totals == [baseline, baseline, expected["scenarios"][0]["total_subsidy_fen"],
                      baseline]
    assert "补贴比例由 3000 bp" in page.locator("#whatif-results").inner_text()
    drawn = charts_drawn(page)
    curve = next(c for c in drawn if c["kind"] == "curve")
    assert "比例20%" in curve["series"] and any("资金池" in s for s in curve["series"])
    assert all(c["painted"] > 2000 for c in drawn), drawn
    # the group table sorts by a column; a long one is folded (issue 21 item 6): open it first,
    # as a reader would
    table = page.locator("table[data-sortable]").nth(1)
    folded = table.locator("xpath=ancestor::details[1]")
    if folded.count() and not folded.evaluate("d => d.open"):
        folded.locator("summary").first.click()
    table.locator("button.sort[data-col='2']").click()
    assert table.locator("button.sort[data-col='2']").get_attribute("aria-sort") == "ascending"
    values = table.locator("tbody td:nth-child(3)").evaluate_all(
        "els => els.map(e => +e.dataset.v)")
    assert values == sorted(values)
    table.locator("button.sort[data-col='2']").click()
    values = table.locator("tbody td:nth-child(3)").evaluate_all(
        "els => els.map(e => +e.dataset.v)")
    assert values == sorted(values, reverse=True)
    href = page.locator("#whatif-xlsx").get_attribute("href")
    download = page.request.get(href)
    assert download.status == 200 and download.headers["content-type"] == XLSX
    shot(page, "bureau-whatif")
    no_console_errors(page)


def test_the_page_in_english(world, new_page):
    redeemed_year(world)
    page = new_page()
    sign_in(page, world.api.make_key("auditor"))
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="Policy what-if").click()
    assert page.locator("h1").inner_text() == f"Policy what-if {YEAR}"
    page.locator("#s2_name").fill("Cap 1M yuan")
    page.locator("#s2_enterprise_cap_fen").fill("1000000")
    page.locator("#s2_vouchers").select_option("follow_cap") if page.locator(
        "#s2_vouchers").count() else page.locator("select[name='s2_vouchers']").select_option(
        "follow_cap")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_load_state("load")
    text = page.locator("#whatif-results").inner_text()
    assert "Total subsidy" in text and "Gini coefficient" in text
    assert "cap per enterprise (enterprise_cap_fen) from ¥2,000,000.00 to ¥1,000,000.00" in text
    charts_drawn(page)
    assert page.locator("#whatif-xlsx").inner_text() == "Download XLSX"
    shot(page, "bureau-whatif-en")
    no_console_errors(page)
