"""The web pages in a real headless Chromium (issue 6)."""

import re

import httpx
import pytest

from tests.e2e.conftest import YEAR, shot, sign_in
from tests.factories import bearer, uscc
from tests.flows import invoice_body, line


def stat(page, name: str) -> str:
    return page.locator(f"[data-stat='{name}'] .stat-value").inner_text().replace("¥", "").strip()


def fen_of(text: str) -> int:
    whole, part = text.replace(",", "").split(".")
    return int(whole) * 100 + int(part)


def paid_invoice(world, *lines_: dict) -> dict:
    api = world.api
    prov = bearer(world.prov_key)
    invoice = api.ok("POST", "/v1/invoices", headers=prov, expect=201,
                     json=invoice_body(world.enterprise["uscc"], list(lines_)))
    return api.ok("POST", f"/v1/invoices/{invoice['id']}/payments", headers=prov, expect=201,
                  json={"amount_fen": invoice["total_fen"], "paid_on": "2026-05-10"})


def no_console_errors(page) -> None:
    assert page.console_log.errors == [], page.console_log.errors


@pytest.mark.parametrize("role", ["admin", "auditor", "enterprise", "provider"])
def test_sign_in_as_each_role_lands_on_its_home(role, world, new_page):
    keys = {"admin": lambda: world.api.make_key("admin"),
            "auditor": lambda: world.api.make_key("auditor"),
            "enterprise": lambda: world.ent_key, "provider": lambda: world.prov_key}
    homes = {"admin": "/web/bureau", "auditor": "/web/bureau", "enterprise": "/web/enterprise",
             "provider": "/web/provider"}
    page = new_page()
    page.goto("/web/login")
    if role == "admin":
        shot(page, "login")
    sign_in(page, keys[role]())
    assert page.url.endswith(homes[role])
    cookie = next(c for c in page.context.cookies() if c["name"] == "cv_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert keys[role]() not in page.content()  # a fresh key; the signed-in one is never shown
    assert "cvk_" not in page.content() and "cvk_" not in page.url
    page.get_by_role("button", name="退出登录").click()
    assert "/web/login" in page.url
    page.goto(homes[role])
    assert "/web/login" in page.url  # signed out for real
    no_console_errors(page)


def test_bad_key_is_refused_in_words(new_page):
    page = new_page()
    sign_in(page, "cvk_not-a-real-key")
    assert "/web/login" in page.url
    assert "密钥无效" in page.locator(".alert-error").inner_text()


def test_bureau_approves_an_application_and_sees_the_budget_change(world, new_page):
    api = world.api
    application = api.ok("POST", "/v1/applications", headers=bearer(world.ent_key), expect=201,
                         json={"year": YEAR, "requested_fen": 800_000_00,
                               "project_name": "大模型训练平台",
                               "purpose": "采购 GPU 算力训练行业大模型"})
    page = new_page()
    sign_in(page, api.make_key("admin"))
    page.goto(f"/web/bureau?year={YEAR}")
    issued_before = fen_of(stat(page, "issued_fen"))
    available_before = fen_of(stat(page, "available_fen"))

    page.locator("#sidebar").get_by_role("link", name="申领审核").click()
    row = page.locator(f"tr[data-application='{application['id']}']")
    amount = row.get_by_label("批准金额（元）")
    assert amount.input_value() == "800000.00"
    amount.fill("600,000.50")  # the bureau approves less than requested
    shot(page, "bureau-applications")
    row.get_by_role("button", name="批准").click()
    success = page.locator(".alert-success")
    assert "600,000.50" in success.inner_text()

    page.locator("#sidebar").get_by_role("link", name="预算总览").click()
    assert fen_of(stat(page, "issued_fen")) == issued_before + 600_000_50
    assert fen_of(stat(page, "available_fen")) == available_before - 600_000_50
    no_console_errors(page)


def test_bureau_rejects_with_a_reason_and_sees_errors_in_words(world, new_page):
    api = world.api
    application = api.ok("POST", "/v1/applications", headers=bearer(world.ent_key), expect=201,
                         json={"year": YEAR, "requested_fen": 3_000_000_00,
                               "project_name": "超大规模训练集群", "purpose": "测试"})
    page = new_page()
    sign_in(page, api.make_key("admin"))
    page.goto("/web/bureau/applications")
    row = page.locator(f"tr[data-application='{application['id']}']")
    # approving the full 3,000,000 yuan would pass the 2,000,000 yuan cap per enterprise
    row.get_by_role("button", name="批准").click()
    error = page.locator(".alert-error")
    assert "超过该企业本年度的补贴上限" in error.inner_text()
    assert error.get_attribute("data-code") == "enterprise_cap_exceeded"
    row = page.locator(f"tr[data-application='{application['id']}']")
    row.get_by_label("驳回理由").fill("材料不全")
    row.get_by_role("button", name="驳回").click()
    assert "已驳回" in page.locator(".alert-success").inner_text()


def test_enterprise_redeems_and_sees_its_balance_drop(world, new_page):
    api = world.api
    voucher = api.voucher(world.enterprise["id"], 50_000_00, year=YEAR)
    invoice = paid_invoice(world, line("gpu", 100_000_00), line("storage", 5_000_00))
    page = new_page()
    sign_in(page, world.ent_key)
    assert page.url.endswith("/web/enterprise")
    balance = page.locator(f"tr[data-voucher='{voucher['code']}'] .balance")
    assert balance.inner_text() == "50,000.00"
    row = page.locator(f"tr[data-invoice='{invoice['invoice_number']}']")
    assert "30,000.00" in row.inner_text()  # the subsidy it would earn: 30% of the GPU line
    shot(page, "enterprise-home")
    row.get_by_role("button", name="核销").click()
    message = page.locator(".alert-success").inner_text()
    assert "30,000.00" in message and voucher["code"] in message
    assert page.locator(f"tr[data-voucher='{voucher['code']}'] .balance").inner_text() \
        == "20,000.00"
    assert page.locator("#total-balance").inner_text().endswith("20,000.00")
    page.locator("#sidebar").get_by_role("link", name="核销历史").click()
    assert invoice["invoice_number"] in page.locator("table").inner_text()
    shot(page, "enterprise-redemptions")
    page.locator("#sidebar").get_by_role("link", name="申领算力券").click()
    page.get_by_label("申请金额（元）").fill("200000")
    page.get_by_label("项目名称").fill("智能客服模型微调")
    page.get_by_label("用途").fill("租用 NPU 算力进行模型微调")
    page.get_by_role("button", name="提交").click()
    assert "申领已提交" in page.locator(".alert-success").inner_text()
    assert "智能客服模型微调" in page.locator("table").inner_text()
    shot(page, "enterprise-apply")
    no_console_errors(page)


def _csv(rows: list[list[str]]) -> bytes:
    header = ["invoice_number", "enterprise_uscc", "issued_on", "service_start", "service_end",
              "contract_number", "total", "tax", "category", "description", "quantity", "unit",
              "unit_price", "amount"]
    return ("\n".join(",".join(r) for r in [header, *rows]) + "\n").encode()


def test_provider_upload_names_the_bad_row_saves_nothing_then_accepts_a_good_file(
        world, new_page, tmp_path):
    ent = world.enterprise["uscc"]
    stranger = uscc()  # a valid code that no enterprise is registered with
    good_a = ["26210000000000000101", ent, "2026-05-31", "2026-05-01", "2026-05-31", "HT-1",
              "120000.00", "6792.45", "gpu", "GPU 算力", "1", "月", "100000.00", "100000.00"]
    good_a2 = [*good_a[:8], "storage", "存储", "1", "月", "20000.00", "20000.00"]
    bad_b = ["26210000000000000102", stranger, "2026-05-31", "2026-05-01", "2026-05-31", "HT-2",
             "50000.00", "2830.19", "npu", "NPU 算力", "1", "月", "50000.00", "50000.00"]
    bad_file = tmp_path / "2026-05.csv"
    bad_file.write_bytes(_csv([good_a, good_a2, bad_b]))

    page = new_page()
    sign_in(page, world.prov_key)
    page.locator("#sidebar").get_by_role("link", name="批量上传发票").click()
    page.get_by_label("发票文件").set_input_files(str(bad_file))
    page.get_by_role("button", name="校验并上传").click()
    errors = page.locator("#upload-errors")
    assert "未保存任何发票" in errors.inner_text()
    assert errors.locator("tr[data-row='4']").count() == 1  # header is row 1: bad_b is row 4
    assert "第 4 行" in errors.inner_text() and "enterprise_uscc" in errors.inner_text()
    assert errors.locator("tr[data-row='2']").count() == 0
    shot(page, "provider-upload-errors")
    listed = world.api.ok("GET", "/v1/invoices", headers=bearer(world.prov_key))
    assert listed["items"] == []  # all or nothing
    # the refused upload answers 422, which the browser logs; nothing else may be logged
    assert all("422" in e for e in page.console_log.errors), page.console_log.errors
    page.console_log.errors.clear()

    bad_b[1] = ent
    good_file = tmp_path / "2026-05-fixed.csv"
    good_file.write_bytes(_csv([good_a, good_a2, bad_b]))
    page.get_by_label("发票文件").set_input_files(str(good_file))
    page.get_by_role("button", name="校验并上传").click()
    assert page.url.endswith("/web/provider")
    assert "已保存 2 张发票，合计 170,000.00 元" in page.locator(".alert-success").inner_text()
    listed = world.api.ok("GET", "/v1/invoices", headers=bearer(world.prov_key))
    assert sorted(i["invoice_number"] for i in listed["items"]) == [good_a[0], bad_b[0]]
    shot(page, "provider-invoices")

    # record a payment and a red-letter reversal on the first invoice
    page.locator(f"tr[data-invoice='{good_a[0]}'] a").click()
    page.get_by_label("收款金额（元）").fill("120000")
    page.get_by_role("button", name="登记收款").click()
    assert "120,000.00" in page.locator(".alert-success").inner_text()
    page.get_by_label("红字发票号码").fill("26210000000000000199")
    page.get_by_label("冲减金额（元）").fill("999999")
    page.get_by_label("理由").fill("服务量调整")
    page.get_by_role("button", name="红字发票（红冲）").click()
    assert "红冲金额超过发票剩余金额" in page.locator(".alert-error").inner_text()
    page.get_by_label("红字发票号码").fill("26210000000000000199")
    page.get_by_label("冲减金额（元）").fill("20000")
    page.get_by_label("理由").fill("服务量调整")
    page.get_by_role("button", name="红字发票（红冲）").click()
    assert "20,000.00" in page.locator(".alert-success").inner_text()
    shot(page, "provider-invoice")
    no_console_errors(page)


def test_provider_upload_checks_rows_locally_too(world, new_page, tmp_path):
    bad = ["123", world.enterprise["uscc"], "2026-13-01", "2026-05-01", "2026-05-31", "",
           "12.345", "0", "quantum", "x", "1", "月", "1", "1"]
    path = tmp_path / "bad.csv"
    path.write_bytes(_csv([bad]))
    page = new_page()
    sign_in(page, world.prov_key)
    page.goto("/web/provider/upload")
    page.get_by_label("发票文件").set_input_files(str(path))
    page.get_by_role("button", name="校验并上传").click()
    text = page.locator("#upload-errors").inner_text()
    assert "第 2 行" in text and "issued_on" in text and "total" in text and "category" in text


def test_charts_render_with_data(world, new_page):
    api = world.api
    voucher = api.voucher(world.enterprise["id"], 80_000_00, year=YEAR)
    invoice = paid_invoice(world, line("gpu", 100_000_00), line("npu", 50_000_00))
    api.ok("POST", "/v1/redemptions", headers=bearer(world.ent_key), expect=201,
           json={"invoice_id": invoice["id"], "voucher_id": voucher["id"]})
    page = new_page()
    sign_in(page, api.make_key("admin"))
    page.goto(f"/web/bureau?year={YEAR}")
    page.wait_for_function("""() => {
        const els = document.querySelectorAll('[data-chart]');
        return els.length === 5 && [...els].every(el => window.echarts &&
            window.echarts.getInstanceByDom(el) && el.querySelector('canvas'));
    }""")
    page.wait_for_timeout(800)  # let the entry animation finish before reading pixels
    report = page.evaluate("""() => [...document.querySelectorAll('[data-chart]')].map(el => {
        const chart = window.echarts.getInstanceByDom(el);
        const series = chart.getOption().series;
        const values = series.flatMap(
            s => s.data.map(v => v && typeof v === 'object' ? v.value : v));
        const canvas = el.querySelector('canvas');
        const ctx = canvas.getContext('2d');
        const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        const colours = new Set();
        let painted = 0;
        for (let i = 0; i < pixels.length; i += 4) {
            if (pixels[i + 3] > 0) {
                painted++;
                colours.add(pixels[i] << 16 | pixels[i + 1] << 8 | pixels[i + 2]);
            }
        }
        return {kind: el.dataset.chart, nonzero: values.filter(v => v).length, painted,
                colours: colours.size, width: canvas.width};
    })""")
    for chart in report:
        assert chart["nonzero"] > 0, chart
        assert chart["width"] > 100 and chart["painted"] > 2000 and chart["colours"] > 5, chart
    names = page.evaluate("""() => window.echarts.getInstanceByDom(
        document.getElementById('chart-top-enterprises')).getOption().yAxis[0].data""")
    assert "大连星河智能科技有限公司" in names
    assert page.evaluate("() => window.echarts.version") == "5.6.0"
    shot(page, "bureau-dashboard")
    no_console_errors(page)


def test_switching_to_english_changes_the_labels(world, new_page):
    page = new_page()
    page.goto("/web/login")
    assert page.locator("h1").inner_text() == "登录"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Sign in"
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("API key").fill(world.api.make_key("admin"))
    page.get_by_role("button", name="Sign in").click()
    nav = page.locator("#sidebar").inner_text()
    assert "Budget overview" in nav and "Applications" in nav and "预算总览" not in nav
    assert "Pool" in page.locator("[data-stat='pool_fen']").inner_text()
    shot(page, "bureau-dashboard-en")
    page.get_by_role("link", name="中文").click()
    assert "预算总览" in page.locator("#sidebar").inner_text()


def test_a_post_without_the_csrf_token_is_refused(world, new_page):
    api = world.api
    page = new_page()
    sign_in(page, api.make_key("admin"))
    before = api.ok("GET", "/v1/settlements", params={"year": YEAR})["items"]
    for form in ({"year": str(YEAR)}, {"year": str(YEAR), "csrf_token": "forged"}):
        response = page.request.post("/web/bureau/settlements", form=form, max_redirects=0)
        assert response.status == 403
        assert "安全校验未通过" in response.text()
    assert api.ok("GET", "/v1/settlements", params={"year": YEAR})["items"] == before
    # and the same form with the token goes through
    page.goto("/web/bureau/settlements")
    page.get_by_role("button", name="生成结算批次").last.click()
    assert re.search(r"/web/bureau/settlements/\w+", page.url)


def test_security_headers_and_no_key_in_pages(server, world):
    with httpx.Client(base_url=server.url) as client:
        login = client.get("/web/login")
        csp = login.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        assert "<script>" not in login.text  # no inline script anywhere
        assert client.get("/web/bureau", follow_redirects=False).headers["location"] \
            == "/web/login"
        asset = client.get("/web/static/vendor/echarts-5.6.0.min.js")
        assert asset.status_code == 200 and len(asset.content) > 500_000


def test_every_main_page_renders_for_screenshots(world, new_page):
    """Walk every main page with data in it (bureau, enterprise, provider), at desktop and
    tablet widths, with no console errors (a CSP violation would be one)."""
    api = world.api
    voucher = api.voucher(world.enterprise["id"], 120_000_00, year=YEAR)
    invoice = paid_invoice(world, line("gpu", 200_000_00), line("network", 10_000_00))
    api.ok("POST", "/v1/redemptions", headers=bearer(world.ent_key), expect=201,
           json={"invoice_id": invoice["id"], "voucher_id": voucher["id"]})
    batch = api.ok("POST", "/v1/settlements", json={"year": YEAR}, expect=201)

    page = new_page()
    sign_in(page, api.make_key("admin"))
    pages = {"bureau-vouchers": "/web/bureau/vouchers",
             "bureau-invoices": "/web/bureau/invoices",
             "bureau-redemptions": "/web/bureau/redemptions",
             "bureau-settlements": "/web/bureau/settlements",
             "bureau-reconciliation": f"/web/bureau/reconciliation?year={YEAR}",
             "bureau-audit": "/web/bureau/audit?verify=1",
             "bureau-year": f"/web/bureau/year?year={YEAR}",
             "bureau-close-confirm": f"/web/bureau/year/close?year={YEAR}"}
    for name, url in pages.items():
        response = page.goto(url)
        assert response.status == 200, (url, response.status)
        shot(page, name)
    page.goto("/web/bureau/audit")
    page.get_by_role("link", name="校验哈希链").click()
    assert "哈希链完整" in page.locator("#verify-result").inner_text()

    page.goto(f"/web/bureau/settlements/{batch['id']}")
    page.get_by_role("button", name="审核通过").click()
    page.get_by_label("银行流水号").fill("BOC-2026-0615-001")
    page.get_by_role("button", name="确认已拨付").click()
    assert "已拨付" in page.locator(".alert-success").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    shot(page, "bureau-settlement")

    # the close-year confirmation refuses a mistyped year
    page.goto(f"/web/bureau/year/close?year={YEAR}")
    page.get_by_label(f"请输入年度 {YEAR} 以确认").fill("2025")
    page.get_by_role("button", name="确认关账").click()
    assert "年度不一致" in page.locator(".alert-error").inner_text()
    no_console_errors(page)

    tablet = new_page(width=820, height=1180)
    sign_in(tablet, api.make_key("admin"))
    tablet.goto(f"/web/bureau?year={YEAR}")
    assert tablet.locator("#sidebar").is_hidden()
    tablet.get_by_role("button", name="主菜单").click()
    assert tablet.locator("#sidebar").is_visible()
    width = tablet.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 820, width  # no sideways scrolling of the page itself
    shot(tablet, "bureau-dashboard-tablet")

    provider = new_page()
    sign_in(provider, world.prov_key)
    provider.goto("/web/provider/statements")
    assert invoice["invoice_number"] in provider.locator("main").inner_text()
    shot(provider, "provider-statements")
    provider.goto("/web/provider/upload")
    shot(provider, "provider-upload")
    no_console_errors(provider)
