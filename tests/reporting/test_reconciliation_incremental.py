"""Incremental reconciliation (docs/reconciliation.md): after a clean run only what was written
since is read, and its verdict is the full run's — on a clean year and on each kind of old row
corrupted directly in SQL after the clean run."""

import pytest

from tests.conftest import sql
from tests.flows import line
from tests.reporting.test_reconciliation import busy  # noqa: F401 - the year both files reconcile


def run(api, full: bool = False) -> dict:
    return api.ok("GET", "/v1/years/2026/reconciliation" + ("?full=true" if full else ""))


def failing(result) -> set[str]:
    return {c["name"] for c in result["checks"] if not c["ok"]}


@pytest.fixture
def reconciled(busy, api, today):  # noqa: F811
    """The busy year a day later (its rows older than the run's margin), reconciled clean."""
    today("2026-06-16")
    first = run(api)
    assert (first["kind"], first["ok"], first["since"]) == ("full", True, None)
    assert first["fallback"] == "no clean reconciliation of this year yet"
    return busy


def test_clean_year_then_new_redemption_incremental_equals_full(reconciled, api):
    world = reconciled
    world.redeem(world.invoice([line("gpu", 300_000)], issued_on="2026-05-10")["id"])
    result = run(api)
    assert (result["kind"], result["ok"], result["fallback"]) == ("incremental", True, None)
    assert (result["since"]["run"], result["since"]["kind"]) == (1, "full")
    counts = {c["name"]: c["actual"] for c in result["checks"]}
    full = run(api, full=True)
    assert (full["kind"], full["ok"], full["since"], full["fallback"]) == ("full", True, None, None)
    assert [c["name"] for c in result["checks"]] == [c["name"] for c in full["checks"]]
    assert counts["transfers_positive_and_balanced"] == \
        {c["name"]: c["actual"] for c in full["checks"]}["transfers_positive_and_balanced"]
    # The full run recorded the third watermark; the next incremental starts from it.
    assert run(api)["since"]["run"] == 3


def test_corrupt_voucher_balance_after_clean_run(reconciled, api):
    sql(api.engine, "UPDATE voucher SET balance_fen = balance_fen - 1 WHERE id = :v",
        v=reconciled.voucher_id)
    result = run(api)
    assert (result["kind"], failing(result)) == ("incremental", {"voucher_balances_match_ledger"})
    bad = next(c for c in result["checks"] if not c["ok"])["discrepancies"][0]
    assert bad["voucher_id"] == reconciled.voucher_id
    assert bad["balance_fen"] == bad["ledger_balance_fen"] - 1
    assert failing(run(api, full=True)) == failing(result)


def test_corrupt_account_total_after_clean_run(reconciled, api):
    sql(api.engine, "UPDATE ledger_account SET credits_posted_fen = credits_posted_fen + 3 "
                    "WHERE kind = 'voucher' AND owner_id = :v", v=reconciled.voucher_id)
    result = run(api)
    assert (result["kind"], failing(result)) == ("incremental", {"account_totals_match_transfers"})
    bad = next(c for c in result["checks"] if not c["ok"])["discrepancies"]
    assert [d["stored_credits_fen"] - d["transfer_credits_fen"] for d in bad] == [3]
    assert failing(run(api, full=True)) == failing(result)


def test_corrupt_old_transfer_after_clean_run(reconciled, api):
    # an old transfer edited under the running totals: the watermark no longer holds
    sql(api.engine, "UPDATE ledger_transfer SET amount_fen = amount_fen + 7 "
                    "WHERE kind = 'redeem' AND id = (SELECT min(id) FROM ledger_transfer "
                    "WHERE kind = 'redeem')")
    result = run(api)
    assert result["kind"] == "full"
    assert result["fallback"] == ("ledger transfers the watermark covers were changed, added "
                                  "or removed since")
    assert result["since"]["run"] == 1
    assert "account_totals_match_transfers" in failing(result)
    assert failing(run(api, full=True)) == failing(result)


def test_refusals_and_hostile_flag(reconciled, api):
    assert api.client.get("/v1/years/2026/reconciliation?full=maybe",
                          headers=api.admin).status_code == 422
    assert api.client.get("/v1/years/2031/reconciliation", headers=api.admin).status_code == 404


def test_audit_event_at_the_watermark_changed(reconciled, api):
    sql(api.engine, "UPDATE audit_event SET hash = :h WHERE seq = (SELECT max(seq) FROM "
                    "audit_event)", h="f" * 64)
    result = run(api)
    assert (result["kind"], result["fallback"]) == (
        "full", "the audit event the watermark ends at is missing or changed")
    assert failing(result) == failing(run(api, full=True)) == {"audit_chain_intact"}
