"""`voucher demo`: a simulated year built through the services (PRODUCT.md §6)."""

import shutil
from datetime import date

import pytest
from sqlmodel import Session, func, select

from service.kit import clock
from service.audit import service as audit
from service.auth.principal import SYSTEM
from service.kit.db import make_engine
from simulation import DatabaseNotEmpty, run_demo
from service.invoices.models import Invoice, InvoiceLine, InvoicePayment, InvoiceReversal
from service.redemptions.models import Redemption
from service.risk.models import Review
from service.vouchers.models import Application
from service.ledger.models import LedgerAccount
from service.registry.models import Enterprise
from service.reporting.reconciliation import reconcile
from service.settlements.models import Settlement
from service.uow import run_write
from service.kit.uscc import uscc_problem
from service.vouchers.models import Voucher
from service.years import service as years
from service.years.schemas import YearCreate

SMALL = {"enterprises": 20, "providers": 5, "invoices": 200}


def test_demo_fills_an_empty_database(engine, today):
    today("2026-12-07")  # a Monday: the simulation stops here, with work still in progress
    patched = clock.now
    summary = run_demo(engine, seed=7, **SMALL)
    assert clock.now is patched  # the simulated calendar is put back

    assert summary["year"] == 2026  # the current year by default
    assert summary["enterprises"] == 20 and summary["providers"] == 5
    assert summary["invoices"] == 200
    assert summary["payments"] > 150
    assert summary["reversals"] >= 2
    assert sum(summary["redemptions"].values()) > 80
    # The November batch was created today and waits in review.
    assert [s["status"] for s in summary["settlements"]] == ["paid", "draft"]
    assert [s["cutoff"] for s in summary["settlements"]] == ["2026-06-30", "2026-11-30"]
    assert all(s["total_fen"] > 0 for s in summary["settlements"])

    budget = summary["budget"]
    assert budget["pool_fen"] == years.DEFAULT_POOL_FEN
    assert budget["issued_fen"] == budget["pool_fen"] - budget["available_fen"]
    assert budget["issued_fen"] == (budget["outstanding_fen"] + budget["redeemed_fen"]
                                    + budget["clawed_back_fen"])
    assert budget["paid_fen"] == summary["settlements"][0]["total_fen"]
    assert 0 < budget["redeemed_fen"] <= budget["issued_fen"]

    with Session(engine) as session:
        assert audit.verify(session)["ok"]
        assert summary["audit_events"] == audit.verify(session)["checked"]
        report = reconcile(session, 2026)
        assert report["ok"], [c for c in report["checks"] if not c["ok"]]
        accounts = {a.id: a for a in session.exec(select(LedgerAccount))}
        vouchers = session.exec(select(Voucher)).all()
        assert vouchers
        for voucher in vouchers:
            assert voucher.balance_fen == accounts[voucher.ledger_account_id].balance_fen
        assert sum(v.balance_fen for v in vouchers) == budget["outstanding_fen"]
        assert session.exec(select(func.count()).select_from(Settlement)
                            .where(Settlement.status == "paid")).one() == 1
        _nothing_after_today(session, date(2026, 12, 7))
        # Every page has something to show: held redemptions in the review queue,
        # applications and a settlement batch waiting in the review chain.
        assert session.exec(select(func.count()).select_from(Review)
                            .where(Review.status == "open")).one() > 0
        assert summary["redemptions"].get("under_review", 0) > 0
        assert summary["applications"].get("submitted", 0) > 0
        for enterprise in session.exec(select(Enterprise)):
            assert uscc_problem(enterprise.uscc) is None
            assert enterprise.district
        invoices = session.exec(select(Invoice)).all()
        # A seasonal year: Q4 busier than Q1, a few service periods crossing the year end.
        by_quarter = [sum(1 for i in invoices if i.service_start.year == 2026
                          and (i.service_start.month - 1) // 3 == q) for q in range(4)]
        assert by_quarter[3] > by_quarter[0]
        assert any(i.service_start.year != i.service_end.year for i in invoices)
        # Mostly compute, with some storage and network lines.
        amounts: dict[str, int] = {}
        for line in session.exec(select(InvoiceLine)):
            amounts[line.category] = amounts.get(line.category, 0) + line.amount_fen
        compute = sum(amounts.get(c, 0) for c in ("gpu", "npu", "accelerator"))
        assert compute > 0.8 * sum(amounts.values())
        assert amounts.get("storage", 0) > 0


def _nothing_after_today(session, today: date) -> None:
    """No business date and no timestamp of the simulation lies after today."""
    assert session.exec(select(func.max(Invoice.issued_on))).one() <= today
    assert session.exec(select(func.max(Invoice.service_start))).one() <= today
    assert session.exec(select(func.max(InvoicePayment.paid_on))).one() <= today
    assert session.exec(select(func.max(InvoiceReversal.issued_on))).one() <= today
    for model in (Invoice, Redemption, Settlement, Application):
        latest = session.exec(select(func.max(model.created_at))).one()
        assert latest is None or latest.date() <= today, model


def test_demo_of_a_past_year_runs_to_its_end(engine, today):
    today("2027-03-01")
    summary = run_demo(engine, seed=7, year=2026, **SMALL)
    assert summary["invoices"] == 200
    assert [s["status"] for s in summary["settlements"]] == ["paid", "draft"]
    with Session(engine) as session:
        _nothing_after_today(session, date(2026, 12, 31))
        assert session.exec(select(func.max(Invoice.issued_on))).one() > date(2026, 12, 1)
        assert reconcile(session, 2026)["ok"]


def test_demo_refuses_a_year_after_today(engine, today):
    today("2026-12-07")
    with pytest.raises(ValueError, match="2027 is ahead"):
        run_demo(engine, year=2027, **SMALL)


@pytest.mark.parametrize("seed", [11])
def test_demo_is_deterministic(sqlite_template, tmp_path, seed):
    figures = []
    for n in range(2):
        path = tmp_path / f"demo{n}.db"
        shutil.copy(sqlite_template, path)
        eng = make_engine(f"sqlite:///{path}")
        try:
            summary = run_demo(eng, seed=seed, year=2026, **SMALL)
        finally:
            eng.dispose()
        figures.append(summary)
    assert figures[0] == figures[1]


def test_demo_refuses_a_database_that_is_not_empty(engine):
    run_write(engine, lambda session: years.create_year(session, YearCreate(year=2026), by=SYSTEM),
              principal=SYSTEM)
    with pytest.raises(DatabaseNotEmpty) as refused:
        run_demo(engine, **SMALL)
    assert refused.value.code == "database_not_empty"
    assert "1 budget year(s)" in refused.value.detail
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Enterprise)).one() == 0
