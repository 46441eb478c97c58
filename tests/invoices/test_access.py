"""invoices.access.admits is `readable` for an invoice row already read (the payment and the
redemption batches)."""

from types import SimpleNamespace

from service.auth.principal import Principal
from service.invoices import access

INVOICE = SimpleNamespace(id="inv_1", enterprise_id="ent_a", provider_id="prv_a")


def test_the_bureau_the_invoices_enterprise_and_its_provider_are_admitted_nobody_else():
    assert access.admits(Principal(key_id="k", name="b", role="admin"), INVOICE)
    assert access.admits(Principal(key_id="k", name="e", role="enterprise",
                                   enterprise_id="ent_a"), INVOICE)
    assert access.admits(Principal(key_id="k", name="p", role="provider",
                                   provider_id="prv_a"), INVOICE)
    assert not access.admits(Principal(key_id="k", name="e", role="enterprise",
                                       enterprise_id="ent_b"), INVOICE)
    assert not access.admits(Principal(key_id="k", name="p", role="provider",
                                       provider_id="prv_b"), INVOICE)
    assert not access.admits(Principal(key_id="k", name="r", role="reviewer",
                                       review_level="district", district="d1"), INVOICE)
