"""Budget figures, mid-year reclaim, year close and the annual report (PRODUCT.md §3.7, §5a)."""

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.flows import line, make_world


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    return make_world(api, pool_fen=10_000_000)


def test_budget_figures_and_identity(world, api):
    v1 = world.voucher(1_000_000)
    world.voucher(500_000)
    api.ok("POST", f"/v1/vouchers/{v1['id']}/revoke")  # 1_000_000 back to the pool
    v3 = world.voucher(2_000_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    world.redeem(inv["id"], v3["id"])  # 300_000
    world.redeem(world.invoice([line("gpu", 400_000)])["id"], v3["id"])  # 120_000
    world.settle()  # pays 420_000
    world.redeem(world.invoice([line("npu", 100_000)])["id"], v3["id"])  # 30_000 payable
    b = api.ok("GET", "/v1/years/2026/budget")
    assert b["pool_fen"] == 10_000_000
    assert b["issued_fen"] == 3_500_000
    assert b["returned_fen"] == 1_000_000
    assert b["available_fen"] == 10_000_000 - 3_500_000 + 1_000_000 == 7_500_000
    assert b["outstanding_fen"] == 500_000 + 2_000_000 - 450_000
    assert b["redeemed_fen"] == 450_000
    assert b["payable_fen"] == 30_000
    assert b["paid_fen"] == 420_000
    assert b["clawback_fen"] == 0
    assert b["utilisation_bp"] == 2500  # (3_500_000 − 1_000_000) / 10_000_000
    june = next(m for m in b["by_month"] if m["month"] == "2026-06")
    assert june == {"month": "2026-06", "issued_fen": 3_500_000, "redeemed_fen": 450_000,
                    "paid_fen": 420_000}
    assert len(b["by_month"]) == 12
    assert b["top_enterprises"][0]["enterprise_id"] == world.enterprise["id"]
    assert b["top_enterprises"][0]["redeemed_fen"] == 450_000
    assert b["top_providers"][0]["provider_id"] == world.provider["id"]
    # 450_000 over 166 days (Jan 1..Jun 15) projected to 365 days, capped at net issued
    assert b["projected_redeemed_fen"] == 450_000 * 365 // 166
    assert api.ok("GET", "/v1/years/2026/budget", headers=api.auditor())["year"] == 2026
    assert api.client.get("/v1/years/2026/budget", headers=world.ent).status_code == 403
    assert api.client.get("/v1/years/1999/budget", headers=api.admin).status_code == 404


def test_reclaim_preview_then_apply(world, api, today):
    idle = world.voucher(1_000_000)
    busy = world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 2_000_000)])["id"], busy["id"])  # uses 600_000
    today("2026-09-01")
    rule = {"issued_before": "2026-07-01", "max_used_bp": 5000, "reclaim_bp": 5000}
    preview = api.ok("POST", "/v1/years/2026/reclaim", json=rule)
    assert preview["applied"] is False
    assert [(v["voucher_id"], v["reclaim_fen"]) for v in preview["vouchers"]] == [
        (idle["id"], 500_000)]
    assert world.get_voucher(idle["id"])["balance_fen"] == 1_000_000  # nothing written
    applied = api.ok("POST", "/v1/years/2026/reclaim", json={**rule, "apply": True})
    assert applied["reclaimed_fen"] == 500_000
    v = world.get_voucher(idle["id"])
    assert (v["balance_fen"], v["returned_fen"]) == (500_000, 500_000)
    b = api.ok("GET", "/v1/years/2026/budget")
    assert b["returned_fen"] == 500_000
    assert b["available_fen"] == 10_000_000 - 2_000_000 + 500_000
    events = api.ok("GET", "/v1/audit-events", params={"action": "year.reclaim"})["items"]
    assert events[0]["summary"]["reclaimed_fen"] == 500_000
    assert api.ok("GET", "/v1/years/2026/reconciliation")["ok"] is True


def test_close_refused_before_deadline_then_forced(world, api):
    world.voucher(1_000_000)
    r = api.client.post("/v1/years/2026/close", headers=api.admin, json={})
    assert (r.status_code, r.json()["code"]) == (409, "deadline_not_reached")
    r = api.client.post("/v1/years/2026/close", headers=api.admin, json={"force": True})
    assert r.status_code == 422  # forcing needs a reason
    closed = api.ok("POST", "/v1/years/2026/close", json={"force": True, "reason": "审计要求"})
    assert closed["forced"] is True and closed["before_deadline"] is True
    event = api.ok("GET", "/v1/audit-events", params={"action": "year.close"})["items"][0]
    assert event["summary"]["reason"] == "审计要求"


def test_close_after_deadline_expires_and_freezes(world, api, today):
    voucher = world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    world.redeem(inv["id"])  # 300_000
    world.invoice([line("gpu", 100_000)])
    today("2027-02-01")
    closed = api.ok("POST", "/v1/years/2026/close")
    assert (closed["expired_vouchers"], closed["returned_fen"]) == (1, 700_000)
    v = world.get_voucher(voucher["id"])
    assert (v["status"], v["balance_fen"], v["returned_fen"]) == ("expired", 0, 700_000)
    assert api.ok("GET", "/v1/years/2026")["status"] == "closed"
    b = api.ok("GET", "/v1/years/2026/budget")
    assert b["available_fen"] == 10_000_000 - 1_000_000 + 700_000
    assert b["outstanding_fen"] == 0
    # closed: no redemptions, no invoices, no new vouchers, no second close
    r = api.client.post("/v1/years/2026/close", headers=api.admin)
    assert r.json()["code"] == "year_closed"
    assert api.client.post("/v1/vouchers", headers=api.admin, json={
        "enterprise_id": world.enterprise["id"], "year": 2026, "face_fen": 1}).json()["code"] \
        == "year_closed"
    body = {"invoice_number": "26210000000099999999", "enterprise_uscc": world.enterprise["uscc"],
            "issued_on": "2026-12-01", "service_start": "2026-12-01", "service_end": "2026-12-31",
            "total_fen": 100, "tax_fen": 0, "lines": [line("gpu", 100)]}
    r = api.client.post("/v1/invoices", headers=world.prov, json=body)
    assert (r.status_code, r.json()["code"]) == (409, "year_closed")
    # settlement still works after close, and so does a clawback
    batch = world.settle()
    assert batch["total_fen"] == 300_000
    world.reverse(inv["id"], 500_000)
    assert api.ok("GET", "/v1/years/2026/budget")["clawback_outstanding_fen"] == 150_000
    assert api.ok("GET", "/v1/years/2026/reconciliation")["ok"] is True


def test_annual_report_json_csv_xlsx(world, api):
    world.voucher(1_000_000)
    world.redeem(world.invoice([line("gpu", 1_000_000), line("storage", 50_000)])["id"])
    report = api.ok("GET", "/v1/years/2026/report")
    assert report["totals"][0]["redeemed_fen"] == 300_000
    assert report["enterprises"][0]["redeemed_fen"] == 300_000
    assert report["enterprises"][0]["face_fen"] == 1_000_000
    assert report["providers"][0]["redeemed_fen"] == 300_000
    assert {c["category"]: (c["invoiced_fen"], c["redeemed_fen"])
            for c in report["categories"]} == {"gpu": (1_000_000, 300_000),
                                               "storage": (50_000, 0)}
    assert len(report["months"]) == 12
    r = api.client.get("/v1/years/2026/report?format=csv", headers=api.admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    sections = {row[0] for row in rows if row}
    assert {"section", "totals", "enterprises", "providers", "categories", "months"} <= sections
    x = api.client.get("/v1/years/2026/report?format=xlsx", headers=api.admin)
    book = load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == ["总览", "企业", "服务商", "类别", "月度", "绩效指标"]
    header = [c.value for c in book["企业"][2]]
    values = dict(zip(header, [c.value for c in book["企业"][3]]))
    assert (values["核销金额（元）"], values["发放面额（元）"]) == (3000, 10_000)


HEADERS = {
    "zh": {"总览": ["项目", "数值"],
           "企业": ["企业编号", "统一社会信用代码", "企业名称", "所属区域", "算力券张数",
                    "发放面额（元）", "退回（元）", "券余额（元）", "核销笔数", "核销金额（元）"],
           "服务商": ["服务商编号", "统一社会信用代码", "服务商名称", "核销发票数", "核销笔数",
                      "核销金额（元）"],
           "类别": ["类别", "开票金额（元）", "核销金额（元）"],
           "月度": ["月份", "发放（元）", "核销（元，扣除红冲）", "拨付（元）"],
           "绩效指标": ["项目", "数值", "占比"]},
    "en": {"Totals": ["Item", "Value"],
           "Enterprises": ["Enterprise ID", "USCC", "Name", "District", "Vouchers",
                           "Face value (yuan)", "Returned (yuan)", "Balance (yuan)",
                           "Redemptions", "Redeemed (yuan)"],
           "Providers": ["Provider ID", "USCC", "Name", "Invoices redeemed", "Redemptions",
                         "Redeemed (yuan)"],
           "Categories": ["Category", "Invoiced (yuan)", "Redeemed (yuan)"],
           "Months": ["Month", "Issued (yuan)", "Redeemed, net of reversals (yuan)",
                      "Paid out (yuan)"],
           "Indicators": ["Item", "Value", "Share"]},
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_annual_report_workbook_for_people(world, api, lang):
    """Issue 21 item 4: headers in the reader's language, a title row with the year and the
    data-as-of time, frozen headers, widths, amounts in yuan as numbers, the rounding row
    named and explained."""
    world.voucher(1_000_000)
    # 30% of 333 + 333 fen is 199.8 → 199; each category's share 99.5 → 99: 1 fen left over
    inv = world.invoice([line("gpu", 333), line("npu", 333), line("storage", 100)])
    assert world.redeem(inv["id"])["subsidy_fen"] == 199
    categories = api.ok("GET", "/v1/years/2026/report")["categories"]
    assert categories[-1] == {"category": "(rounding)", "invoiced_fen": 0, "redeemed_fen": 1}
    suffix = "&lang=en" if lang == "en" else ""
    x = api.client.get(f"/v1/years/2026/report?format=xlsx{suffix}", headers=api.admin)
    assert x.status_code == 200
    book = load_workbook(io.BytesIO(x.content))
    assert {name: [c.value for c in book[name][2]] for name in book.sheetnames} == HEADERS[lang]
    for sheet in book.worksheets:
        title = sheet["A1"].value
        assert "2026" in title and "2026-06-15 12:00" in title and sheet.title in title
        assert sheet["A1"].font.b and all(c.font.b for c in sheet[2])
        assert sheet.freeze_panes == "A3"
        assert all(sheet.column_dimensions[c.column_letter].width >= 10 for c in sheet[2])
    if lang == "zh":
        assert book["总览"]["A1"].value == ("2026 年度算力券报告 · 总览　"
                                            "数据截至 2026-06-15 12:00（北京时间）")
    else:
        assert book["Totals"]["A1"].value == ("Compute vouchers, annual report 2026 · Totals · "
                                              "data as of 2026-06-15 12:00 (Beijing time)")
    totals = {row[0].value: row[1] for row in book.worksheets[0].iter_rows(min_row=3)}
    pool = totals["资金池（元）" if lang == "zh" else "Pool (yuan)"]
    assert (pool.value, pool.data_type, pool.number_format) == (100_000, "n", "#,##0.00")
    share = totals["资金池使用率" if lang == "zh" else "Pool utilisation"]
    assert (share.value, share.number_format) == (0.1, "0.00%")
    rows = [[c for c in row] for row in book.worksheets[3].iter_rows(min_row=3)]
    got = [[c.value for c in row] for row in rows]
    rounding, total, note = ("取整差额", "合计", "注：") if lang == "zh" else (
        "Rounding difference", "Total", "Note: ")
    assert got[:5] == [
        ["GPU 算力" if lang == "zh" else "GPU compute", 3.33, 0.99],
        ["NPU 算力" if lang == "zh" else "NPU compute", 3.33, 0.99],
        ["存储" if lang == "zh" else "Storage", 1, 0],
        [rounding, 0, 0.01],
        [total, 7.66, 1.99]]
    assert all((c.data_type, c.number_format) == ("n", "#,##0.00") for c in rows[3][1:])
    assert got[6][0].startswith(note) and rounding in got[6][0]


def test_annual_report_language_is_checked(world, api):
    world.voucher(1_000_000)
    same = api.client.get("/v1/years/2026/report?format=xlsx&lang=zh-CN", headers=api.admin)
    assert load_workbook(io.BytesIO(same.content)).sheetnames[0] == "总览"
    r = api.client.get("/v1/years/2026/report?format=xlsx&lang=fr", headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert [e["field"] for e in r.json()["errors"]] == ["lang"]
