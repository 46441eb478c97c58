"""The enterprise portal's invoice table, server-rendered (issue item 11): where the redeem
button is missing, the page says why and links to an application."""

import html
import re

import pytest

from tests.conftest import sql
from tests.flows import line, make_world

APPLY_LINK = '<a href="/web/enterprise/apply" class="apply-link">'


def enterprise_page(api, key_header: dict, lang: str = "en") -> str:
    client = api.client
    client.cookies.set("cv_lang", lang)
    login = client.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    key = key_header["Authorization"].removeprefix("Bearer ")
    signed_in = client.post("/web/login", data={"api_key": key, "csrf_token": token},
                            follow_redirects=False)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/web/enterprise")
    page = client.get("/web/enterprise")
    assert page.status_code == 200
    return page.text


def invoice_cell(page: str, invoice: dict) -> str:
    row = re.search(rf'<tr data-invoice="{invoice["invoice_number"]}">(.*?)</tr>', page, re.S)
    return re.search(r'<td class="actions">(.*?)</td>', row.group(1), re.S).group(1)


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    return make_world(api)


def test_exhausted_only_voucher_says_why_and_links_to_apply(world, api):
    voucher = world.voucher(60_000)
    spent = world.invoice([line("gpu", 200_000)])
    world.redeem(spent["id"])  # 60,000: the voucher is exhausted, the invoice fully redeemed
    left = world.invoice([line("gpu", 1_267_730)])  # 380,319 fen left to redeem
    assert left["redeemable_fen"] == 380_319

    page = enterprise_page(api, world.ent)
    cell = invoice_cell(page, left)
    assert "3,803.19" in page
    assert "<form" not in cell
    assert words(cell) == f"No usable voucher: {voucher['code']} is used up. Apply for a voucher"
    assert APPLY_LINK in cell
    assert words(invoice_cell(page, spent)) == "Nothing to redeem"

    zh = invoice_cell(enterprise_page(api, world.ent, "zh-CN"), left)
    assert words(zh) == f"没有可用的算力券：{voucher['code']} 已用完。 申领算力券"
    assert APPLY_LINK in zh


def test_expired_revoked_and_not_yet_valid_vouchers_are_named(world, api, today):
    lapsed = world.voucher(10_000, valid_until="2026-06-30")
    revoked = world.voucher(10_000)
    api.ok("POST", f"/v1/vouchers/{revoked['id']}/revoke")
    later = world.voucher(10_000)
    sql(api.engine, "UPDATE voucher SET valid_from = '2026-08-01' WHERE id = :i", i=later["id"])
    today("2026-07-01")
    invoice = world.invoice([line("gpu", 100_000)])

    cell = invoice_cell(enterprise_page(api, world.ent), invoice)
    assert "<form" not in cell
    assert words(cell) == (f"No usable voucher: {lapsed['code']} has expired; {revoked['code']} "
                           f"was revoked; {later['code']} is valid from 2026-08-01. "
                           "Apply for a voucher")
    assert APPLY_LINK in cell


def test_no_voucher_for_the_invoice_year(world, api):
    invoice = world.invoice([line("gpu", 100_000)])
    cell = invoice_cell(enterprise_page(api, world.ent), invoice)
    assert words(cell) == "No usable voucher: none for 2026. Apply for a voucher"
    assert APPLY_LINK in cell


def test_a_usable_voucher_shows_the_redeem_form_with_only_usable_vouchers(world, api):
    usable = world.voucher(100_000)
    spent = world.voucher(30_000)
    world.redeem(world.invoice([line("gpu", 100_000)])["id"], spent["id"])
    invoice = world.invoice([line("gpu", 100_000)])
    cell = invoice_cell(enterprise_page(api, world.ent), invoice)
    assert '<form method="post" action="/web/enterprise/redeem"' in cell
    assert re.findall(r'<option value="(vch_[^"]+)"', cell) == [usable["id"]]
    assert APPLY_LINK not in cell


def redeem_now_cell(page: str, invoice: dict) -> str:
    row = re.search(rf'<tr data-invoice="{invoice["invoice_number"]}">(.*?)</tr>', page, re.S)
    return words(re.search(r'<td class="num redeem-now">(.*?)</td>', row.group(1), re.S)
                 .group(1))


def test_the_amount_shown_is_what_a_redemption_gives_now(world, api):
    world.voucher(24_000)  # less than the invoice's 30,000 fen of eligible subsidy
    invoice = world.invoice([line("gpu", 100_000)])
    assert invoice["redeemable_fen"] == 30_000
    page = enterprise_page(api, world.ent)
    assert redeem_now_cell(page, invoice) == "240.00"
    assert '<form method="post" action="/web/enterprise/redeem"' in invoice_cell(page, invoice)
    assert world.redeem(invoice["id"])["subsidy_fen"] == 24_000


REFUSED = {  # code → the words the cell shows, English then Chinese
    "other_subsidy": ("This project was already subsidised under another programme (the higher "
                      "one only, never both).", "该项目已享受其他政策补贴（就高不重复），不能再核销。"),
    "provider_not_approved": ("The provider is not on this year's approved list.",
                              "该服务商不在本年度的入围名单中。"),
    "related_party": ("The provider and the enterprise are related parties; no subsidy is paid.",
                      "服务商与企业为关联方，不予补贴。"),
    "credit_blocked": ("The enterprise is on the credit blacklist and cannot receive or redeem "
                       "vouchers.", "该企业已被列入信用限制名单，不能申领或核销。"),
    "invoice_not_eligible": ("The invoice is dated outside what this year's policy accepts.",
                             "该发票的日期不在本年度可补贴范围内。"),
    "year_closed": ("The year is closed; this is no longer possible.",
                    "该年度已关账，不再接受此操作。"),
}


def _refuse(world, api, code: str, invoice: dict) -> None:
    """Make the redemption path refuse the invoice with `code`."""
    ent, prov = world.enterprise["id"], world.provider["id"]
    if code == "other_subsidy":
        api.ok("POST", "/v1/other-subsidies", expect=201, json={
            "enterprise_id": ent, "programme": "省级算力补贴",
            "invoice_number": invoice["invoice_number"], "amount_fen": 50_000})
    elif code == "provider_not_approved":
        api.ok("PUT", f"/v1/years/2026/approved-providers/{prov}", json={"approved": False})
    elif code == "related_party":
        api.ok("POST", "/v1/related-parties", expect=201, json={
            "enterprise_id": ent, "provider_id": prov, "reason": "同一控股股东"})
    elif code == "credit_blocked":
        api.ok("PATCH", f"/v1/enterprises/{ent}", json={"credit_blocked": True})
    elif code == "year_closed":
        api.ok("POST", "/v1/years/2026/close", json={"force": True, "reason": "测试关账"})


@pytest.mark.parametrize("code", sorted(REFUSED))
def test_a_refused_redemption_shows_why_in_words_and_no_button(api, today, code):
    today("2026-06-15")
    world = make_world(api, eligible_from="2026-03-01")
    world.voucher(2_400_000)  # a ¥24,000 voucher the refusal makes useless for this invoice
    dated = {"start": "2026-02-01", "end": "2026-02-28"} if code == "invoice_not_eligible" \
        else {}
    invoice = world.invoice([line("gpu", 100_000)], **dated)
    _refuse(world, api, code, invoice)
    assert world.redeem(invoice["id"], expect=409)["code"] == code  # what the API answers

    for lang, words_ in zip(("en", "zh-CN"), REFUSED[code], strict=True):
        page = enterprise_page(api, world.ent, lang)
        cell = invoice_cell(page, invoice)
        assert "<form" not in cell and "<button" not in cell
        assert f'data-refusal="{code}"' in cell
        assert html.unescape(words(cell)) == words_
        assert redeem_now_cell(page, invoice) == "—"


def test_a_legacy_invoice_shows_its_code_and_number(world, api):
    world.voucher(100_000)
    invoice = world.invoice([line("gpu", 100_000)], invoice_code="2102261100",
                            invoice_number="00000004")
    page = enterprise_page(api, world.ent)
    row = re.search(rf'<tr data-invoice="{invoice["invoice_number"]}">(.*?)</tr>', page, re.S)
    assert '<td class="mono">2102261100 00000004</td>' in row.group(1)
