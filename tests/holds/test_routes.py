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
