"""The annual report: totals, per enterprise, per provider, per category, per month; as JSON,
CSV (one file, a `section` column) and XLSX (a sheet per section). Rows are produced by
generators and the CSV is streamed, so a large year is never held twice in memory."""

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import Session, select

from service.invoices.models import InvoiceLine
from service.redemptions.models import Redemption
from service.registry.models import Enterprise, Provider
from service.reporting import budget as budget_module
from service.vouchers.models import Voucher
from service.years.service import get_year, rate_for

SECTIONS = ("totals", "enterprises", "providers", "categories", "months")


def build(session: Session, year_number: int) -> dict[str, Any]:
    return {section: list(rows) for section, rows in sections(session, year_number)}


def sections(session: Session, year_number: int) -> Iterator[tuple[str, Iterator[dict]]]:
    year = get_year(session, year_number)
    yield "totals", iter([_totals(session, year.year)])
    yield "enterprises", _enterprises(session, year.year)
    yield "providers", _providers(session, year.year)
    yield "categories", _categories(session, year)
    yield "months", iter(budget_module.by_month(session, year.year))


def _totals(session: Session, year: int) -> dict[str, Any]:
    figures = budget_module.budget(session, year, top=0)
    keep = ("year", "status", "pool_fen", "issued_fen", "returned_fen", "available_fen",
            "outstanding_fen", "redeemed_fen", "payable_fen", "paid_fen", "clawback_fen",
            "utilisation_bp")
    out = {k: figures[k] for k in keep}
    out["vouchers"] = session.exec(select(func.count()).select_from(Voucher)
                                   .where(Voucher.year == year)).one()
    out["redemptions"] = session.exec(select(func.count()).select_from(Redemption)
                                      .where(Redemption.year == year)).one()
    return out


def _enterprises(session: Session, year: int) -> Iterator[dict]:
    vouchers = {e: (int(f), int(r), int(b), int(n)) for e, f, r, b, n in session.execute(
        select(Voucher.enterprise_id, func.sum(Voucher.face_fen), func.sum(Voucher.returned_fen),
               func.sum(Voucher.balance_fen), func.count())
        .where(Voucher.year == year).group_by(Voucher.enterprise_id))}
    redeemed = {e: (int(t or 0), int(n)) for e, t, n in session.execute(
        select(Redemption.enterprise_id,
               func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen), func.count())
        .where(Redemption.year == year).group_by(Redemption.enterprise_id))}
    ids_ = sorted(set(vouchers) | set(redeemed))
    for chunk in _chunks(ids_, 1000):
        for e in session.exec(select(Enterprise).where(Enterprise.id.in_(chunk))
                              .order_by(Enterprise.id)):
            face, returned, balance, count = vouchers.get(e.id, (0, 0, 0, 0))
            net, n = redeemed.get(e.id, (0, 0))
            yield {"enterprise_id": e.id, "uscc": e.uscc, "name": e.name,
                   "district": e.district or "", "vouchers": count, "face_fen": face,
                   "returned_fen": returned, "balance_fen": balance, "redemptions": n,
                   "redeemed_fen": net}


def _providers(session: Session, year: int) -> Iterator[dict]:
    redeemed = {p: (int(t or 0), int(n), int(i)) for p, t, n, i in session.execute(
        select(Redemption.provider_id,
               func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen), func.count(),
               func.count(func.distinct(Redemption.invoice_id)))
        .where(Redemption.year == year).group_by(Redemption.provider_id))}
    for chunk in _chunks(sorted(redeemed), 1000):
        for p in session.exec(select(Provider).where(Provider.id.in_(chunk))
                              .order_by(Provider.id)):
            net, n, invoices = redeemed[p.id]
            yield {"provider_id": p.id, "uscc": p.uscc, "name": p.name,
                   "invoices_redeemed": invoices, "redemptions": n, "redeemed_fen": net}


def _categories(session: Session, year) -> Iterator[dict]:
    """Invoiced amount per line category on redeemed invoices, and the redeemed subsidy shared
    out by each category's weight (amount × rate); shares round down, the rest is shown."""
    invoiced: dict[str, int] = defaultdict(int)
    weighted_by_invoice: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    redeemed_invoices = select(Redemption.invoice_id).where(Redemption.year == year.year)
    for invoice_id, category, amount in session.execute(
            select(InvoiceLine.invoice_id, InvoiceLine.category, InvoiceLine.amount_fen)
            .where(InvoiceLine.invoice_id.in_(redeemed_invoices))).yield_per(5000):
        invoiced[category] += amount
        weighted_by_invoice[invoice_id][category] += amount * rate_for(year, category)
    share: dict[str, int] = defaultdict(int)
    net_by_invoice = session.execute(
        select(Redemption.invoice_id, func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen))
        .where(Redemption.year == year.year).group_by(Redemption.invoice_id))
    unallocated = 0
    for invoice_id, net in net_by_invoice:
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


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def csv_stream(session: Session, year_number: int) -> Iterator[bytes]:
    yield "\ufeff".encode()
    for section, rows in sections(session, year_number):
        header = None
        for row in rows:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            if header is None:
                header = list(row)
                writer.writerow(["section", *header])
            writer.writerow([section, *[row[k] for k in header]])
            yield buffer.getvalue().encode("utf-8")
        yield b"\r\n"


def xlsx_bytes(session: Session, year_number: int) -> bytes:
    workbook = Workbook(write_only=True)
    for section, rows in sections(session, year_number):
        sheet = workbook.create_sheet(section)
        header = None
        for row in rows:
            if header is None:
                header = list(row)
                sheet.append(header)
            sheet.append([row[k] for k in header])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


