"""Holds in the portals (docs/holds.md): the provider places, captures and voids; the enterprise
sees its pending holds and voids one; the dashboard shows the held total — in both languages."""

import re

import pytest

from tests.conftest import SQLITE_ONLY
from tests.flows import line, make_world

pytestmark = SQLITE_ONLY


def sign_in(api, key_header: dict, home: str, lang: str = "en") -> None:
    client = api.client
    client.cookies.clear()
    client.cookies.set("cv_lang", lang)
    login = client.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    key = key_header["Authorization"].removeprefix("Bearer ")
    r = client.post("/web/login", data={"api_key": key, "csrf_token": token},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, home)


def submit(api, page_path: str, action: str, **fields) -> str:
    """Post the form at `action` of the page, with its CSRF token; the page after it."""
    page = api.client.get(page_path).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = api.client.post(action, data={"csrf_token": token, **fields}, follow_redirects=True)
    assert r.status_code == 200, r.text[:500]
    return r.text


@pytest.fixture
def world(api, today):
    today("2026-06-15")
    return make_world(api, settlement_mode="deduction")


def test_provider_places_and_captures_enterprise_voids(world, api):
    voucher = world.voucher(100_000)
    invoice = world.invoice([line("gpu", 50_000)], start="2026-06-01", end="2026-06-30")
    sign_in(api, world.prov, "/web/provider")
    form = {"voucher_code": voucher["code"], "enterprise_uscc": world.enterprise["uscc"],
            "year": "2026", "service_start": "2026-06-01", "service_end": "2026-06-30",
            "category": "gpu", "amount_yuan": "1000", "expires_days": "7"}
    page = submit(api, "/web/provider/holds", "/web/provider/holds", **form)
    assert "Held 300.00 yuan." in page
    (first,) = api.ok("GET", "/v1/holds")["items"]
    page = submit(api, "/web/provider/holds", f"/web/provider/holds/{first['id']}/capture",
                  invoice_id=invoice["id"])
    assert "Captured 150.00 yuan, released 150.00 yuan." in page
    submit(api, "/web/provider/holds", "/web/provider/holds", **form)
    pending = api.ok("GET", "/v1/holds", params={"status": "pending"})["items"]
    sign_in(api, world.ent, "/web/enterprise", lang="zh-CN")
    page = api.client.get("/web/enterprise/holds").text
    assert "预留中金额" in page and f'data-hold="{pending[0]["id"]}"' in page
    page = submit(api, "/web/enterprise/holds", f"/web/enterprise/holds/{pending[0]['id']}/void",
                  reason="取消采购")
    assert "预留已撤销" in page
    got = api.ok("GET", f"/v1/holds/{pending[0]['id']}")
    assert (got["status"], got["reason"]) == ("voided", "取消采购")
    sign_in(api, api.admin, "/web/bureau")
    assert 'data-stat="held_fen"' in api.client.get("/web/bureau").text
