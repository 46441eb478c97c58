"""The redemption path's pure rules (PRODUCT.md §3.5): drawing vouchers in draw order, giving
back last drawn first, and when a deduction-mode provider is owed — each at its edges."""

from types import SimpleNamespace

import pytest

from service.redemptions.redeem import draw_from
from service.redemptions.restore import enterprise_share_paid, give_back_parts


def vouchers(*balances: int) -> list:
    return [SimpleNamespace(id=f"v{i}", balance_fen=b) for i, b in enumerate(balances)]


@pytest.mark.parametrize("left,expected", [
    (0, []),
    (1, [("v0", 1)]),
    (300, [("v0", 300)]),                          # exactly the first voucher
    (301, [("v0", 300), ("v1", 1)]),               # one fen more: the next voucher
    (800, [("v0", 300), ("v1", 500)]),             # everything
    (801, [("v0", 300), ("v1", 500)]),             # never more than the vouchers hold
])
def test_draw_from_takes_each_voucher_in_order_up_to_its_balance(left, expected):
    assert [(v.id, amount) for v, amount in draw_from(vouchers(300, 500), left)] == expected


@pytest.mark.parametrize("outstanding,amount,expected", [
    ([300, 500], 0, []),
    ([300, 500], 500, [(1, 500)]),                 # exactly the last draw
    ([300, 500], 501, [(1, 500), (0, 1)]),         # one fen more reaches the first draw
    ([300, 0, 500], 700, [(2, 500), (0, 200)]),    # a draw given back already is skipped
    ([300, 500], 900, [(1, 500), (0, 300)]),       # what does not fit is left out
])
def test_give_back_goes_to_the_last_draw_first(outstanding, amount, expected):
    assert give_back_parts(outstanding, amount) == expected


@pytest.mark.parametrize("paid,net_total,redeemed,owed", [
    (700_000, 1_000_000, 300_000, True),           # paid exactly the rest
    (699_999, 1_000_000, 300_000, False),          # one fen short
    (1_000_000, 1_000_000, 0, True),
])
def test_the_provider_is_owed_once_the_enterprise_paid_its_share(paid, net_total, redeemed, owed):
    assert enterprise_share_paid(paid, net_total, redeemed) is owed
