"""The provider portal's 数电票 XML page in a real headless Chromium (issue 15, item 6)."""

from tests import xmlgen as g
from tests.e2e.conftest import shot, sign_in
from tests.factories import bearer, uscc


def _files(tmp_path, **files: bytes) -> list[str]:
    paths = []
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        paths.append(str(path))
    return paths


def test_provider_drops_xml_files_sees_each_result_in_chinese(world, new_page, tmp_path):
    seller, buyer = world.provider["uscc"], world.enterprise["uscc"]
    good = g.XInvoice(seller, buyer, [g.gpu(1_000_000), g.storage(200_000, rate="6%")])
    wrong_seller = g.XInvoice(uscc(), buyer, [g.gpu(500_000)])
    page = new_page()
    sign_in(page, world.prov_key)
    page.locator("#sidebar").get_by_role("link", name="上传数电票 XML").click()
    assert page.locator("h1").inner_text() == "上传数电票 XML"
    page.get_by_label("XML 或 ZIP 文件").set_input_files(_files(
        tmp_path, **{"good.xml": good.xml(), "wrong-seller.xml": wrong_seller.xml()}))
    page.get_by_label("服务开始日期").fill("2026-05-01")
    page.get_by_label("服务结束日期").fill("2026-05-31")
    page.get_by_role("button", name="校验并上传").click()
    assert "1 个文件未通过校验，未保存任何发票" in page.locator("#xml-errors").inner_text()
    bad = page.locator("#xml-results tr[data-file='wrong-seller.xml']")
    assert bad.get_attribute("data-ok") == "false"
    assert bad.locator("li[data-code='seller_mismatch']").count() == 1
    assert "EInvoiceData/SellerInformation/SellerIdNum" in bad.inner_text()
    assert "销售方纳税人识别号不是本服务商的统一社会信用代码" in bad.inner_text()
    ok = page.locator("#xml-results tr[data-file='good.xml']")
    assert "无误，但未保存" in ok.inner_text()
    shot(page, "provider-xml-refused")
    listed = world.api.ok("GET", "/v1/invoices", headers=bearer(world.prov_key))
    assert listed["items"] == []  # all or nothing
    assert all("422" in e for e in page.console_log.errors), page.console_log.errors
    page.console_log.errors.clear()

    page.get_by_label("XML 或 ZIP 文件").set_input_files(_files(tmp_path, **{
        "good.xml": good.xml()}))
    page.get_by_label("服务开始日期").fill("2026-05-01")
    page.get_by_label("服务结束日期").fill("2026-05-31")
    page.get_by_role("button", name="校验并上传").click()
    assert "已保存 1 个文件，合计 12,720.00 元" in page.locator("#xml-saved").inner_text()
    row = page.locator("#xml-results tr[data-file='good.xml']")
    assert "已接受" in row.inner_text() and good.invoice_number in row.inner_text()
    assert row.locator("li[data-category='gpu']").inner_text().endswith("GPU 算力")
    assert row.locator("li[data-category='storage']").inner_text().endswith("存储")
    shot(page, "provider-xml-accepted")
    [posted] = world.api.ok("GET", "/v1/invoices", headers=bearer(world.prov_key))["items"]
    assert posted["invoice_number"] == good.invoice_number and posted["source_sha256"]
    assert page.console_log.errors == []


def test_provider_uploads_a_zip_in_english_and_sees_the_unmapped_line(world, new_page,
                                                                      tmp_path):
    seller, buyer = world.provider["uscc"], world.enterprise["uscc"]
    a = g.XInvoice(seller, buyer, [g.gpu(300_000), g.XLine("*现代服务*技术咨询费", 10_000)])
    b = g.XInvoice(seller, buyer, [g.XLine("*信息技术服务*昇腾NPU算力服务", 80_000, rate="6%")])
    archive = g.zip_of({"a.xml": a.xml(), "b.xml": b.xml()}, {
        "b.xml": {"service_start": "2026-06-01", "service_end": "2026-06-30"}})
    page = new_page()
    page.goto("/web/login")
    page.get_by_role("link", name="English").click()
    sign_in(page, world.prov_key)
    page.locator("#sidebar").get_by_role("link", name="Upload e-invoice XML").click()
    page.get_by_label("XML or ZIP files").set_input_files(_files(tmp_path, **{
        "june.zip": archive}))
    page.get_by_label("Service start").fill("2026-05-01")
    page.get_by_label("Service end").fill("2026-05-31")
    page.get_by_role("button", name="Check and upload").click()
    assert "Saved 2 file(s)" in page.locator("#xml-saved").inner_text()
    rows = page.locator("#xml-results tbody tr")
    assert [rows.nth(i).get_attribute("data-file") for i in range(2)] == ["a.xml", "b.xml"]
    first = page.locator("#xml-results tr[data-file='a.xml']")
    assert "Accepted" in first.inner_text()
    assert "Unmapped: not subsidised" in first.locator("li[data-category='other']").inner_text()
    assert first.locator("li[data-category='gpu']").inner_text().endswith("GPU compute")
    second = page.locator("#xml-results tr[data-file='b.xml']")
    assert second.locator("li[data-category='npu']").inner_text().endswith("NPU compute")
    shot(page, "provider-xml-zip-en")
    items = world.api.ok("GET", "/v1/invoices", headers=bearer(world.prov_key))["items"]
    periods = {i["invoice_number"]: i["service_start"] for i in items}
    assert periods[a.invoice_number] == "2026-05-01"
    assert periods[b.invoice_number] == "2026-06-01"
    assert page.console_log.errors == []
