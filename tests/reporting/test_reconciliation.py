"""Reconciliation: clean after real activity, and each kind of corrupted figure is caught by
its own check with the discrepancy named (PRODUCT.md §3.7)."""

import pytest
from sqlalchemy import text

from service.cli import main as cli_main
from tests.conftest import sql
from tests.flows import line, make_world


@pytest.fixture
def busy(api, today):
    """A year with issuance, a revocation, redemptions, a paid batch, a clawback, a statement."""
    today("2026-06-15")
    world = make_world(api, pool_fen=50_000_000)
    v = world.voucher(2_000_000)
    spare = world.voucher(100_000)
    api.ok("POST", f"/v1/vouchers/{spare['id']}/revoke")
    inv = world.invoice([line("gpu", 1_000_000)], issued_on="2026-04-30")
    world.redeem(inv["id"])
    world.settle()
    world.reverse(inv["id"], 200_000)  # clawback of 60_000 after payout
    world.redeem(world.invoice([line("npu", 500_000)], issued_on="2026-04-30")["id"])
    api.ok("POST", "/v1/usage-statements", headers=world.prov, expect=201, json={
        "month": "2026-04", "lines": [{"enterprise_uscc": world.enterprise["uscc"],
                                       "billed_fen": 1_300_000}]})
    world.voucher_id = v["id"]
    world.invoice_id = inv["id"]
    return world


def failing(api) -> dict[str, dict]:
    result = api.ok("GET", "/v1/years/2026/reconciliation")
    return {c["name"]: c for c in result["checks"] if not c["ok"]}


def test_clean_year_passes_every_check(busy, api):
    result = api.ok("GET", "/v1/years/2026/reconciliation")
    assert result["ok"] is True, [c for c in result["checks"] if not c["ok"]]
    assert {c["name"] for c in result["checks"]} == {
        "transfers_positive_and_balanced", "account_totals_match_transfers",
        "balances_within_limits", "voucher_balances_match_ledger", "pool_limit",
        "enterprise_caps", "invoice_subsidy_within_eligible",
        "payable_equals_redeemed_less_settled", "settlements_paid_equal_payouts",
        "clawbacks_equal_receivables", "audit_chain_intact", "usage_statements_match_invoices",
        "pending_holds_match_ledger"}


def test_corrupt_voucher_balance(busy, api):
    sql(api.engine, "UPDATE voucher SET balance_fen = balance_fen - 1 WHERE id = :v",
        v=busy.voucher_id)
    bad = failing(api)
    assert set(bad) == {"voucher_balances_match_ledger"}
    assert bad["voucher_balances_match_ledger"]["discrepancies"][0]["voucher_id"] == \
        busy.voucher_id


def test_corrupt_transfer_amount(busy, api):
    # one transfer's amount no longer matches the account totals it was posted to
    sql(api.engine, "UPDATE ledger_transfer SET amount_fen = amount_fen + 7 "
                    "WHERE kind = 'redeem' AND id = (SELECT min(id) FROM ledger_transfer "
                    "WHERE kind = 'redeem')")
    bad = failing(api)
    assert "account_totals_match_transfers" in bad
    assert len(bad["account_totals_match_transfers"]["discrepancies"]) == 2


def test_corrupt_nonpositive_transfer(busy, api, engine):
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        sql(engine, "ALTER TABLE ledger_transfer DROP CONSTRAINT ck_ledger_transfer_amount_positive")
    try:
        with engine.begin() as conn:
            if postgres:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                conn.execute(text("PRAGMA ignore_check_constraints = ON"))
            conn.execute(text("UPDATE ledger_transfer SET amount_fen = 0 WHERE kind = 'fund'"))
        bad = failing(api)
        assert bad["transfers_positive_and_balanced"]["discrepancies"][0]["kind"] == "fund"
    finally:
        if postgres:  # the schema is shared by the PostgreSQL tests that follow: put it back
            sql(engine, "ALTER TABLE ledger_transfer ADD CONSTRAINT "
                        "ck_ledger_transfer_amount_positive CHECK (amount_fen > 0) NOT VALID")


def test_corrupt_pool_figure(busy, api):
    sql(api.engine, "UPDATE budget_year SET pool_fen = 1000 WHERE year = 2026")
    bad = failing(api)
    assert "pool_limit" in bad
    problems = [d["problem"] for d in bad["pool_limit"]["discrepancies"]]
    assert "issued less returned exceeds the pool" in problems


def test_corrupt_enterprise_cap(busy, api):
    sql(api.engine, "UPDATE budget_year SET enterprise_cap_fen = 10 WHERE year = 2026")
    bad = failing(api)
    assert bad["enterprise_caps"]["discrepancies"][0]["enterprise_id"] == busy.enterprise["id"]


def test_corrupt_invoice_subsidy(busy, api):
    sql(api.engine, "UPDATE invoice SET reversed_fen = total_fen WHERE id = :i",
        i=busy.invoice_id)
    bad = failing(api)
    found = bad["invoice_subsidy_within_eligible"]["discrepancies"][0]
    assert (found["invoice_id"], found["eligible_fen"], found["redeemed_fen"]) == (
        busy.invoice_id, 0, 240_000)


def test_corrupt_redemption_amount(busy, api):
    sql(api.engine, "UPDATE redemption SET subsidy_fen = subsidy_fen + 5 "
                    "WHERE status = 'payable'")
    bad = failing(api)
    assert "payable_equals_redeemed_less_settled" in bad
    d = bad["payable_equals_redeemed_less_settled"]["discrepancies"][0]
    assert d["expected_fen"] - d["ledger_fen"] == 5


def test_corrupt_settlement_total(busy, api):
    sql(api.engine, "UPDATE settlement SET total_fen = total_fen + 100")
    bad = failing(api)
    assert "settlements_paid_equal_payouts" in bad


def test_corrupt_clawback(busy, api):
    sql(api.engine, "UPDATE clawback SET amount_fen = amount_fen + 1")
    bad = failing(api)
    d = bad["clawbacks_equal_receivables"]["discrepancies"][0]
    assert (d["clawbacks_owed_fen"], d["ledger_receivable_fen"]) == (60_001, 60_000)


def test_corrupt_audit_event(busy, api):
    sql(api.engine, "UPDATE audit_event SET summary = '{}' WHERE seq = 3")
    bad = failing(api)
    assert bad["audit_chain_intact"]["discrepancies"][0]["first_broken_seq"] == 3


def test_usage_statement_mismatch(busy, api):
    api.ok("POST", "/v1/usage-statements", headers=busy.prov, expect=201, json={
        "month": "2026-04", "lines": [{"enterprise_uscc": busy.enterprise["uscc"],
                                       "billed_fen": 1_299_999}]})
    bad = failing(api)
    d = bad["usage_statements_match_invoices"]["discrepancies"][0]
    assert (d["statement_fen"], d["invoiced_fen"]) == (1_299_999, 1_300_000)


def test_cli_reconcile_exit_status(busy, api, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", str(api.engine.url.render_as_string(hide_password=False)))
    from service.kit.config import get_settings
    get_settings.cache_clear()
    try:
        assert cli_main(["reconcile", "--year", "2026"]) == 0
        sql(api.engine, "UPDATE voucher SET balance_fen = balance_fen - 1 WHERE id = :v",
            v=busy.voucher_id)
        assert cli_main(["reconcile", "--year", "2026"]) == 1
        assert "FAIL voucher_balances_match_ledger" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()


@pytest.mark.postgres
def test_reporting_reads_see_one_snapshot(pg):
    """Budget, reconciliation and report read through db.snapshot: a write committed between
    two of their statements is not seen by the second, so their figures cannot disagree."""
    from sqlmodel import Session

    from service.kit.db import snapshot

    head = "SELECT last_seq FROM audit_chain_head WHERE id = 1"
    with Session(snapshot(pg)) as session:
        assert session.execute(text(head)).scalar() == 0
        sql(pg, "UPDATE audit_chain_head SET last_seq = 5 WHERE id = 1")
        assert session.execute(text(head)).scalar() == 0
    with Session(snapshot(pg)) as session:
        assert session.execute(text(head)).scalar() == 5


def test_corrupt_enterprise_reservation(busy, api):
    """The cap's counter no longer equals the enterprise's vouchers (2,000,000 fen issued; the
    100,000 fen voucher was revoked and returned): named with both figures, alone, by the
    incremental run after a clean one and by the full run."""
    assert api.ok("GET", "/v1/years/2026/reconciliation")["ok"] is True
    sql(api.engine, "UPDATE enterprise_year SET reserved_fen = reserved_fen + 1 "
        "WHERE enterprise_id = :e AND year = 2026", e=busy.enterprise["id"])
    for query in ("", "?full=true"):
        result = api.ok("GET", f"/v1/years/2026/reconciliation{query}")
        assert result["kind"] == ("full" if query else "incremental")
        bad = {c["name"]: c for c in result["checks"] if not c["ok"]}
        assert set(bad) == {"enterprise_caps"}
        assert bad["enterprise_caps"]["actual"] == "1 enterprises"
        assert bad["enterprise_caps"]["discrepancies"] == [
            {"enterprise_id": busy.enterprise["id"], "vouchers_net_fen": 2_000_000,
             "reserved_fen": 2_000_001, "cap_fen": 200_000_000}]
