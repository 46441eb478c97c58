"""The enterprise portal's invoice table, server-rendered (issue item 11): where the redeem
button is missing, the page says why and links to an application."""

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
