"""Holds racing redemptions for the last fen (issue 26), on PostgreSQL through two live servers
(the harness of tests/concurrency/test_redemptions.py): exactly what fits is reserved or
redeemed, nothing twice, and the books agree afterwards."""

from collections import Counter

import pytest

from tests.concurrency import test_redemptions as harness
from tests.concurrency.test_redemptions import (
    all_pages,
    assert_books_agree,
    codes,
    ledger_balance,
    no_5xx,
    paid_invoices,
    race,
)
from tests.flows import make_world

pytestmark = pytest.mark.postgres
scene = harness.scene  # the fixture: an in-process Api and two live servers


@pytest.mark.parametrize("faces", [[1_000_000], [400_000, 600_000]],
                         ids=["one_voucher", "the_cap_over_two_vouchers"])
def test_thirty_two_threads_race_holds_and_redemptions_for_the_last_fen(scene, faces):
    """The enterprise's vouchers are issued exactly at its cap; 16 threads place holds and 16
    redeem, each wanting 33_333 (1_066_656 in all): 30 get 33_333, exactly one gets the 10 fen
    left, one is refused — whichever kind each is. Over two vouchers the holds name the one
    redemptions draw last (and may draw on the other): holds alone never empty it, so it is
    empty only once every fen of the cap is taken, and the outcome is as exact as with one."""
    api, base_url = scene
    cap = sum(faces)
    world = make_world(api, settlement_mode="deduction", enterprise_cap_fen=cap)
    vouchers = [world.voucher(face) for face in faces]
    invoices = paid_invoices(world, [111_110] * 16)  # 33_333 eligible each
    hold = {"voucher_code": vouchers[-1]["code"], "enterprise_uscc": world.enterprise["uscc"],
            "year": 2026, "service_start": "2026-04-01", "service_end": "2026-04-30",
            "lines": [{"category": "gpu", "amount_fen": 111_110}],
            "allow_other_vouchers": len(faces) > 1}
    calls = []
    for inv in invoices:
        calls.append(("POST", "/v1/holds", world.prov, hold))
        calls.append(("POST", "/v1/redemptions", world.ent, {"invoice_id": inv["id"]}))
    responses = race(base_url, calls)
    no_5xx(responses)
    assert codes(responses) == Counter({201: 31, (409, "no_usable_voucher"): 1})
    won = [r.json() for r in responses if r.status_code == 201]
    amounts = [r.get("amount_fen", r.get("subsidy_fen")) for r in won]
    assert sorted(amounts) == [10] + [33_333] * 30
    held = sum(r["amount_fen"] for r in won if "amount_fen" in r)
    redeemed = sum(r["subsidy_fen"] for r in won if "subsidy_fen" in r)
    assert held + redeemed == cap
    drawn: Counter = Counter()
    for r in won:
        for draw in r["draws"]:
            drawn[draw["voucher_id"]] += draw["amount_fen"]
    assert drawn == Counter({v["id"]: v["face_fen"] for v in vouchers})  # each fen once
    for v in vouchers:
        after = world.get_voucher(v["id"])
        assert after["available_fen"] == 0
        assert after["balance_fen"] - after["held_fen"] == ledger_balance(api, "voucher", v["id"])
    assert ledger_balance(api, "hold") == held
    assert ledger_balance(api, "payable") == redeemed
    stored = all_pages(api, "/v1/holds", status="pending")
    assert sorted(h["amount_fen"] for h in stored) == sorted(
        r["amount_fen"] for r in won if "amount_fen" in r)
    assert api.ok("GET", "/v1/years/2026/budget")["held_fen"] == held
    assert_books_agree(api)
