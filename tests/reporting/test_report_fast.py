"""The budget and the annual report read running totals and database aggregates (issue 7); the
figures are exactly those of the computation they replace, which is kept here as the reference:
every flow summed from the year's transfers, the top lists and the report sections from the
redemptions row by row, the category shares computed in Python per invoice."""

import csv
import io
from collections import defaultdict

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, text
from sqlmodel import Session, select

from service.holds.models import Hold
from service.invoices.models import InvoiceLine
from service.kit import clock
from service.ledger.models import LedgerAccount, LedgerTransfer
from service.redemptions.models import Redemption
from service.registry.models import Enterprise, Provider
from service.reporting import budget as budget_module
from service.reporting import report, rollups, workbook
from service.reporting.models import RedemptionPartyTotal, TransferRollup
from service.reporting.queries import month_of
from service.vouchers.models import Voucher
from service.years.service import get_year, rate_for
from tests.flows import World, invoice_body, line

# --- the reference: the figures as they were computed before the running totals ------------


def reference_budget(session: Session, year_number: int, *, top: int = 10) -> dict:
    year = get_year(session, year_number)
    totals = defaultdict(int, {kind: int(total or 0) for kind, total in session.execute(
        select(LedgerTransfer.kind, func.sum(LedgerTransfer.amount_fen))
        .where(LedgerTransfer.year == year.year).group_by(LedgerTransfer.kind))})
    balances = defaultdict(int, {kind: int(total or 0) for kind, total in session.execute(
        select(LedgerAccount.kind, func.sum(LedgerAccount.credits_posted_fen
                                            - LedgerAccount.debits_posted_fen))
        .where(LedgerAccount.year == year.year).group_by(LedgerAccount.kind))})
    issued = totals["issue"]
    returned = sum(totals[k] for k in budget_module.RETURN_KINDS)
    redeemed = totals["redeem"] - totals["reversal"] - totals["clawback"]
    return {
        "year": year.year, "status": year.status, "pool_fen": year.pool_fen,
        "issued_fen": issued, "returned_fen": returned,
        "available_fen": year.pool_fen - issued + returned,
        "outstanding_fen": balances["voucher"] + balances["hold"], "redeemed_fen": redeemed,
        "held_fen": int(session.execute(select(func.coalesce(func.sum(Hold.amount_fen), 0)).where(
            Hold.year == year.year, Hold.status == "pending",
            Hold.expires_at > clock.now())).scalar_one()),
        "payable_fen": balances["payable"], "paid_fen": balances["paid"],
        "clawback_fen": totals["clawback"], "clawback_outstanding_fen": -balances["receivable"],
        "utilisation_bp": (issued - returned) * 10_000 // year.pool_fen if year.pool_fen else 0,
        "by_month": reference_by_month(session, year.year),
        "top_enterprises": reference_top(session, year.year, top, Enterprise,
                                         Redemption.enterprise_id, "enterprise_id"),
        "top_providers": reference_top(session, year.year, top, Provider,
                                       Redemption.provider_id, "provider_id"),
        "projected_redeemed_fen": budget_module.projection(year.year, redeemed, issued - returned),
    }


def reference_by_month(session: Session, year: int) -> list[dict]:
    month = month_of(session, LedgerTransfer.created_at)
    rows = session.execute(select(month, LedgerTransfer.kind, func.sum(LedgerTransfer.amount_fen))
                           .where(LedgerTransfer.year == year,
                                  LedgerTransfer.kind.in_(("issue", "redeem", "reversal",
                                                           "clawback", "payout")))
                           .group_by(month, LedgerTransfer.kind)).all()
    series = {f"{year}-{m:02d}": {"issued_fen": 0, "redeemed_fen": 0, "paid_fen": 0}
              for m in range(1, 13)}
    field = {"issue": ("issued_fen", 1), "redeem": ("redeemed_fen", 1),
             "reversal": ("redeemed_fen", -1), "clawback": ("redeemed_fen", -1),
             "payout": ("paid_fen", 1)}
    for m, kind, total in rows:
        entry = series.setdefault(m, {"issued_fen": 0, "redeemed_fen": 0, "paid_fen": 0})
        name, sign = field[kind]
        entry[name] += sign * int(total or 0)
    return [{"month": m, **v} for m, v in sorted(series.items())]


def _net():
    return func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen)


def reference_top(session, year, top, party, party_column, key) -> list[dict]:
    total = _net().label("total")
    rows = session.execute(
        select(party.id, party.name, party.uscc, total)
        .join(Redemption, party_column == party.id).where(Redemption.year == year)
        .group_by(party.id, party.name, party.uscc)
        .order_by(total.desc(), party.id).limit(top)).all()
    return [{key: i, "name": n, "uscc": u, "redeemed_fen": int(t or 0)} for i, n, u, t in rows]


def reference_report(session: Session, year_number: int) -> dict[str, list[dict]]:
    year = get_year(session, year_number)
    figures = reference_budget(session, year.year, top=0)
    keep = ("year", "status", "pool_fen", "issued_fen", "returned_fen", "available_fen",
            "outstanding_fen", "redeemed_fen", "payable_fen", "paid_fen", "clawback_fen",
            "utilisation_bp")
    totals = {k: figures[k] for k in keep}
    totals["vouchers"] = session.exec(select(func.count()).select_from(Voucher)
                                      .where(Voucher.year == year.year)).one()
    totals["redemptions"] = session.exec(select(func.count()).select_from(Redemption)
                                         .where(Redemption.year == year.year)).one()
    return {"totals": [totals],
            "enterprises": list(reference_enterprises(session, year.year)),
            "providers": list(reference_providers(session, year.year)),
            "categories": list(reference_categories(session, year)),
            "months": reference_by_month(session, year.year)}


def reference_enterprises(session, year):
    vouchers = {e: (int(f), int(r), int(b), int(n)) for e, f, r, b, n in session.execute(
        select(Voucher.enterprise_id, func.sum(Voucher.face_fen), func.sum(Voucher.returned_fen),
               func.sum(Voucher.balance_fen), func.count())
        .where(Voucher.year == year).group_by(Voucher.enterprise_id))}
    redeemed = {e: (int(t or 0), int(n)) for e, t, n in session.execute(
        select(Redemption.enterprise_id, _net(), func.count())
        .where(Redemption.year == year).group_by(Redemption.enterprise_id))}
    for e in session.exec(select(Enterprise).where(
            Enterprise.id.in_(sorted(set(vouchers) | set(redeemed)))).order_by(Enterprise.id)):
        face, returned, balance, count = vouchers.get(e.id, (0, 0, 0, 0))
        net, n = redeemed.get(e.id, (0, 0))
        yield {"enterprise_id": e.id, "uscc": e.uscc, "name": e.name,
               "district": e.district or "", "vouchers": count, "face_fen": face,
               "returned_fen": returned, "balance_fen": balance, "redemptions": n,
               "redeemed_fen": net}


def reference_providers(session, year):
    redeemed = {p: (int(t or 0), int(n), int(i)) for p, t, n, i in session.execute(
        select(Redemption.provider_id, _net(), func.count(),
               func.count(func.distinct(Redemption.invoice_id)))
        .where(Redemption.year == year).group_by(Redemption.provider_id))}
    for p in session.exec(select(Provider).where(Provider.id.in_(sorted(redeemed)))
                          .order_by(Provider.id)):
        net, n, invoices = redeemed[p.id]
        yield {"provider_id": p.id, "uscc": p.uscc, "name": p.name,
               "invoices_redeemed": invoices, "redemptions": n, "redeemed_fen": net}


def reference_categories(session, year):
    invoiced: dict[str, int] = defaultdict(int)
    weighted_by_invoice: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    redeemed_invoices = select(Redemption.invoice_id).where(Redemption.year == year.year)
    for invoice_id, category, amount in session.execute(
            select(InvoiceLine.invoice_id, InvoiceLine.category, InvoiceLine.amount_fen)
            .where(InvoiceLine.invoice_id.in_(redeemed_invoices))):
        invoiced[category] += amount
        weighted_by_invoice[invoice_id][category] += amount * rate_for(year, category)
    share: dict[str, int] = defaultdict(int)
    unallocated = 0
    for invoice_id, net in session.execute(
            select(Redemption.invoice_id, _net()).where(Redemption.year == year.year)
            .group_by(Redemption.invoice_id)):
        weights = weighted_by_invoice.get(invoice_id, {})
        total_weight = sum(weights.values())
        given = 0
        for category, weight in weights.items():
            part = int(net) * weight // total_weight if total_weight else 0
            share[category] += part
            given += part
        unallocated += int(net) - given
    for category in sorted(invoiced):
        yield {"category": category, "invoiced_fen": invoiced[category],
               "redeemed_fen": share[category]}
    if unallocated:
        yield {"category": "(rounding)", "invoiced_fen": 0, "redeemed_fen": unallocated}


def reference_csv(sections: dict[str, list[dict]]) -> bytes:
    out = [b"\xef\xbb\xbf"]
    for section, rows in sections.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for n, row in enumerate(rows):
            if n == 0:
                writer.writerow(["section", *row])
            writer.writerow([section, *row.values()])
        out.append(buffer.getvalue().encode("utf-8") + b"\r\n")
    return b"".join(out)


def assert_same_as_reference(engine, api, year: int = 2026) -> dict:
    """budget, report (JSON, CSV, XLSX) and the running totals against the reference."""
    with Session(engine) as session:
        expected = reference_budget(session, year)
        expected_report = reference_report(session, year)
        fast = budget_module.budget(session, year)
        rollup_rows = session.execute(
            select(TransferRollup.kind, TransferRollup.month, func.sum(TransferRollup.amount_fen))
            .where(TransferRollup.year == year)
            .group_by(TransferRollup.kind, TransferRollup.month)).all()
        party_rows = session.execute(
            select(RedemptionPartyTotal.party_type, RedemptionPartyTotal.party_id,
                   func.sum(RedemptionPartyTotal.redeemed_fen))
            .where(RedemptionPartyTotal.year == year)
            .group_by(RedemptionPartyTotal.party_type, RedemptionPartyTotal.party_id)).all()
        month = month_of(session, LedgerTransfer.created_at)
        from_transfers = session.execute(
            select(LedgerTransfer.kind, month, func.sum(LedgerTransfer.amount_fen))
            .where(LedgerTransfer.year == year).group_by(LedgerTransfer.kind, month)).all()
        from_redemptions = [("enterprise", e, t) for e, t in session.execute(
            select(Redemption.enterprise_id, _net()).where(Redemption.year == year)
            .group_by(Redemption.enterprise_id))] + [("provider", p, t) for p, t in session.execute(
                select(Redemption.provider_id, _net()).where(Redemption.year == year)
                .group_by(Redemption.provider_id))]
    fast.pop("as_of")
    assert fast == expected
    assert sorted((k, m, int(t)) for k, m, t in rollup_rows) == sorted(
        (k, m, int(t)) for k, m, t in from_transfers)
    assert sorted((p, i, int(t)) for p, i, t in party_rows) == sorted(
        (p, i, int(t)) for p, i, t in from_redemptions)
    assert api.ok("GET", f"/v1/years/{year}/report") == expected_report
    r = api.client.get(f"/v1/years/{year}/report?format=csv", headers=api.admin)
    assert r.status_code == 200
    assert r.content == reference_csv(expected_report)
    x = api.client.get(f"/v1/years/{year}/report?format=xlsx", headers=api.admin)
    assert x.status_code == 200
    book = load_workbook(io.BytesIO(x.content), read_only=True)
    # the report's five sections, then the performance indicators (tests/reporting/test_performance.py)
    assert book.sheetnames == ["总览", "企业", "服务商", "类别", "月度", "绩效指标"]
    for section, sheet in zip(expected_report, book.worksheets[:5], strict=True):
        assert reference_sheet(section, expected_report[section]) == [
            list(r) for r in sheet.iter_rows(min_row=3, values_only=True)]
    return fast


def in_cell(key: str, value):
    """A report figure as its workbook cell reads back: fen as yuan, basis points as a fraction
    (Python's int / int is correctly rounded, as the cell's decimal text is when read)."""
    if key.endswith("_fen"):
        return value / 100
    if key == "utilisation_bp":
        return value / 10_000
    if key == "category":
        return workbook.CATEGORIES[value][0]
    if key == "status":
        return workbook.STATUSES[value][0]
    return value or None  # an empty district is an empty cell


def reference_sheet(section: str, rows: list[dict]) -> list[list]:
    """The rows below a sheet's title and header the reference gives: the figures, then the
    total row (amounts and counts summed), on the categories sheet the footnote."""
    if section == "totals":
        return [[label, in_cell(k, v)] for label, (k, v) in zip(
            [c.zh for c in workbook.TOTALS], rows[0].items(), strict=True)]
    keys = [column.key for column in workbook.TABLES[section]]
    out = [[in_cell(k, row[k]) for k in keys] for row in rows]
    assert all(list(row) == keys for row in rows)  # the sheet's columns are the report's keys
    summed = {k for k in keys if k.endswith("_fen") or k in ("vouchers", "redemptions",
                                                              "invoices_redeemed")}
    out.append(["合计", *[in_cell(k, sum(row[k] for row in rows)) if k in summed else None
                          for k in keys[1:]]])
    if section == "categories":
        out += [[], [workbook.WORDS["note"][0]]]
    return out


# --- a year with every kind of movement, across months ----------------------------------------


def party(api, world: World, enterprise: dict | None = None, provider: dict | None = None):
    enterprise = enterprise or world.enterprise
    provider = provider or world.provider
    return World(api=api, year=world.year, enterprise=enterprise, provider=provider,
                 ent=api.enterprise_key(enterprise["id"]), prov=api.provider_key(provider["id"]))


@pytest.fixture
def busy_year(api, today):
    """Three enterprises, two providers, 2026 at 30 % (accelerator 20 %, storage excluded):
    issues, redemptions (one drawing two vouchers), a reversal restored to the voucher, one to
    a revoked voucher (revoked_return), a clawback after settlement recovered in the next batch,
    a reclaim, a redemption in January 2027 and the close in February 2027 (expire)."""
    today("2026-02-10")
    year = api.year(2026, pool_fen=50_000_000, category_rates_bp={"accelerator": 2000})
    providers = [api.provider(name=f"智算中心 {n}") for n in (1, 2)]
    for p in providers:
        api.approve_provider(p["id"])
    e1, e2, e3 = (api.enterprise(name=f"算力应用 {n}") for n in (1, 2, 3))
    base = World(api=api, year=year, enterprise=e1, provider=providers[0], ent={}, prov={})
    a1 = party(api, base, e1, providers[0])
    a2 = party(api, base, e1, providers[1])
    b2 = party(api, base, e2, providers[1])
    c1 = party(api, base, e3, providers[0])
    a1.voucher(700_000)
    a1.voucher(5_000_000)
    v2 = b2.voucher(3_000_000)

    today("2026-03-15")
    inv1 = a1.invoice([line("gpu", 1_000_000), line("storage", 50_000)],
                      start="2026-03-01", end="2026-03-10")
    a1.redeem(inv1["id"])  # 300_000 from v1
    inv2 = b2.invoice([line("accelerator", 777_777), line("gpu", 123_457)],
                      start="2026-03-01", end="2026-03-10")
    b2.redeem(inv2["id"], v2["id"])  # ⌊(777_777·2000 + 123_457·3000) / 10_000⌋ = 192_592

    today("2026-04-20")
    v3 = c1.voucher(1_000_000)
    inv3 = a2.invoice([line("npu", 2_000_000)], start="2026-04-01", end="2026-04-15")
    a2.redeem(inv3["id"])  # 600_000: 400_000 left on v1, then 200_000 from the second voucher
    inv4 = c1.invoice([line("gpu", 1_500_000), line("cpu", 10_000)],
                      start="2026-04-01", end="2026-04-15")
    c1.redeem(inv4["id"], v3["id"])  # 450_000

    today("2026-05-05")
    a1.reverse(inv1["id"], 500_000)  # not settled: 142_858 back to v1 (lines pro rata)
    api.ok("POST", f"/v1/vouchers/{v3['id']}/revoke", json={"reason": "项目终止"})
    c1.reverse(inv4["id"], 400_000)  # 119_206 back to the revoked v3, then to the pool

    today("2026-06-30")
    c1.settle()

    today("2026-07-10")
    a2.reverse(inv3["id"], 1_000_000)  # settled: a clawback of 300_000
    inv5 = b2.invoice([line("gpu", 2_500_000)], start="2026-07-01", end="2026-07-05")
    b2.redeem(inv5["id"])  # 750_000

    today("2026-08-03")
    inv6 = a1.invoice([line("gpu", 3_000_000)], start="2026-07-20", end="2026-07-31")
    a1.redeem(inv6["id"])  # 900_000, net of the 300_000 clawback in the next batch
    c1.settle()

    today("2026-09-01")
    api.ok("POST", "/v1/years/2026/reclaim", json={"issued_before": "2026-03-01",
                                                   "max_used_bp": 5000, "reclaim_bp": 5000,
                                                   "apply": True})
    today("2027-01-20")
    inv7 = b2.invoice([line("npu", 333_333)], start="2026-12-01", end="2026-12-31")
    b2.redeem(inv7["id"])  # 99_999, in the January 2027 column
    return api, [a1, b2, c1]


def test_busy_year_matches_the_reference_on_every_figure(engine, busy_year, today):
    api, _ = busy_year
    fast = assert_same_as_reference(engine, api)
    with Session(engine) as session:
        kinds = set(session.exec(select(LedgerTransfer.kind).where(LedgerTransfer.year == 2026)))
    assert kinds == {"fund", "issue", "redeem", "reversal", "revoke", "revoked_return",
                     "clawback", "clawback_restore", "payout", "clawback_recovery", "reclaim"}
    # the figures themselves, so that a reference and an implementation wrong alike still fail
    assert (fast["issued_fen"], fast["redeemed_fen"], fast["clawback_fen"]) == (
        9_700_000, 300_000 + 192_592 + 600_000 + 450_000 - 142_858 - 119_206 - 300_000
        + 750_000 + 900_000 + 99_999, 300_000)
    months = {m["month"]: m for m in fast["by_month"]}
    assert len(months) == 13 and months["2027-01"]["redeemed_fen"] == 99_999
    assert months["2026-05"]["redeemed_fen"] == -262_064
    assert months["2026-07"]["redeemed_fen"] == 750_000 - 300_000
    assert [e["redeemed_fen"] for e in fast["top_enterprises"]] == [
        300_000 + 600_000 - 142_858 - 300_000 + 900_000, 192_592 + 750_000 + 99_999,
        450_000 - 119_206]

    today("2027-02-01")
    closed = api.ok("POST", "/v1/years/2026/close")
    assert closed["expired_vouchers"] > 0
    after = assert_same_as_reference(engine, api)
    assert after["returned_fen"] == fast["returned_fen"] + closed["returned_fen"]
    with Session(engine) as session:
        categories = {c["category"]: c for c in report.build(session, 2026)["categories"]}
    assert categories["(rounding)"]["redeemed_fen"] > 0  # the shares really were rounded down


def test_rebuild_gives_back_what_the_triggers_kept(engine, busy_year):
    api, _ = busy_year
    with Session(engine) as session:
        def summed(model, *keys):
            amount = model.amount_fen if model is TransferRollup else model.redeemed_fen
            return sorted(session.execute(select(*keys, func.sum(amount)).where(model.year == 2026)
                                          .group_by(*keys)).all())
        kept = (summed(TransferRollup, TransferRollup.kind, TransferRollup.month,
                       TransferRollup.debit_kind, TransferRollup.credit_kind),
                summed(RedemptionPartyTotal, RedemptionPartyTotal.party_type,
                       RedemptionPartyTotal.party_id))
        session.execute(text("DELETE FROM ledger_transfer_rollup"))
        session.execute(text("DELETE FROM redemption_party_total"))
        session.commit()
    with Session(engine) as session:
        assert budget_module.budget(session, 2026)["issued_fen"] == 0  # it reads the totals
    with engine.begin() as conn:
        rollups.rebuild(conn, 2026)
    with Session(engine) as session:
        assert (summed(TransferRollup, TransferRollup.kind, TransferRollup.month,
                       TransferRollup.debit_kind, TransferRollup.credit_kind),
                summed(RedemptionPartyTotal, RedemptionPartyTotal.party_type,
                       RedemptionPartyTotal.party_id)) == kept
    assert_same_as_reference(engine, api)


def test_category_shares_are_exact_beyond_64_bits(api, engine, today):
    """net × weight passes 2⁶³ here (36_666_666 × 300_000_003_000 ≈ 1.1·10¹⁹): the share is
    still the exact integer quotient, not a float."""
    today("2026-03-01")
    year = api.year(2026, category_rates_bp={"accelerator": 2000})
    enterprise, provider = api.enterprise(), api.provider()
    api.approve_provider(provider["id"])
    world = World(api=api, year=year, enterprise=enterprise, provider=provider,
                  ent=api.enterprise_key(enterprise["id"]), prov=api.provider_key(provider["id"]))
    world.voucher(100_000_000)
    invoice = world.invoice([line("gpu", 100_000_001), line("accelerator", 33_333_333)],
                            start="2026-02-01", end="2026-02-28")
    assert world.redeem(invoice["id"])["subsidy_fen"] == 36_666_666
    categories = api.ok("GET", "/v1/years/2026/report")["categories"]
    gpu = 36_666_666 * 300_000_003_000 // 366_666_669_000
    accelerator = 36_666_666 * 66_666_666_000 // 366_666_669_000
    assert (gpu, accelerator) == (29_999_999, 6_666_666)
    assert categories == [
        {"category": "accelerator", "invoiced_fen": 33_333_333, "redeemed_fen": 6_666_666},
        {"category": "gpu", "invoiced_fen": 100_000_001, "redeemed_fen": 29_999_999},
        {"category": "(rounding)", "invoiced_fen": 0, "redeemed_fen": 1}]
    with Session(engine) as session:
        assert categories == list(reference_categories(session, get_year(session, 2026)))


def test_top_lists_order_and_limit(api, engine, today):
    """Twelve enterprises, one provider: the ten largest, ties by id; a fully reversed
    redemption keeps its enterprise in the list at 0, as the redemptions themselves do."""
    today("2026-03-01")
    year = api.year(2026)
    provider = api.provider()
    api.approve_provider(provider["id"])
    amounts = [100_000, 200_000, 200_000, 50_000, 300_000, 10_000, 70_000, 200_000, 90_000,
               40_000, 60_000, 80_000]
    worlds = []
    for amount in amounts:
        e = api.enterprise()
        w = World(api=api, year=year, enterprise=e, provider=provider,
                  ent=api.enterprise_key(e["id"]), prov=api.provider_key(provider["id"]))
        w.voucher(1_000_000)
        inv = w.invoice([line("gpu", amount * 10)], start="2026-02-01", end="2026-02-28")
        w.redeem(inv["id"])
        worlds.append((w, inv))
    worlds[0][0].reverse(worlds[0][1]["id"], worlds[0][1]["total_fen"])
    b = api.ok("GET", "/v1/years/2026/budget")
    with Session(engine) as session:
        expected = reference_budget(session, 2026)
    assert b["top_enterprises"] == expected["top_enterprises"]
    assert len(b["top_enterprises"]) == 10
    got = [e["redeemed_fen"] for e in b["top_enterprises"]]
    assert got == [900_000, 600_000, 600_000, 600_000, 270_000, 240_000, 210_000, 180_000,
                   150_000, 120_000]
    tied = [e["enterprise_id"] for e in b["top_enterprises"][1:4]]
    assert tied == sorted(tied)
    assert b["top_providers"] == [{"provider_id": provider["id"], "name": provider["name"],
                                   "uscc": provider["uscc"],
                                   "redeemed_fen": sum(got) + 30_000}]
    with Session(engine) as session:
        everyone = budget_module.top_enterprises(session, 2026, 50)
        assert everyone == reference_top(session, 2026, 50, Enterprise,
                                         Redemption.enterprise_id, "enterprise_id")
    assert everyone[-1]["redeemed_fen"] == 0


@pytest.mark.postgres
def test_concurrent_redemptions_spread_over_shards_and_add_up(pg, today):
    """Redemptions in parallel transactions add to different rollup rows (txid mod 16) and the
    totals still equal the transfers."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from tests.factories import Api
    from tests.concurrency.test_redemptions import race, serve

    today("2026-06-15")
    app = create_app(pg)
    with TestClient(app, raise_server_exceptions=False) as client, serve(app) as base_url:
        api = Api(client, pg)
        year = api.year(2026)
        providers = [api.provider(), api.provider()]
        for p in providers:
            api.approve_provider(p["id"])
        calls = []
        for n in range(12):
            e = api.enterprise()
            w = World(api=api, year=year, enterprise=e, provider=providers[n % 2],
                      ent=api.enterprise_key(e["id"]), prov=api.provider_key(providers[n % 2]["id"]))
            w.voucher(1_000_000)
            for amount in (100_000, 200_000):
                body = invoice_body(e["uscc"], [line("gpu", amount)])
                inv = api.ok("POST", "/v1/invoices", headers=w.prov, json=body, expect=201)
                w.pay(inv["id"], amount)
                calls.append(("POST", "/v1/redemptions", w.ent, {"invoice_id": inv["id"]}))
        responses = race(base_url, calls)
        assert [r.status_code for r in responses] == [201] * 24
        fast = assert_same_as_reference(pg, api)
    assert fast["redeemed_fen"] == 12 * 90_000
    with pg.connect() as conn:
        shards = conn.execute(text("SELECT count(DISTINCT shard) FROM ledger_transfer_rollup "
                                   "WHERE kind = 'redeem'")).scalar()
        provider_rows = conn.execute(text("SELECT count(*) FROM redemption_party_total "
                                          "WHERE party_type = 'provider'")).scalar()
    assert shards > 1 and provider_rows > 2
