"""vouchers.access.admits is `readable` for a voucher row already read (the redemption batch)."""

from types import SimpleNamespace

import pytest

from service.auth.principal import Principal
from service.vouchers import access


@pytest.mark.parametrize(("role", "party", "admitted"), [
    ("admin", {}, True), ("auditor", {}, True),
    ("enterprise", {"enterprise_id": "ent_a"}, True),
    ("enterprise", {"enterprise_id": "ent_b"}, False),
    ("provider", {"provider_id": "prv_a"}, False),
])
def test_the_bureau_and_the_owning_enterprise_are_admitted_nobody_else(role, party, admitted):
    voucher = SimpleNamespace(id="vch_1", enterprise_id="ent_a")
    principal = Principal(key_id="k", name="n", role=role, **party)
    assert access.admits(principal, voucher) is admitted
