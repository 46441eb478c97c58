"""Invoices, payments, red-letter reversals, usage statements (PRODUCT.md §3.4)."""

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple, NoReturn

import psycopg
from sqlalchemy import ARRAY, ColumnElement, String, Table, bindparam, func, insert
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from service.kit import clock, ids
from service.audit import service as audit
from service.auth.principal import Principal
from service.kit.db import is_postgres
from service.kit.errors import (
    FieldError,
    InvalidUSCC,
    InvoiceDuplicate,
    NotFound,
    PaymentExceedsTotal,
    ReversalExceedsTotal,
    ValidationFailed,
    YearClosed,
)
from service.invoices import access, subsidy
from service.invoices.numbers import invoice_key, number_problems
from service.invoices.models import (
    Invoice,
    InvoiceLine,
    InvoicePayment,
    InvoiceReversal,
    InvoiceRow,
    LineRow,
    UsageStatement,
    line_amounts,
)
from service.invoices.source_models import InvoiceSource
from service.invoices.schemas import (
    InvoiceCreate,
    PaymentCreate,
    ReversalCreate,
    UsageStatementCreate,
)
from service.redemptions import service as redemptions
from service.kit.rows import insert_many, update_many
from service.kit.rows import one_readable
from service.redemptions.models import Redemption
from service.registry.models import Enterprise
from service.kit.uscc import uscc_problem
from service.years.models import BudgetYear


QUANTITY_STEP = Decimal("0.000001")  # invoice_line.quantity is numeric(24, 6): as read back


def _problems(data: InvoiceCreate, *, registered: bool = False) -> list[FieldError]:
    errors = number_problems(data.invoice_number, data.invoice_code)
    line_sum = sum(line.amount_fen for line in data.lines)
    if line_sum != data.total_fen:
        errors.append(FieldError(field="total_fen", message=(
            f"lines sum to {line_sum} fen but total_fen is {data.total_fen}")))
    if data.tax_fen > data.total_fen:
        errors.append(FieldError(field="tax_fen", message="tax_fen may not exceed total_fen"))
    if data.service_end < data.service_start:
        errors.append(FieldError(field="service_end",
                                 message="service_end may not be before service_start"))
    # A registered USCC was accepted by the bureau (possibly with a check-character override).
    problem = None if registered else uscc_problem(data.enterprise_uscc)
    if problem:
        errors.append(FieldError(field="enterprise_uscc", message=problem, type="invalid_uscc"))
    return errors


def post_invoices(session: Session, *, principal: Principal,
                  items: Sequence[InvoiceCreate],
                  source_sha256: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
    """Validate every invoice, then insert all or none; errors name each item by index.

    Answers with the posted invoices as the API shows them, in request order. `source_sha256`:
    per item, the SHA-256 of the XML it was read from (POST /v1/invoices/xml), for the audit
    event and the answer; the caller stores the files (invoice_source)."""
    usccs = {d.enterprise_uscc for d in items}
    enterprises = {e.uscc: e for e in session.exec(
        select(Enterprise).where(Enterprise.uscc.in_(usccs))).all()}
    keys = [invoice_key(d.invoice_number, d.invoice_code) for d in items]
    years = _years_for(session, items)
    _refuse_unless_all_valid(session, items, keys, enterprises, years)
    rows, lines = _new_rows(items, keys, enterprises, principal.provider_id)
    _insert(session, Invoice.__table__, rows)
    _insert(session, InvoiceLine.__table__, [line for group in lines for line in group])
    shas = list(source_sha256) if source_sha256 is not None else [None] * len(rows)
    _audit_posting(session, rows, keys, shas if source_sha256 is not None else None)
    # A new invoice has nothing paid, reversed or redeemed: its shape needs no further query.
    # Plain dicts: the route's response model validates and serialises them, once.
    return [_shape(row, row_lines, years, {}, data.enterprise_uscc, None, sha)
            for row, row_lines, data, sha in zip(rows, lines, items, shas)]


def _refuse_unless_all_valid(session: Session, items: Sequence[InvoiceCreate], keys: list[str],
                             enterprises: dict[str, Enterprise],
                             years: dict[int, BudgetYear]) -> None:
    """Raise when any item is refused, with every item's problems, each field prefixed by its
    item's index (`invoices[3].total_fen`) unless the request posts one invoice."""
    single = len(items) == 1
    # Red-letter invoices are invoices too: their numbers are taken system-wide.
    taken = set(session.execute(
        select(Invoice.invoice_key).where(_among(session, Invoice.invoice_key, keys))
        .union_all(select(InvoiceReversal.invoice_number)
                   .where(_among(session, InvoiceReversal.invoice_number, keys)))).scalars())
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    duplicate_only = True
    for i, (data, key) in enumerate(zip(items, keys)):
        item_errors = _item_problems(data, key, enterprises, years, taken, seen)
        duplicate_only = duplicate_only and all(e.type == "invoice_duplicate" for e in item_errors)
        seen.setdefault(key, i)
        prefix = "" if single else f"invoices[{i}]."
        errors += [FieldError(field=prefix + e.field, message=e.message, type=e.type)
                   for e in item_errors]
    if errors:
        _refuse(errors, single=single, duplicate_only=duplicate_only, count=len(items))


def _item_problems(data: InvoiceCreate, key: str, enterprises: dict[str, Enterprise],
                   years: dict[int, BudgetYear], taken: set[str],
                   seen: dict[str, int]) -> list[FieldError]:
    """One invoice's problems: its own fields, then its enterprise, its years and its number
    (taken already, or earlier in this batch: `seen`)."""
    item_errors = _problems(data, registered=data.enterprise_uscc in enterprises)
    if not item_errors and data.enterprise_uscc not in enterprises:
        item_errors.append(FieldError(field="enterprise_uscc",
                                      message="no enterprise is registered with this USCC"))
    if not item_errors and _all_closed(years, data):
        item_errors.append(FieldError(field="service_start", type="year_closed",
                                      message="every budget year of the service period is "
                                              "closed"))
    if key in taken or key in seen:
        where = "earlier in this batch" if key in seen else "already"
        item_errors.append(FieldError(field="invoice_number", type="invoice_duplicate",
                                      message=f"invoice {key} was {where} posted"))
    return item_errors


def _refuse(errors: list[FieldError], *, single: bool, duplicate_only: bool,
            count: int) -> NoReturn:
    """The refusal for these problems: a lone invoice that is only a duplicate, only in closed
    years or only of an invalid USCC is that error; anything else is validation_failed."""
    if single and duplicate_only:
        raise InvoiceDuplicate(errors[0].message)
    if single and all(e.type == "year_closed" for e in errors):
        raise YearClosed(errors[0].message)
    rejected = sorted({int(e.field.split("]")[0][9:]) for e in errors if
                       e.field.startswith("invoices[")})
    detail = ("; ".join(f"{e.field}: {e.message}" for e in errors[:20]) if single else
              f"{len(rejected)} of {count} invoices rejected (indexes "
              f"{', '.join(map(str, rejected[:50]))}); nothing was saved")
    if single and all(e.type == "invalid_uscc" for e in errors):
        raise InvalidUSCC(detail, errors=errors)  # §2: an invalid USCC is invalid_uscc
    raise ValidationFailed(detail, errors=errors)


def _new_rows(items: Sequence[InvoiceCreate], keys: list[str],
              enterprises: dict[str, Enterprise], provider_id: str | None
              ) -> tuple[list[InvoiceRow], list[list[LineRow]]]:
    """The invoice rows to insert, and each invoice's line rows, in request order."""
    created_at = clock.now()
    rows, lines = [], []
    for data, key in zip(items, keys):
        row = InvoiceRow(id=ids.new_id("inv"), invoice_key=key, invoice_number=data.invoice_number,
                         invoice_code=data.invoice_code, provider_id=provider_id,
                         enterprise_id=enterprises[data.enterprise_uscc].id,
                         issued_on=data.issued_on, service_start=data.service_start,
                         service_end=data.service_end, contract_number=data.contract_number,
                         total_fen=data.total_fen, tax_fen=data.tax_fen, paid_fen=0,
                         reversed_fen=0, created_at=created_at,
                         line_amounts=line_amounts((line.category, line.amount_fen)
                                                   for line in data.lines))
        rows.append(row)
        lines.append([LineRow(row.id, n, line.category, line.description,
                              line.quantity.quantize(QUANTITY_STEP), line.unit,
                              line.unit_price_fen, line.amount_fen)
                      for n, line in enumerate(data.lines, start=1)])
    return rows, lines


def _audit_posting(session: Session, rows: list[InvoiceRow], keys: list[str],
                   shas: list[str | None] | None) -> None:
    """One audit event for the request: invoice.post for one invoice, invoice.post_batch (under
    a batch id of its own) for several; with the sources' SHA-256 when posted from XML."""
    single = len(rows) == 1
    summary: dict[str, Any] = {"count": len(rows), "total_fen": sum(r.total_fen for r in rows)}
    if single:
        summary.update(invoice_number=keys[0], enterprise_id=rows[0].enterprise_id)
        object_id = rows[0].id
    else:
        summary["invoice_ids"] = [r.id for r in rows]
        object_id = ids.new_id("bat")
    if shas is not None:
        summary["source_sha256"] = shas[0] if single else shas
    audit.record(session, action="invoice.post" if single else "invoice.post_batch",
                 object_type="invoice" if single else "invoice_batch", object_id=object_id,
                 summary=summary)


def _insert(session: Session, table: Table, rows: Sequence[tuple]) -> None:
    """Insert rows (tuples in the table's column order) in the request's transaction: by COPY on
    PostgreSQL, an executemany elsewhere."""
    if not rows:
        return
    names = rows[0]._fields
    if not is_postgres(session):
        session.execute(insert(table), [row._asdict() for row in rows])
        return
    statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    driver = session.connection().connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        # As if SQLAlchemy had sent it: the retry helper and the error handlers see DBAPIError.
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _among(session: Session, column: Any, values: list[str]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL as one array parameter, because rendering and parsing
    a thousand bound parameters costs more than the query itself. (`= ANY(array)` would be
    tested against every array element per row once the plan is generic; `IN (SELECT
    unnest(…))` is a semi-join that probes the index.)"""
    if is_postgres(session):
        return column.in_(select(func.unnest(bindparam(None, values, type_=ARRAY(String)))))
    return column.in_(values)


def _years_for(session: Session, items: Sequence[InvoiceCreate]) -> dict[int, BudgetYear]:
    wanted = set()
    for d in items:
        if d.service_end >= d.service_start:
            wanted.update(subsidy.years_of(d.service_start, d.service_end))
    if not wanted:
        return {}
    return {y.year: y for y in session.exec(select(BudgetYear).where(BudgetYear.year.in_(wanted)))}


def _all_closed(years: dict[int, BudgetYear], data: InvoiceCreate) -> bool:
    span = [years.get(y) for y in subsidy.years_of(data.service_start, data.service_end)]
    return all(y is not None and y.status == "closed" for y in span)


def get_invoice(session: Session, invoice_id: str, principal: Principal, *,
                for_update: bool = False) -> Invoice:
    return one_readable(session, access.readable(principal).where(Invoice.id == invoice_id),
                        f"no invoice {invoice_id}", for_update=for_update)


class PaymentRequest(NamedTuple):
    invoice_id: str
    payment: PaymentCreate


_INVOICES_FOR_UPDATE = (select(Invoice.__table__)
                        .where(Invoice.__table__.c.id.in_(bindparam("ids", expanding=True)))
                        .order_by(Invoice.__table__.c.id).with_for_update())


_WITH_PENDING = (select(Redemption.invoice_id).distinct()
                 .where(Redemption.invoice_id.in_(bindparam("ids", expanding=True)),
                        Redemption.status == "pending").order_by(Redemption.invoice_id))


def pay_group(session: Session, writes: Sequence[Any]) -> list[Any]:
    """Payments received (PRODUCT.md §3.4), decided for a whole batch: the invoices locked by
    id in one statement, each payment checked against what the batch has paid before it (it
    never takes `paid_fen` above the net total), the accepted ones written with one UPDATE and
    one INSERT. Each answer is the invoice as that payment left it. `writes`: uow writes (or
    anything with `principal` and `args`, a PaymentRequest)."""
    session.flush()
    db = session.connection()
    found = {row.id: InvoiceRow(**{k: row._mapping[k] for k in InvoiceRow._fields})
             for row in db.execute(_INVOICES_FOR_UPDATE,
                                   {"ids": sorted({w.args.invoice_id for w in writes})})}
    paid = {i: row.paid_fen for i, row in found.items()}
    answers: list[Any] = []
    payments: list[dict] = []
    for w in writes:
        invoice = found.get(w.args.invoice_id)
        data = w.args.payment
        if invoice is None or not access.admits(w.principal, invoice):
            answers.append(NotFound(f"no invoice {w.args.invoice_id}"))
            continue
        if paid[invoice.id] + data.amount_fen > invoice.net_total_fen:
            answers.append(PaymentExceedsTotal(
                f"{paid[invoice.id]} fen is already paid; {data.amount_fen} more would exceed "
                f"the invoice's net total of {invoice.net_total_fen} fen"))
            continue
        paid[invoice.id] += data.amount_fen
        payment = {"id": ids.new_id("pay"), "invoice_id": invoice.id,
                   "amount_fen": data.amount_fen, "paid_on": data.paid_on,
                   "created_at": clock.now()}
        payments.append(payment)
        audit.record(session, action="invoice.payment", object_type="invoice",
                     object_id=invoice.id, by=w.principal, request_id=w.request_id,
                     summary={"payment_id": payment["id"], "amount_fen": data.amount_fen,
                              "paid_on": data.paid_on.isoformat(),
                              "paid_fen": paid[invoice.id]})
        answers.append(invoice._replace(paid_fen=paid[invoice.id]))
    if not payments:
        return answers
    touched = sorted({p["invoice_id"] for p in payments})
    update_many(session, Invoice.__table__, [{"id": i, "paid_fen": paid[i]} for i in touched],
                key="id", set_=("paid_fen",))
    insert_many(session, InvoicePayment.__table__, payments)
    # Deduction mode: a pending redemption is owed to the provider once the enterprise paid its
    # share (one statement finds the invoices that have any).
    for i in db.execute(_WITH_PENDING, {"ids": touched}).scalars().all():
        redemptions.release_pending(session, found[i]._replace(paid_fen=paid[i]))
    shaped = iter(rows_to_public(session, [a for a in answers if isinstance(a, InvoiceRow)]))
    return [next(shaped) if isinstance(a, InvoiceRow) else a for a in answers]


def reverse(session: Session, *, invoice_id: str, principal: Principal,
            data: ReversalCreate, source_sha256: str | None = None) -> InvoiceReversal:
    """Post a red-letter invoice and take back whatever subsidy now exceeds eligibility."""
    errors = number_problems(data.invoice_number, data.invoice_code)
    if errors:
        raise ValidationFailed("; ".join(f"{e.field}: {e.message}" for e in errors),
                               errors=errors)
    number = invoice_key(data.invoice_number, data.invoice_code)
    redemptions.lock_vouchers_drawn_on(session, invoice_id)  # lock order: voucher → invoice
    invoice = get_invoice(session, invoice_id, principal, for_update=True)
    if data.amount_fen > invoice.net_total_fen:
        raise ReversalExceedsTotal(
            f"the invoice's net total is {invoice.net_total_fen} fen; a reversal of "
            f"{data.amount_fen} fen would take it below zero")
    taken = session.exec(select(InvoiceReversal.id).where(
        InvoiceReversal.invoice_number == number)).first()
    if taken or session.exec(select(Invoice.id).where(Invoice.invoice_key == number)).first():
        raise InvoiceDuplicate(f"invoice number {number} is already used")
    invoice.reversed_fen += data.amount_fen
    session.add(invoice)
    reversal = InvoiceReversal(id=ids.new_id("red"), invoice_id=invoice.id,
                               invoice_number=number, issued_on=data.issued_on,
                               amount_fen=data.amount_fen, reason=data.reason,
                               invoice_paid_fen=invoice.paid_fen,
                               invoice_reversed_fen=invoice.reversed_fen)
    session.add(reversal)
    session.flush()
    taken_back = redemptions.take_back_excess(session, invoice)
    audit.record(session, action="invoice.reverse", object_type="invoice", object_id=invoice.id,
                 summary={"reversal_id": reversal.id, "red_invoice_number": number,
                          "amount_fen": data.amount_fen, "reversed_fen": invoice.reversed_fen,
                          "reason": data.reason, "taken_back_fen": taken_back,
                          **({"source_sha256": source_sha256} if source_sha256 else {})})
    return reversal


def status_of(invoice: Invoice | InvoiceRow) -> str:
    if invoice.total_fen > 0 and invoice.net_total_fen == 0:
        return "reversed"
    if invoice.paid_fen >= invoice.net_total_fen:
        return "paid"
    return "partially_paid" if invoice.paid_fen > 0 else "unpaid"


def to_public(session: Session, invoices: Sequence[Invoice],
              year: int | None = None) -> list[dict[str, Any]]:
    """Shape invoices for the API with their eligible and redeemed subsidy, in few queries."""
    return rows_to_public(session, [InvoiceRow(**i.model_dump()) for i in invoices], year)


def rows_to_public(session: Session, invoices: Sequence[InvoiceRow],
                   year: int | None = None) -> list[dict[str, Any]]:
    """to_public for invoice rows as plain tuples (the batched write paths)."""
    if not invoices:
        return []
    ids_ = [i.id for i in invoices]
    lines: dict[str, list[LineRow]] = defaultdict(list)
    for line in session.exec(select(InvoiceLine).where(InvoiceLine.invoice_id.in_(ids_))
                             .order_by(InvoiceLine.invoice_id, InvoiceLine.line_no)):
        lines[line.invoice_id].append(LineRow(**line.model_dump()))
    redeemed: dict[str, dict[int, int]] = defaultdict(dict)
    for invoice_id, y, net in session.execute(
            select(Redemption.invoice_id, Redemption.year,
                   func.sum(Redemption.subsidy_fen - Redemption.clawed_back_fen))
            .where(Redemption.invoice_id.in_(ids_))
            .group_by(Redemption.invoice_id, Redemption.year)):
        redeemed[invoice_id][y] = int(net or 0)
    wanted = {y for i in invoices for y in subsidy.years_of(i.service_start, i.service_end)}
    policies = {p.year: p for p in session.exec(select(BudgetYear)
                                                .where(BudgetYear.year.in_(wanted)))}
    usccs = dict(session.execute(select(Enterprise.id, Enterprise.uscc).where(
        Enterprise.id.in_({i.enterprise_id for i in invoices}))).all())
    sources = dict(session.execute(select(InvoiceSource.invoice_id, InvoiceSource.sha256).where(
        InvoiceSource.invoice_id.in_(ids_), InvoiceSource.reversal_id.is_(None))).all())
    return [_shape(i, lines[i.id], policies, redeemed[i.id], usccs.get(i.enterprise_id, ""),
                   year, sources.get(i.id)) for i in invoices]


def _shape(invoice: InvoiceRow, lines: Sequence[LineRow], policies: dict[int, BudgetYear],
           redeemed: dict[int, int], enterprise_uscc: str, year: int | None,
           source_sha256: str | None = None) -> dict[str, Any]:
    """The public representation of one invoice; redeemed: net subsidy redeemed per year."""
    by_year = {y: subsidy.eligible_for_year(invoice, lines, policies[y])
               for y in subsidy.years_of(invoice.service_start, invoice.service_end)
               if y in policies}
    shown = year if year is not None else invoice.service_start.year
    redeemable = sum(max(0, e - redeemed.get(y, 0))
                     for y, e in by_year.items() if policies[y].status == "open")
    shape = invoice._asdict()
    del shape["line_amounts"]  # the what-if replay's summary of the lines shown below
    return {
        **shape, "enterprise_uscc": enterprise_uscc,
        "net_total_fen": invoice.net_total_fen, "status": status_of(invoice),
        "year": shown, "eligible_subsidy_fen": by_year.get(shown, 0),
        "eligible_by_year": {str(y): v for y, v in by_year.items()},
        "redeemed_fen": sum(redeemed.values()), "redeemable_fen": redeemable,
        "lines": [line._asdict() for line in lines], "source_sha256": source_sha256,
    }


def post_usage_statement(session: Session, *, principal: Principal,
                         data: UsageStatementCreate) -> dict[str, Any]:
    """A provider's monthly statement replaces any earlier one for the same month."""
    usccs = {line.enterprise_uscc for line in data.lines}
    enterprises = dict(session.execute(select(Enterprise.uscc, Enterprise.id)
                                       .where(Enterprise.uscc.in_(usccs))).all())
    errors = [FieldError(field=f"lines[{i}].enterprise_uscc",
                         message="no enterprise is registered with this USCC")
              for i, line in enumerate(data.lines) if line.enterprise_uscc not in enterprises]
    if errors:
        raise ValidationFailed(f"{len(errors)} lines name unknown enterprises", errors=errors)
    existing = session.exec(select(UsageStatement).where(
        UsageStatement.provider_id == principal.provider_id,
        UsageStatement.month == data.month)).all()
    for row in existing:
        session.delete(row)
    totals: dict[str, int] = defaultdict(int)
    for line in data.lines:
        totals[enterprises[line.enterprise_uscc]] += line.billed_fen
    for enterprise_id, billed in totals.items():
        session.add(UsageStatement(id=ids.new_id("use"), provider_id=principal.provider_id,
                                   month=data.month, enterprise_id=enterprise_id,
                                   billed_fen=billed))
    session.flush()
    audit.record(session, action="usage_statement.post", object_type="usage_statement",
                 object_id=f"{principal.provider_id}:{data.month}",
                 summary={"lines": len(totals), "billed_fen": sum(totals.values()),
                          "replaced": len(existing)})
    inverse = {v: k for k, v in enterprises.items()}
    return {"provider_id": principal.provider_id, "month": data.month,
            "lines": [{"enterprise_uscc": inverse[e], "enterprise_id": e, "billed_fen": b}
                      for e, b in totals.items()]}
