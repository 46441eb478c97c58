"""The what-if replay's two loads (docs/what-if.md, "Speed"): PostgreSQL's fast one
(service/whatif/pgload.py) gives the same year, array for array, and the same answers as the
generic SQL SQLite runs, on a year with everything the replay models; and what the write path
records for the fast load (migration 0011) is what the generic load would compute."""

from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlmodel import Session

from service.kit.db import snapshot
from service.whatif import compare as whatif
from service.whatif import replay
from service.years.service import get_year
from tests.flows import line, make_world
from tests.whatif.test_routes import ACTUAL, other_enterprise, post_invoice, redeem_as, run

FIELDS = ("enterprises", "districts", "names", "providers", "shapes", "inv_ent", "inv_prov",
          "inv_issued", "inv_overlap", "inv_days", "inv_total", "inv_shape", "ev_kind", "ev_ref",
          "ev_day", "ev_paid", "ev_rev", "actual", "single_draw", "named", "reversed_invoices",
          "claims")


@pytest.fixture
def busy_year(year_of_everything, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("one load only on SQLite")
    return year_of_everything


@pytest.fixture
def year_of_everything(api, today):
    """Reversals before a redemption, before and after settlement; payments before, between
    and after redemptions; a cross-year invoice; a named voucher; a reclaim and a revocation;
    demand never claimed."""
    today("2026-03-02")
    world = make_world(api)
    b_ent, b_key = other_enterprise(world, api)
    early = world.voucher(400_000, valid_until="2026-12-31")
    world.voucher(5_000_000, valid_until="2027-01-31")
    api.voucher(b_ent["id"], 500_000)
    one = world.invoice([line("gpu", 1_000_000), line("storage", 70_000)])
    world.reverse(one["id"], 100_000)  # before any redemption of it
    world.redeem(one["id"])
    two = world.invoice([line("gpu", 500_000), line("cpu", 20_000)], paid=False)
    world.pay(two["id"], 200_000)
    today("2026-04-01")
    world.redeem(two["id"])
    world.pay(two["id"], 300_000)  # after its first redemption
    world.redeem(two["id"], early["id"])  # named
    cross = world.invoice([line("npu", 12_345_678)], start="2025-12-01", end="2026-01-31")
    world.redeem(cross["id"])
    big = post_invoice(world, b_ent, [line("gpu", 3_000_000)])
    redeem_as(world, b_key, big["id"])
    today("2026-05-01")
    world.settle()
    world.reverse(two["id"], 100_000)  # a clawback
    world.reverse(big["id"], 1_500_000)
    today("2026-06-20")
    api.ok("POST", "/v1/years/2026/reclaim", json={
        "issued_before": "2026-07-01", "max_used_bp": 9000, "reclaim_bp": 5000, "apply": True})
    gone = api.voucher(b_ent["id"], 100_000)
    today("2026-07-01")
    api.ok("POST", f"/v1/vouchers/{gone['id']}/revoke", json={"reason": "项目终止"})
    world.invoice([line("gpu", 600_000)])  # never redeemed
    world.invoice([line("accelerator", 300_000)], paid=False)
    three = world.invoice([line("gpu", 800_000)])
    world.redeem(three["id"])
    today("2026-08-01")
    return world


def load(engine, fast: bool, unclaimed: bool, monkeypatch) -> replay.YearData:
    monkeypatch.setattr(replay, "FAST_LOAD", fast)
    with Session(snapshot(engine)) as session:
        return replay.load(session, get_year(session, 2026), unclaimed=unclaimed)


def event_keys(data: replay.YearData) -> list:
    """Per event, the (invoice, paid, reversed) its eligible subsidy is asked with (None for
    the events that decide nothing on an invoice)."""
    keys, ev_key = replay.claim_keys(data)
    deciding = (replay.REDEMPTION, replay.UNCLAIMED, replay.REVERSAL)
    return [keys[k] if kind in deciding else None for kind, k in zip(data.ev_kind, ev_key)]


@pytest.mark.parametrize("unclaimed", [False, True])
def test_both_loads_give_the_same_year(busy_year, engine, monkeypatch, unclaimed):
    fast, generic = (load(engine, f, unclaimed, monkeypatch) for f in (True, False))
    assert fast.claims == 6
    for name in FIELDS:
        assert getattr(fast, name) == getattr(generic, name), name
    # what the fast load gathers on the way, the generic one computes afterwards
    assert replay.redemption_claims(fast) == replay.redemption_claims(generic)
    assert event_keys(fast) == event_keys(generic)
    assert [(n, tuple(f)) for n, f in fast.unclaimed] == \
        [(n, tuple(f)) for n, f in generic.unclaimed]


def test_both_loads_give_the_same_answers(busy_year, api, monkeypatch):
    scenarios = [ACTUAL, {"name": "follow", "overrides": {}, "vouchers": "follow_cap"},
                 {"name": "20 %, growth", "overrides": {"rate_bp": 2000,
                                                        "invoice_growth_bp": 4000}},
                 {"name": "small pool", "overrides": {"pool_fen": 500_000},
                  "include_unredeemed": True},
                 {"name": "cap", "overrides": {"enterprise_cap_fen": 300_000,
                                               "category_rates_bp": {"npu": 1000}}}]
    answers = {}
    for fast in (True, False):
        monkeypatch.setattr(replay, "FAST_LOAD", fast)
        for group_by in ("enterprise", "provider", "category", "month", "district"):
            whatif.clear_caches()
            answer = run(api, scenarios, group_by=group_by)
            answer.pop("cached")
            answers[fast, group_by] = answer
    for group_by in ("enterprise", "provider", "category", "month", "district"):
        assert answers[True, group_by] == answers[False, group_by]
    assert answers[True, "enterprise"]["scenarios"][0]["total_subsidy_fen"] == \
        answers[True, "enterprise"]["baseline"]["total_subsidy_fen"]


def test_scenarios_replayed_in_forked_processes_give_the_same_answer(api, today, monkeypatch):
    today("2026-03-02")
    world = make_world(api)
    world.voucher(1_000_000)
    for amount in (1_000_000, 2_000_000, 500_000):
        world.redeem(world.invoice([line("gpu", amount)])["id"])
    scenarios = [{"name": "20 %", "overrides": {"rate_bp": 2000}},
                 {"name": "pool", "overrides": {"pool_fen": 700_000}},
                 {"name": "follow", "overrides": {"enterprise_cap_fen": 500_000},
                  "vouchers": "follow_cap"}]
    answers = []
    for threshold in (0, 10**9):  # every compare forked, then none
        monkeypatch.setattr(whatif, "PARALLEL_MIN_CLAIMS", threshold)
        whatif.clear_caches()
        answers.append(run(api, scenarios))
    assert answers[0] == answers[1]
    assert [r["total_subsidy_fen"] for r in answers[0]["scenarios"]] == [700_000, 700_000,
                                                                         500_000]


def _migration_0011():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "migrations/versions/20261202_0011_whatif_snapshots.py"
    spec = importlib.util.spec_from_file_location("whatif_snapshots_0011", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RECORDED = ("SELECT id, invoice_paid_fen, invoice_reversed_fen FROM redemption ORDER BY id",
            "SELECT id, invoice_paid_fen, invoice_reversed_fen FROM invoice_reversal ORDER BY id",
            "SELECT id, line_amounts FROM invoice ORDER BY id")


def _recorded(engine) -> list:
    with engine.connect() as conn:
        return [[tuple(r) for r in conn.execute(text(sql))] for sql in RECORDED]


def test_migration_0011_fills_what_the_write_path_records(year_of_everything, engine):
    """The amounts each redemption and reversal found or left on its invoice, and the lines
    per category: what the write path records is what migration 0011 computes for older rows."""
    recorded = _recorded(engine)
    assert [r[1:] for r in recorded[0]] == [(1_070_000, 100_000), (200_000, 0),
                                            (500_000, 0), (12_345_678, 0), (3_000_000, 0),
                                            (800_000, 0)]
    assert [r[1:] for r in recorded[1]] == [(1_070_000, 100_000), (500_000, 100_000),
                                            (3_000_000, 1_500_000)]
    assert sorted(r[1] for r in recorded[2]) == [
        "accelerator 300000", "cpu 20000 gpu 500000", "gpu 1000000 storage 70000",
        "gpu 3000000", "gpu 600000", "gpu 800000", "npu 12345678"]
    with engine.begin() as conn:
        conn.execute(text("UPDATE redemption SET invoice_paid_fen = NULL, "
                          "invoice_reversed_fen = NULL"))
        conn.execute(text("UPDATE invoice_reversal SET invoice_paid_fen = NULL, "
                          "invoice_reversed_fen = NULL"))
        conn.execute(text("UPDATE invoice SET line_amounts = NULL"))
        _migration_0011().backfill(conn)
    assert _recorded(engine) == recorded


@pytest.mark.parametrize("clear", [
    "UPDATE redemption SET invoice_paid_fen = NULL WHERE id = (SELECT MAX(id) FROM redemption)",
    "UPDATE invoice_reversal SET invoice_reversed_fen = NULL "
    "WHERE id = (SELECT MIN(id) FROM invoice_reversal)",
    "UPDATE invoice SET line_amounts = NULL WHERE id = (SELECT MIN(id) FROM invoice)"])
def test_a_row_without_recorded_amounts_takes_the_generic_load(busy_year, engine,
                                                                monkeypatch, clear):
    generic = load(engine, False, True, monkeypatch)
    with engine.begin() as conn:
        conn.execute(text(clear))
    taken = []
    real = replay._load
    monkeypatch.setattr(replay, "_load", lambda *a, **k: taken.append(k["fast"]) or real(*a, **k))
    fast = load(engine, True, True, monkeypatch)
    assert taken == [True, False]
    for name in FIELDS:
        assert getattr(fast, name) == getattr(generic, name), name


@pytest.mark.parametrize("transaction", ["snapshot", "read committed", "written"])
def test_the_stream_reads_a_second_connection_only_in_the_same_snapshot(
        busy_year, engine, monkeypatch, transaction):
    """The event stream is read on a second connection importing the compare's snapshot only
    when that transaction is one snapshot that has written nothing; otherwise on the
    compare's own connection. The year is the same either way."""
    generic = load(engine, False, False, monkeypatch)
    from service.whatif import pgload

    sides = []
    real = pgload.side_connection

    @contextmanager
    def spy(session, raw):
        with real(session, raw) as side:
            sides.append(side is not None)
            yield side

    monkeypatch.setattr(pgload, "side_connection", spy)
    monkeypatch.setattr(replay, "FAST_LOAD", True)
    with Session(snapshot(engine) if transaction != "read committed" else engine) as session:
        if transaction == "written":
            session.execute(text("CREATE TEMP TABLE compare_wrote (x int)"))
        fast = replay.load(session, get_year(session, 2026))
    assert sides == [transaction == "snapshot"]
    for name in FIELDS:
        assert getattr(fast, name) == getattr(generic, name), name
