"""Holds over the HTTP API (docs/holds.md, issue 26): place at the quote, capture in part, void,
expire without a sweeper — on both databases, with exact fen and the books clean each time."""

from datetime import datetime, timedelta

import pytest

from service import uow
from service.auth.principal import SYSTEM
from service.holds import tally
from service.kit import clock
from tests.flows import World, invoice_body, line


RATE = 3000  # 30%: a 100_000 fen gpu line earns 30_000
FACE = 100_000


def seed(api) -> dict:
    clock_day = "2026-06-15"
    api.year(2026, settlement_mode="deduction", rate_bp=RATE, enterprise_cap_fen=FACE)
    enterprise, provider = api.enterprise(), api.provider()
    api.approve_provider(provider["id"], 2026)
    w = World(api=api, year={"year": 2026}, enterprise=enterprise, provider=provider,
              ent=api.enterprise_key(enterprise["id"]), prov=api.provider_key(provider["id"]))
    voucher = w.voucher(FACE)
    other_provider = api.provider()
    api.approve_provider(other_provider["id"], 2026)
    other_ent = api.enterprise()
    return {"w": w, "voucher": voucher, "day": clock_day,
            "prov_b": api.provider_key(other_provider["id"]),
            "ent_b": api.enterprise_key(other_ent["id"])}


@pytest.fixture
def world(shared_world, today):
    today("2026-06-15")
    api, data = shared_world(seed)
    return data


def hold_body(d: dict, amount: int = 100_000, **fields) -> dict:
    w = d["w"]
    return {"voucher_code": d["voucher"]["code"], "enterprise_uscc": w.enterprise["uscc"],
            "year": 2026, "service_start": "2026-07-01", "service_end": "2026-07-31",
            "lines": [{"category": "gpu", "amount_fen": amount}], **fields}


def place(d: dict, expect: int = 201, headers=None, **body) -> dict:
    w = d["w"]
    r = w.api.client.post("/v1/holds", headers=headers or w.prov, json=hold_body(d, **body))
    assert r.status_code == expect, r.text
    return r.json()


def post(d: dict, path: str, headers, body=None, expect: int = 200) -> dict:
    r = d["w"].api.client.post(path, headers=headers, json=body)
    assert r.status_code == expect, r.text
    return r.json()


def voucher(d: dict) -> dict:
    return d["w"].get_voucher(d["voucher"]["id"])


def books_clean(d: dict) -> None:
    api = d["w"].api
    rec = api.ok("GET", "/v1/years/2026/reconciliation")
    assert rec["ok"], [c for c in rec["checks"] if not c["ok"]]
    b = api.ok("GET", "/v1/years/2026/budget")
    assert b["available_fen"] == b["pool_fen"] - b["issued_fen"] + b["returned_fen"]
    # every fen issued and not returned is on a voucher (held or not) or redeemed
    assert b["issued_fen"] - b["returned_fen"] == b["outstanding_fen"] + b["redeemed_fen"]
    assert b["outstanding_fen"] == voucher(d)["balance_fen"]


def invoice(d: dict, amount: int, **fields) -> dict:
    w = d["w"]
    return w.api.ok("POST", "/v1/invoices", headers=w.prov, expect=201,
                    json=invoice_body(w.enterprise["uscc"], [line("gpu", amount)],
                                      start="2026-07-01", end="2026-07-31",
                                      issued_on="2026-06-15", **fields))


def test_place_then_capture_part_releases_the_rest_to_the_fen(world):
    d = world
    hold = place(d, amount=100_000)
    assert (hold["status"], hold["amount_fen"], hold["quoted_fen"]) == ("pending", 30_000, 30_000)
    assert hold["draws"] == [{"voucher_id": d["voucher"]["id"], "amount_fen": 30_000}]
    v = voucher(d)
    assert (v["balance_fen"], v["held_fen"], v["available_fen"]) == (FACE, 30_000, 70_000)
    books_clean(d)
    inv = invoice(d, 66_667)  # earns 20_000 fen (66_667 × 30% rounded down)
    got = post(d, f"/v1/holds/{hold['id']}/capture", d["w"].prov, {"invoice_id": inv["id"]},
               expect=201)
    assert got["hold"]["status"] == "captured"
    assert (got["hold"]["captured_fen"], got["hold"]["released_fen"]) == (20_000, 10_000)
    assert got["redemption"]["subsidy_fen"] == 20_000
    assert got["redemption"]["beneficiary_type"] == "provider"
    v = voucher(d)
    assert (v["balance_fen"], v["held_fen"], v["available_fen"]) == (80_000, 0, 80_000)
    books_clean(d)


def sweep(d: dict) -> list[str]:
    """The background pass, run once (the app runs none in tests)."""
    return uow.run_write(d["w"].api.engine, lambda s: tally.release_expired(s), principal=SYSTEM)


def problem(d: dict, method: str, path: str, headers, body=None) -> tuple[int, str, str]:
    r = d["w"].api.client.request(method, path, headers=headers, json=body)
    return r.status_code, r.json().get("code"), r.json().get("detail", "")


def test_expiry_is_exact_without_a_sweeper_and_the_pass_records_it(world, today, monkeypatch):
    """TigerBeetle #2118 (an expired hold shown pending until a sweep) and mojaloop #3300 (no
    way to list the holds that timed out); capture after expiry is refused with no pass run."""
    d = world
    w = d["w"]
    hold = place(d, expires_in_s=3600)
    inv = invoice(d, 100_000)
    expires = datetime.fromisoformat(hold["expires_at"])
    monkeypatch.setattr(clock, "now", lambda: expires - timedelta(microseconds=1))
    assert w.api.ok("GET", f"/v1/holds/{hold['id']}")["status"] == "pending"
    monkeypatch.setattr(clock, "now", lambda: expires)  # from expires_at on
    assert w.api.ok("GET", f"/v1/holds/{hold['id']}", headers=w.ent)["status"] == "expired"
    v = voucher(d)
    assert (v["held_fen"], v["available_fen"]) == (0, FACE)
    assert w.api.ok("GET", "/v1/years/2026/budget")["held_fen"] == 0
    listed = w.api.ok("GET", "/v1/holds", params={"status": "expired"})["items"]
    assert [h["id"] for h in listed] == [hold["id"]]
    assert w.api.ok("GET", "/v1/holds", params={"status": "pending"})["items"] == []
    assert problem(d, "POST", f"/v1/holds/{hold['id']}/capture", w.prov,
                   {"invoice_id": inv["id"]}) == (409, "hold_not_pending", "the hold is expired")
    books_clean(d)  # the ledger still holds it: pending holds = the hold account
    # a redemption draws on the expired hold's fen: its write path tells the ledger first
    redeemed = w.redeem(inv["id"], d["voucher"]["id"])
    assert redeemed["subsidy_fen"] == 30_000
    assert sweep(d) == []  # already released by the redemption's write path
    books_clean(d)
    events = w.api.ok("GET", "/v1/audit-events", params={"object_id": hold["id"]})["items"]
    assert [e["action"] for e in events] == ["hold.place", "hold.expire"]


def test_the_pass_releases_once_and_queues_hold_expired(world, today, monkeypatch):
    from service.kit.config import get_settings
    d = world
    hold = place(d)
    today("2026-06-22")  # seven days on, at the same hour: expired
    monkeypatch.setenv("ALERT_WEBHOOK_URLS", "http://127.0.0.1:9/hook")
    get_settings.cache_clear()
    try:
        assert sweep(d) == [hold["id"]]
        assert sweep(d) == []  # once
    finally:
        monkeypatch.delenv("ALERT_WEBHOOK_URLS")
        get_settings.cache_clear()
    from sqlalchemy import text
    with d["w"].api.engine.connect() as conn:
        rows = conn.execute(text("SELECT alert_id, payload FROM webhook_delivery")).all()
    assert len(rows) == 1 and rows[0][0] is None
    payload = rows[0][1] if isinstance(rows[0][1], dict) else __import__("json").loads(rows[0][1])
    assert (payload["event"], payload["hold_id"], payload["amount_fen"]) == (
        "hold.expired", hold["id"], 30_000)
    got = d["w"].api.ok("GET", f"/v1/holds/{hold['id']}")
    assert (got["status"], got["released_fen"], got["captured_fen"]) == ("expired", 30_000, 0)
    assert voucher(d)["available_fen"] == FACE
    books_clean(d)


def test_holds_count_when_checking_what_is_available(world):
    """Blnk #181: a hold not counted when checking availability reserves the funds twice. A
    voucher whose whole balance is held is not usable, for a redemption or a new hold."""
    d = world
    w = d["w"]
    first = place(d, amount=200_000)  # 60_000
    second = place(d, amount=200_000)  # the 40_000 left
    assert (first["amount_fen"], second["amount_fen"]) == (60_000, 40_000)
    assert voucher(d)["available_fen"] == 0
    assert problem(d, "POST", "/v1/holds", w.prov, hold_body(d))[:2] == (409, "no_usable_voucher")
    inv = invoice(d, 100_000)
    r = w.api.client.post("/v1/redemptions", headers=w.ent,
                          json={"invoice_id": inv["id"], "voucher_id": d["voucher"]["id"]})
    assert (r.status_code, r.json()["code"]) == (409, "no_usable_voucher")
    assert w.api.client.post("/v1/redemptions", headers=w.ent,
                             json={"invoice_id": inv["id"]}).json()["code"] == "no_usable_voucher"
    post(d, f"/v1/holds/{second['id']}/void", w.ent, {"reason": "order cancelled"})
    assert w.redeem(inv["id"])["subsidy_fen"] == 30_000  # only what the void freed
    assert voucher(d)["available_fen"] == 10_000
    books_clean(d)


def test_a_hold_resolves_at_most_once(world):
    """Blnk #41 (voided twice), #182 (a rejected hold still captured), #62 (captured beyond
    what was held): the second resolution names the status; the capture stops at the hold."""
    d = world
    w = d["w"]
    hold = place(d, amount=50_000)  # 15_000 held
    inv = invoice(d, 100_000)  # would earn 30_000
    voided = post(d, f"/v1/holds/{hold['id']}/void", w.prov)
    assert (voided["status"], voided["released_fen"]) == ("voided", 15_000)
    path = f"/v1/holds/{hold['id']}"
    assert problem(d, "POST", path + "/void", w.prov) == (409, "hold_not_pending",
                                                          "the hold is voided")
    assert problem(d, "POST", path + "/capture", w.prov, {"invoice_id": inv["id"]}) == (
        409, "hold_not_pending", "the hold is voided")
    again = place(d, amount=50_000)
    got = post(d, f"/v1/holds/{again['id']}/capture", w.prov, {"invoice_id": inv["id"]},
               expect=201)
    assert (got["hold"]["captured_fen"], got["hold"]["released_fen"]) == (15_000, 0)
    assert got["redemption"]["subsidy_fen"] == 15_000  # never more than was held
    assert problem(d, "POST", f"/v1/holds/{again['id']}/capture", w.prov,
                   {"invoice_id": inv["id"]})[:2] == (409, "hold_not_pending")
    assert voucher(d)["balance_fen"] == FACE - 15_000
    books_clean(d)


def test_void_by_each_allowed_party_and_no_one_else(world):
    d = world
    w = d["w"]
    api = w.api
    for headers in (w.prov, w.ent, api.admin):
        hold = place(d, amount=10_000)
        assert post(d, f"/v1/holds/{hold['id']}/void", headers)["status"] == "voided"
    hold = place(d, amount=10_000)
    path = f"/v1/holds/{hold['id']}"
    for headers in (d["prov_b"], d["ent_b"]):  # another party's hold is a 404
        assert problem(d, "POST", path + "/void", headers)[:2] == (404, "not_found")
        assert problem(d, "GET", path, headers)[:2] == (404, "not_found")
        assert api.ok("GET", "/v1/holds", headers=headers)["items"] == []
    assert problem(d, "POST", path + "/void", api.auditor())[:2] == (403, "forbidden")
    assert problem(d, "POST", path + "/capture", w.ent, {"invoice_id": "inv_x"})[0] == 403
    assert api.ok("GET", path, headers=w.ent)["status"] == "pending"
    assert len(api.ok("GET", "/v1/holds", headers=w.prov)["items"]) == 4
    books_clean(d)


def test_edges_of_the_request(world):
    d = world
    w = d["w"]
    assert problem(d, "POST", "/v1/holds", w.prov,
                   hold_body(d, expires_in_s=30 * 24 * 3600 + 1))[:2] == (422, "validation_error")
    longest = place(d, amount=10_000, expires_in_s=30 * 24 * 3600)  # refused above, not cut
    assert datetime.fromisoformat(longest["expires_at"]) - datetime.fromisoformat(
        longest["created_at"]) == timedelta(days=30)
    w.api.year(2027)  # reimbursement mode
    assert problem(d, "POST", "/v1/holds", w.prov, hold_body(d, year=2027))[:2] == (
        409, "wrong_settlement_mode")
    other = hold_body(d, voucher_code="NOPE-0000")
    assert problem(d, "POST", "/v1/holds", w.prov, other)[:2] == (409, "no_usable_voucher")
    zero = hold_body(d, lines=[{"category": "gpu", "amount_fen": 3}])  # 0.9 fen: nothing
    assert problem(d, "POST", "/v1/holds", w.prov, zero)[:2] == (409, "nothing_to_redeem")
    assert problem(d, "POST", "/v1/holds", w.ent, hold_body(d))[0] == 403


def test_revoking_a_voucher_voids_its_pending_holds_first(world):
    d = world
    w = d["w"]
    hold = place(d)
    w.api.ok("POST", f"/v1/vouchers/{d['voucher']['id']}/revoke", json={"reason": "违规"})
    got = w.api.ok("GET", f"/v1/holds/{hold['id']}")
    assert (got["status"], got["released_fen"], got["reason"]) == (
        "voided", 30_000, "voucher revoked: 违规")
    v = voucher(d)
    assert (v["status"], v["balance_fen"], v["returned_fen"]) == ("revoked", 0, FACE)
    books_clean(d)


def test_closing_the_year_voids_its_pending_holds_first(world, today):
    d = world
    w = d["w"]
    hold = place(d, expires_in_s=30 * 24 * 3600)
    assert w.api.ok("GET", "/v1/years/2026/reconciliation")["pending_holds_over_7_days"] == []
    today("2026-06-23")  # eight days on: still pending, listed (mojaloop #3300), not a failure
    stale = w.api.ok("GET", "/v1/years/2026/reconciliation")["pending_holds_over_7_days"]
    assert [(h["hold_id"], h["amount_fen"]) for h in stale] == [(hold["id"], 30_000)]
    books_clean(d)
    w.api.ok("POST", "/v1/years/2026/close", json={"force": True, "reason": "提前结束"})
    got = w.api.ok("GET", f"/v1/holds/{hold['id']}")
    assert (got["status"], got["released_fen"], got["reason"]) == (
        "voided", 30_000, "budget year closed")
    v = voucher(d)
    assert (v["status"], v["balance_fen"], v["held_fen"]) == ("expired", 0, 0)
    books_clean(d)
