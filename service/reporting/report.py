"""The annual report: totals, per enterprise, per provider, per category, per month; as JSON and
CSV (one file, a `section` column), in machine keys and fen, and for people as a workbook
(workbook.py). Rows are produced by generators over server-side cursors and aggregates computed
in the database, the CSV is streamed and the XLSX written to a temporary file, so memory does
not grow with the year."""

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Numeric, case, cast, func, literal
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, select

from service.invoices.models import InvoiceLine
from service.redemptions.models import Redemption
from service.registry.models import Enterprise, Provider
from service.reporting import budget as budget_module
from service.vouchers.models import Voucher
from service.years.service import get_year, rate_for

SECTIONS = ("totals", "enterprises", "providers", "categories", "months")
STREAM_ROWS = 1000  # rows fetched per round trip from a server-side cursor
CSV_CHUNK = 64 * 1024


def build(session: Session, year_number: int) -> dict[str, Any]:
    return {section: list(rows) for section, rows in sections(session, year_number)}


def sections(session: Session, year_number: int) -> Iterator[tuple[str, Iterator[dict]]]:
    year = get_year(session, year_number)
    yield "totals", iter([_totals(session, year.year)])
    yield "enterprises", _enterprises(session, year.year)
    yield "providers", _providers(session, year.year)
    yield "categories", categories(session, year)
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
    """Every enterprise with a voucher or a redemption in the year, by id: one query, read
    through a server-side cursor, so memory does not grow with the number of enterprises."""
    vouchers = (select(Voucher.enterprise_id, func.sum(Voucher.face_fen).label("face"),
                       func.sum(Voucher.returned_fen).label("returned"),
                       func.sum(Voucher.balance_fen).label("balance"),
                       func.count().label("count"))
                .where(Voucher.year == year).group_by(Voucher.enterprise_id).subquery())
    redeemed = (select(Redemption.enterprise_id, _net_redeemed().label("net"),
                       func.count().label("count"))
                .where(Redemption.year == year).group_by(Redemption.enterprise_id).subquery())
    rows = session.execute(
        select(Enterprise.id, Enterprise.uscc, Enterprise.name, Enterprise.district,
               vouchers.c.count, vouchers.c.face, vouchers.c.returned, vouchers.c.balance,
               redeemed.c.count, redeemed.c.net)
        .outerjoin(vouchers, vouchers.c.enterprise_id == Enterprise.id)
        .outerjoin(redeemed, redeemed.c.enterprise_id == Enterprise.id)
        .where((vouchers.c.enterprise_id.is_not(None)) | (redeemed.c.enterprise_id.is_not(None)))
        .order_by(Enterprise.id).execution_options(yield_per=STREAM_ROWS))
    for e_id, uscc, name, district, count, face, returned, balance, n, net in rows:
        yield {"enterprise_id": e_id, "uscc": uscc, "name": name, "district": district or "",
               "vouchers": int(count or 0), "face_fen": int(face or 0),
               "returned_fen": int(returned or 0), "balance_fen": int(balance or 0),
               "redemptions": int(n or 0), "redeemed_fen": int(net or 0)}


def _providers(session: Session, year: int) -> Iterator[dict]:
    redeemed = (select(Redemption.provider_id, _net_redeemed().label("net"),
                       func.count().label("count"),
                       func.count(func.distinct(Redemption.invoice_id)).label("invoices"))
                .where(Redemption.year == year).group_by(Redemption.provider_id).subquery())
    rows = session.execute(
        select(Provider.id, Provider.uscc, Provider.name, redeemed.c.invoices, redeemed.c.count,
               redeemed.c.net)
        .join(redeemed, redeemed.c.provider_id == Provider.id)
        .order_by(Provider.id).execution_options(yield_per=STREAM_ROWS))
    for p_id, uscc, name, invoices, n, net in rows:
        yield {"provider_id": p_id, "uscc": uscc, "name": name, "invoices_redeemed": int(invoices),
               "redemptions": int(n), "redeemed_fen": int(net or 0)}


def _net_redeemed():
    return func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen)


def categories(session: Session, year) -> Iterator[dict]:
    """Invoiced amount per line category on redeemed invoices, and the redeemed subsidy shared
    out by each category's weight (amount × rate); shares round down, the rest is shown.

    One aggregate in the database: per invoice, each category's share is
    ⌊net × weight / Σ weights of the invoice⌋ in exact integers (NUMERIC on PostgreSQL, a
    Python function on SQLite, since net × weight can pass 2⁶³)."""
    net = (select(Redemption.invoice_id, _net_redeemed().label("net"))
           .where(Redemption.year == year.year).group_by(Redemption.invoice_id).subquery())
    line = InvoiceLine.__table__.c
    per_category = (select(line.invoice_id, line.category, net.c.net,
                           func.sum(line.amount_fen).label("invoiced"),
                           func.sum(line.amount_fen * _rate(year, line.category)).label("weight"))
                    .join(net, net.c.invoice_id == line.invoice_id)
                    .group_by(line.invoice_id, line.category, net.c.net).subquery())
    weighted = select(per_category, func.sum(per_category.c.weight)
                      .over(partition_by=per_category.c.invoice_id).label("total_weight")
                      ).subquery()
    share = case((weighted.c.total_weight == 0, 0),
                 else_=_floor_share(session, weighted.c.net, weighted.c.weight,
                                    weighted.c.total_weight))
    rows = session.execute(select(weighted.c.category, func.sum(weighted.c.invoiced),
                                  func.sum(share))
                           .group_by(weighted.c.category)).all()
    total_net = session.execute(select(_net_redeemed()).where(Redemption.year == year.year)
                                ).scalar()
    given = 0
    for category, invoiced, redeemed in sorted(rows):
        given += int(redeemed)
        yield {"category": category, "invoiced_fen": int(invoiced), "redeemed_fen": int(redeemed)}
    unallocated = int(total_net or 0) - given
    if unallocated:
        yield {"category": "(rounding)", "invoiced_fen": 0, "redeemed_fen": unallocated}


def _rate(year, category) -> ColumnElement:
    """rate_for(year, category) as SQL: the year's rate for an eligible category, else 0."""
    rates = {c: rate_for(year, c) for c in year.eligible_categories}
    return case(rates, value=category, else_=0) if rates else literal(0)


def _floor_share(session: Session, net, weight, total_weight) -> ColumnElement:
    if session.get_bind().dialect.name == "postgresql":
        return func.div(cast(net, Numeric) * weight, total_weight)
    session.connection().connection.driver_connection.create_function(
        "voucher_floor_share", 3, lambda a, b, c: a * b // c, deterministic=True)
    return func.voucher_floor_share(net, weight, total_weight)


def csv_stream(session: Session, year_number: int) -> Iterator[bytes]:
    """The report as one CSV (UTF-8 with BOM for Excel), in chunks of about CSV_CHUNK bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    for section, rows in sections(session, year_number):
        header = None
        for row in rows:
            if header is None:
                header = list(row)
                writer.writerow(["section", *header])
            writer.writerow([section, *[row[k] for k in header]])
            if buffer.tell() >= CSV_CHUNK:
                yield buffer.getvalue().encode("utf-8")
                buffer.seek(0)
                buffer.truncate()
        buffer.write("\r\n")
    yield buffer.getvalue().encode("utf-8")
