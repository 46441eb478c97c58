"""Who may touch the money endpoints (PRODUCT.md §4, §5): a role matrix for invoices,
redemptions, settlements and the ledger. No key or a bad key is 401, a wrong role 403; a refused
request writes nothing. Every call is made with a valid body on the caller's own objects, so the
status depends on the role alone."""

from collections.abc import Callable

import pytest
from sqlalchemy import text

from tests.factories import bearer
from tests.flows import World, invoice_body, invoice_number, line, make_world

ROLES = ("admin", "auditor", "provider", "enterprise", "bad_key", "no_key")


def _paid_invoice(w: World) -> dict:
    return w.invoice([line("gpu", 100_000)])


def _redemption(w: World) -> dict:
    w.voucher(1_000_000)
    return w.redeem(_paid_invoice(w)["id"])


def _settlement(w: World, approved: bool = False) -> dict:
    _redemption(w)
    batch = w.settle(approve_and_pay=False)
    if approved:
        w.api.ok("POST", f"/v1/settlements/{batch['id']}/approve")
    return batch


# name -> (method, setup(world) -> (path, json body or None), {role: status}); roles not
# listed get 403, except bad_key and no_key which always get 401.
Setup = Callable[[World], tuple[str, dict | None]]
EVERYONE_READS = {"admin": 200, "auditor": 200, "provider": 200, "enterprise": 200}
BUREAU_READS = {"admin": 200, "auditor": 200}
MATRIX: dict[str, tuple[str, Setup, dict[str, int]]] = {
    "create invoice": ("POST", lambda w: (
        "/v1/invoices", invoice_body(w.enterprise["uscc"], [line("gpu", 100_000)])),
        {"provider": 201}),
    "create invoice batch": ("POST", lambda w: (
        "/v1/invoices/batch",
        {"invoices": [invoice_body(w.enterprise["uscc"], [line("gpu", 100_000)])]}),
        {"provider": 201}),
    "list invoices": ("GET", lambda w: ("/v1/invoices", None), EVERYONE_READS),
    "get invoice": ("GET", lambda w: (f"/v1/invoices/{_paid_invoice(w)['id']}", None),
                    EVERYONE_READS),
    "record payment": ("POST", lambda w: (
        f"/v1/invoices/{w.invoice([line('gpu', 100_000)], paid=False)['id']}/payments",
        {"amount_fen": 100_000, "paid_on": "2026-05-10"}), {"provider": 201}),
    "red-letter reversal": ("POST", lambda w: (
        f"/v1/invoices/{_paid_invoice(w)['id']}/reversals",
        {"invoice_number": invoice_number(), "issued_on": "2026-06-01", "amount_fen": 1,
         "reason": "折让"}), {"provider": 201}),
    "usage statement": ("POST", lambda w: (
        "/v1/usage-statements",
        {"month": "2026-03", "lines": [{"enterprise_uscc": w.enterprise["uscc"],
                                        "billed_fen": 100_000}]}), {"provider": 201}),
    "create redemption": ("POST", lambda w: (
        "/v1/redemptions", {"invoice_id": _paid_invoice(w)["id"],
                            "voucher_id": w.voucher(1_000_000)["id"]}), {"enterprise": 201}),
    "list redemptions": ("GET", lambda w: ("/v1/redemptions", None), EVERYONE_READS),
    "get redemption": ("GET", lambda w: (f"/v1/redemptions/{_redemption(w)['id']}", None),
                       EVERYONE_READS),
    "create settlement": ("POST", lambda w: (
        "/v1/settlements", {"year": 2026, "cutoff": _redemption(w)["created_at"]}),
        {"admin": 201}),
    "list settlements": ("GET", lambda w: ("/v1/settlements", None), BUREAU_READS),
    "get settlement": ("GET", lambda w: (f"/v1/settlements/{_settlement(w)['id']}", None),
                       BUREAU_READS),
    "approve settlement": ("POST", lambda w: (
        f"/v1/settlements/{_settlement(w)['id']}/approve", None), {"admin": 200}),
    "pay settlement": ("POST", lambda w: (
        f"/v1/settlements/{_settlement(w, approved=True)['id']}/pay",
        {"bank_reference": "BOC-20260615-01"}), {"admin": 200}),
    "export settlement": ("GET", lambda w: (
        f"/v1/settlements/{_settlement(w)['id']}/export?format=csv", None), BUREAU_READS),
    "ledger accounts": ("GET", lambda w: ("/v1/ledger/accounts", None), BUREAU_READS),
    "ledger transfers": ("GET", lambda w: ("/v1/ledger/transfers", None), BUREAU_READS),
}


def expected(allowed: dict[str, int], role: str) -> int:
    if role in ("bad_key", "no_key"):
        return 401
    return allowed.get(role, 403)


CASES = [pytest.param(name, role, id=f"{name}-{role}") for name in MATRIX for role in ROLES]


def audit_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM audit_event")).scalar()


@pytest.mark.parametrize("name, role", CASES)
def test_role_matrix(api, today, name, role):
    today("2026-06-15")
    world = make_world(api)
    method, setup, allowed = MATRIX[name]
    path, body = setup(world)
    headers = {"admin": api.admin, "auditor": api.auditor(), "provider": world.prov,
               "enterprise": world.ent, "bad_key": bearer("cvk_not-a-real-key"),
               "no_key": {}}[role]
    before = audit_count(api.engine)
    r = api.client.request(method, path, headers=headers, json=body)
    want = expected(allowed, role)
    assert r.status_code == want, (name, role, r.text)
    if want >= 400:
        assert r.json()["code"] == {401: "unauthenticated", 403: "forbidden"}[want]
        assert audit_count(api.engine) == before
    if want == 401:
        assert r.headers["www-authenticate"] == "Bearer"
