"""The set-based reconciliation checks against their Python references, on both backends: the
eligible subsidy computed in SQL equals service.invoices.subsidy.eligible_for_year to the fen,
and the checks report exactly the discrepancies the row-by-row versions reported."""

import random
from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from service.invoices.models import Invoice, InvoiceLine, UsageStatement
from service.invoices.subsidy import eligible_for_year
from service.redemptions.models import Redemption
from service.registry.models import Enterprise, Provider
from service.reporting import reconciliation
from service.reporting.reconciliation import eligible_subsidy, prepare_session
from service.years.models import CATEGORIES, BudgetYear
from service.years.service import defaults

BIG = 9_223_372_036_854_775_807  # the largest BigInteger: products of these overflow 64 bits


def policy(year: int, **changes) -> BudgetYear:
    return BudgetYear(year=year, **(defaults(year) | changes))


POLICIES = [
    policy(2026),
    policy(2026, settlement_mode="deduction"),
    policy(2026, rate_bp=2_500, category_rates_bp={"accelerator": 2_000, "cpu": 1_000},
           eligible_categories=["gpu", "accelerator", "storage"]),
    policy(2026, rate_bp=9_999, category_rates_bp={"npu": 10_000, "gpu": 0},
           eligible_categories=["gpu", "npu", "other"], settlement_mode="deduction"),
    policy(2026, eligible_categories=[]),
    policy(2026, eligible_from=date(2026, 3, 1)),
    policy(2025),
    policy(2027, rate_bp=3_333, settlement_mode="deduction"),
]


def _parties(session: Session) -> tuple[str, str]:
    session.add(Provider(id="prv_p", uscc="P" * 18, name="服务商"))
    session.add(Enterprise(id="ent_e", uscc="E" * 18, name="企业"))
    session.flush()
    return "prv_p", "ent_e"


def _add_invoice(session: Session, number: int, *, lines: list[tuple[str, int]], total: int,
                 paid: int, reversed_: int, start: date, end: date, issued: date,
                 provider: str = "prv_p", enterprise: str = "ent_e") -> str:
    invoice_id = f"inv_{number:06d}"
    session.add(Invoice(id=invoice_id, invoice_key=f"k{number}", invoice_number=f"n{number}",
                        provider_id=provider, enterprise_id=enterprise, issued_on=issued,
                        service_start=start, service_end=end, total_fen=total, tax_fen=0,
                        paid_fen=paid, reversed_fen=reversed_))
    for line_no, (category, amount) in enumerate(lines, 1):
        session.add(InvoiceLine(invoice_id=invoice_id, line_no=line_no, category=category,
                                description="算力", quantity=1, unit="月", unit_price_fen=0,
                                amount_fen=amount))
    return invoice_id


def _random_invoice(rng: random.Random, session: Session, number: int) -> str:
    amounts = rng.choice([lambda: rng.randint(0, 999), lambda: rng.randint(1, 10**9) | 1,
                          lambda: rng.randint(10**12, 10**15), lambda: rng.randint(0, 7)])
    lines = [(rng.choice(("gpu", "npu", "accelerator") + CATEGORIES + ("unknown",)), amounts())
             for _ in range(rng.choice([0, 1, 1, 2, 3, 5]))]
    total = sum(a for _, a in lines) if rng.random() < 0.8 else rng.randint(0, 10**9)
    reversed_ = rng.choice([0, 0, rng.randint(0, total), total, total // 3])
    paid = rng.choice([total, 0, rng.randint(0, total), total - reversed_,
                       total + rng.randint(1, 1000)])
    start = date(2024, 12, 1) + timedelta(days=rng.randint(0, 800))
    end = start + timedelta(days=rng.choice([0, 1, 29, 59, 120, 364, 365, 400, 800]))
    issued = start + timedelta(days=rng.randint(-400, 60))
    return _add_invoice(session, number, lines=lines, total=total, paid=paid,
                        reversed_=reversed_, start=start, end=end, issued=issued)


def _python_eligible(session: Session, year: BudgetYear) -> dict[str, int]:
    lines = defaultdict(list)
    for line in session.execute(select(InvoiceLine)).scalars():
        lines[line.invoice_id].append(line)
    return {i.id: eligible_for_year(i, lines[i.id], year)
            for i in session.execute(select(Invoice)).scalars()}


def _sql_eligible(session: Session, year: BudgetYear) -> dict[str, int]:
    prepare_session(session)
    invoices = select(Invoice.id.label("invoice_id")).subquery()
    return {invoice_id: int(fen) for invoice_id, fen in
            session.execute(eligible_subsidy(year, invoices))}


def test_worked_examples_in_sql(engine):
    """PRODUCT.md §5a, computed by the SQL formula."""
    with Session(engine) as session:
        _parties(session)
        _add_invoice(session, 1, lines=[("gpu", 100_000_000), ("storage", 5_000_000)],
                     total=105_000_000, paid=105_000_000, reversed_=0, start=date(2026, 4, 1),
                     end=date(2026, 4, 30), issued=date(2026, 4, 30))
        _add_invoice(session, 2, lines=[("npu", 12_345_678)], total=12_345_678,
                     paid=12_345_678, reversed_=0, start=date(2026, 11, 1),
                     end=date(2027, 2, 28), issued=date(2026, 11, 1))
        _add_invoice(session, 3, lines=[("gpu", 500_000)], total=500_000, paid=200_000,
                     reversed_=0, start=date(2026, 4, 1), end=date(2026, 4, 30),
                     issued=date(2026, 4, 30))
        _add_invoice(session, 4, lines=[("gpu", 800_000), ("accelerator", 200_000)],
                     total=1_000_000, paid=1_000_000, reversed_=250_000,
                     start=date(2026, 4, 1), end=date(2026, 4, 30), issued=date(2026, 4, 30))
        session.flush()
        by_2026 = _sql_eligible(session, policy(2026, category_rates_bp={"accelerator": 2_000}))
        by_2027 = _sql_eligible(session, policy(2027))
    assert by_2026 == {"inv_000001": 30_000_000, "inv_000002": 1_882_715, "inv_000003": 60_000,
                       "inv_000004": 210_000}
    assert by_2027["inv_000002"] == 1_820_987


def test_sql_eligible_subsidy_equals_the_python_formula(engine):
    rng = random.Random(20261126)
    with Session(engine) as session:
        _parties(session)
        for number in range(1, 401):
            _random_invoice(rng, session, number)
        # the edges: 64-bit overflow in every product, one-day and leap-year periods, a fully
        # reversed invoice, overpayment, and no lines at all
        _add_invoice(session, 9001, lines=[("gpu", BIG), ("npu", BIG)], total=BIG, paid=BIG,
                     reversed_=0, start=date(2025, 12, 31), end=date(2027, 1, 1),
                     issued=date(2025, 12, 1))
        _add_invoice(session, 9002, lines=[("gpu", BIG - 1)], total=BIG, paid=BIG - 7,
                     reversed_=3, start=date(2026, 2, 1), end=date(2028, 2, 29),
                     issued=date(2026, 1, 5))
        _add_invoice(session, 9003, lines=[("gpu", 1)], total=1, paid=1, reversed_=0,
                     start=date(2026, 12, 31), end=date(2026, 12, 31), issued=date(2026, 12, 31))
        _add_invoice(session, 9004, lines=[("gpu", 999_999)], total=999_999, paid=999_999,
                     reversed_=999_999, start=date(2026, 1, 1), end=date(2026, 1, 31),
                     issued=date(2026, 1, 31))
        _add_invoice(session, 9005, lines=[("accelerator", 333_333)], total=333_333,
                     paid=10**12, reversed_=1, start=date(2026, 5, 1), end=date(2026, 5, 3),
                     issued=date(2026, 5, 3))
        _add_invoice(session, 9006, lines=[], total=1_000, paid=1_000, reversed_=0,
                     start=date(2026, 5, 1), end=date(2026, 5, 3), issued=date(2026, 5, 3))
        _add_invoice(session, 9007, lines=[("npu", BIG), ("npu", BIG)], total=BIG, paid=BIG,
                     reversed_=0, start=date(2026, 5, 1), end=date(2026, 5, 1),
                     issued=date(2026, 5, 1))
        session.flush()
        by_policy = []
        for year in POLICIES:
            expected = _python_eligible(session, year)
            assert _sql_eligible(session, year) == expected, (year.year, year.settlement_mode)
            by_policy.append(expected)
    # the comparison is not vacuous: under every policy but the one without eligible
    # categories many invoices have a subsidy, some of them huge
    positive = [sum(1 for fen in expected.values() if fen > 0) for expected in by_policy]
    assert positive[4] == 0 and min(positive[:4] + positive[5:]) >= 20
    assert by_policy[0]["inv_009001"] == 2 * BIG * 3_000 * 365 // (10_000 * 367)
    assert by_policy[3]["inv_009007"] == 2 * BIG  # beyond 64 bits, and still exact


def _old_invoice_subsidy(session: Session, year: BudgetYear) -> tuple[int, list[dict]]:
    """The check as it was, row by row in Python: the reference for the SQL version."""
    redeemed = defaultdict(int)
    for invoice_id, subsidy, clawed in session.execute(select(
            Redemption.invoice_id, Redemption.subsidy_fen, Redemption.clawed_back_fen)
            .where(Redemption.year == year.year)):
        redeemed[invoice_id] += subsidy - clawed
    eligible = _python_eligible(session, year)
    return len(redeemed), [{"invoice_id": i, "redeemed_fen": redeemed[i],
                            "eligible_fen": eligible[i]}
                           for i in sorted(redeemed) if redeemed[i] > eligible[i]]


@pytest.mark.parametrize("mode", ["reimbursement", "deduction"])
def test_invoice_subsidy_check_names_exactly_the_python_violators(engine, mode):
    rng = random.Random(mode)
    year = policy(2026, settlement_mode=mode, category_rates_bp={"npu": 4_000})
    with Session(engine) as session:
        _parties(session)
        session.add(year)
        session.flush()
        python_eligible = {}
        for number in range(1, 301):
            invoice_id = _random_invoice(rng, session, number)
            session.flush()
            invoice = session.get(Invoice, invoice_id)
            lines = session.execute(select(InvoiceLine).where(
                InvoiceLine.invoice_id == invoice_id)).scalars().all()
            python_eligible[invoice_id] = eligible_for_year(invoice, lines, year)
        for n, (invoice_id, fen) in enumerate(python_eligible.items()):
            if rng.random() < 0.3:
                continue  # not redeemed this year
            # one to three redemptions (some partly clawed back) around the eligible amount
            target = max(1, fen + rng.choice([0, 0, 0, -1, 1, 2, -fen // 2, 10**6]))
            parts = rng.choice([1, 1, 2, 3])
            for k in range(parts):
                subsidy = max(1, target // parts + (target % parts if k == 0 else 0))
                clawed = rng.choice([0, 0, 0, subsidy // 4, subsidy])
                session.add(Redemption(id=f"rdm_{n}_{k}", invoice_id=invoice_id,
                                       enterprise_id="ent_e", provider_id="prv_p", year=2026,
                                       subsidy_fen=subsidy, clawed_back_fen=clawed,
                                       beneficiary_type="enterprise", beneficiary_id="ent_e",
                                       status="payable"))
        session.flush()
        count, issues = _old_invoice_subsidy(session, year)
        prepare_session(session)
        result = reconciliation._invoice_subsidy(session, year)
    assert len(issues) > 20 and count > 150  # both kinds present, so the test can fail
    assert result["actual"] == f"{count} invoices"
    assert result["discrepancy_count"] == len(issues)
    assert result["discrepancies"] == issues[:reconciliation.MAX_LISTED]
    assert result["ok"] is False


def test_usage_statement_check_names_exactly_the_mismatched_lines(engine):
    rng = random.Random(7)
    with Session(engine) as session:
        _parties(session)
        session.add(Provider(id="prv_q", uscc="Q" * 18, name="服务商二"))
        session.add(Enterprise(id="ent_f", uscc="F" * 18, name="企业二"))
        session.flush()
        invoiced = defaultdict(int)
        for number in range(1, 201):
            provider, enterprise = rng.choice(["prv_p", "prv_q"]), rng.choice(["ent_e", "ent_f"])
            issued = date(2025, 12, 1) + timedelta(days=rng.randint(0, 430))
            total = rng.randint(0, 10**7)
            reversed_ = rng.choice([0, total // 2, total])
            _add_invoice(session, number, lines=[("gpu", total)], total=total, paid=total,
                         reversed_=reversed_, start=issued, end=issued, issued=issued,
                         provider=provider, enterprise=enterprise)
            invoiced[(provider, enterprise, issued.strftime("%Y-%m"))] += total - reversed_
        expected, count = [], 0
        for month in [f"{y}-{m:02d}" for y in (2025, 2026, 2027) for m in range(1, 13)]:
            for provider in ("prv_p", "prv_q"):
                for enterprise in ("ent_e", "ent_f"):
                    if rng.random() < 0.3:
                        continue
                    net = invoiced[(provider, enterprise, month)]
                    billed = rng.choice([net, net, net + 1, max(0, net - 100), 0])
                    session.add(UsageStatement(id=f"use_{month}_{provider}_{enterprise}",
                                               provider_id=provider, enterprise_id=enterprise,
                                               month=month, billed_fen=billed))
                    if month.startswith("2026-"):
                        count += 1
                        if billed != net:
                            expected.append({"provider_id": provider,
                                             "enterprise_id": enterprise, "month": month,
                                             "statement_fen": billed, "invoiced_fen": net})
        session.flush()
        result = reconciliation._usage_statements(session, 2026)
    assert len(expected) > 5 and count > 20
    assert result["actual"] == f"{count} statement lines"
    assert result["discrepancies"] == expected
