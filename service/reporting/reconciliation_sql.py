"""Reconciliation's SQL dialect: the eligible-subsidy formula as one set-based statement, and the
few functions it needs compiled for each backend — exact numeric arithmetic on PostgreSQL, Python
integers registered on the SQLite connection (which has only 64-bit integers). The checks that
use them are in service/reporting/reconciliation.py."""

import zlib
from datetime import date

from sqlalchemy import BigInteger, Date, FromClause, Select, case, literal, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, select

from service.invoices.models import Invoice, InvoiceLine
from service.kit.money import BP_PER_UNIT, floor_div
from service.years.models import BudgetYear
from service.years.service import rate_for

SQLITE_MAX_INTEGER = 2**63 - 1


def prepare_session(session: Session) -> None:
    """Set the session up for reconciliation's large aggregates (for this transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        # A few large aggregates, not many small queries: JIT compilation costs more than it
        # saves here, and the per-invoice hash tables should stay in memory. Both settings end
        # with this transaction.
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    else:
        _register_sqlite_functions(session)


def eligible_subsidy(policy: BudgetYear, invoices: FromClause) -> Select:
    """Each row of `invoices` (which has an invoice_id column, one row per invoice) with its
    eligible_fen: the formula of service/invoices/subsidy.py (and eligible_for_year's
    eligible_from rule) in SQL, exact on both backends and rounded down once, so each equals
    eligible_for_year for that invoice. Joins, not IN lists, so the planner sizes them well.
    On SQLite call prepare_session on the session first: it supplies the big-integer
    arithmetic SQLite lacks."""
    rates = {category: rate_for(policy, category)
             for category in policy.eligible_categories if isinstance(category, str)}
    rates = {category: bp for category, bp in rates.items() if bp}
    rate_bp = case(*[(InvoiceLine.category == c, literal(bp, BigInteger))
                     for c, bp in rates.items()], else_=literal(0, BigInteger)) \
        if rates else literal(0, BigInteger)
    weighted = (select(InvoiceLine.invoice_id,
                       ExactSumOfProducts(InvoiceLine.amount_fen, rate_bp).label("weighted"))
                .join(invoices, invoices.c.invoice_id == InvoiceLine.invoice_id)
                .where(InvoiceLine.category.in_(list(rates)))
                .group_by(InvoiceLine.invoice_id).subquery("weighted"))
    first = literal(date(policy.year, 1, 1), Date)
    last = literal(date(policy.year, 12, 31), Date)
    overlap = DaysFrom(case((Invoice.service_end < last, Invoice.service_end), else_=last),
                        case((Invoice.service_start > first, Invoice.service_start),
                             else_=first)) + 1
    net = Invoice.total_fen - Invoice.reversed_fen
    share = case((Invoice.paid_fen < net, Invoice.paid_fen), else_=net) \
        if policy.settlement_mode == "reimbursement" else net
    days = DaysFrom(Invoice.service_end, Invoice.service_start) + 1
    eligible = case(
        (Invoice.issued_on < literal(policy.eligible_from, Date), literal(0, BigInteger)),
        (Invoice.total_fen <= 0, literal(0, BigInteger)),
        (weighted.c.weighted.is_(None), literal(0, BigInteger)),
        else_=FloorOfSubsidy(weighted.c.weighted, overlap, share, days, Invoice.total_fen))
    return (select(invoices, eligible.label("eligible_fen"))
            .join(Invoice, Invoice.id == invoices.c.invoice_id)
            .outerjoin(weighted, weighted.c.invoice_id == invoices.c.invoice_id))


class ExactSumOfProducts(FunctionElement):
    """Σ a·b over a group, without overflow: numeric on PostgreSQL; on SQLite (64-bit integers
    only) a Python aggregate whose result travels as decimal text."""

    inherit_cache = True
    name = "exact_sum_of_products"


class FloorOfSubsidy(FunctionElement):
    """⌊weighted · overlap · share / (10000 · service_days · total)⌋ when weighted, overlap and
    share are all positive, else 0 — subsidy.eligible_subsidy's last two lines. Exact: numeric
    on PostgreSQL, Python integers on SQLite."""

    type = BigInteger()
    inherit_cache = True
    name = "floor_of_subsidy"


class DaysFrom(FunctionElement):
    """later − earlier in whole days, for two dates."""

    type = BigInteger()
    inherit_cache = True
    name = "days_from"


class YearMonth(FunctionElement):
    """'YYYY-MM' of a date."""

    inherit_cache = True
    name = "year_month"


def _args(element, compiler, **kw) -> list[str]:
    return [compiler.process(arg, **kw) for arg in element.clauses]


@compiles(ExactSumOfProducts, "postgresql")
def _pg_sum_of_products(element, compiler, **kw):
    a, b = _args(element, compiler, **kw)
    return f"sum(CAST({a} AS NUMERIC) * {b})"


@compiles(FloorOfSubsidy, "postgresql")
def _pg_floor_of_subsidy(element, compiler, **kw):
    weighted, overlap, share, days, total = _args(element, compiler, **kw)
    # div() truncates, which is rounding down for these non-negative operands
    return (f"CASE WHEN {weighted} > 0 AND {overlap} > 0 AND {share} > 0 THEN "
            f"div({weighted} * ({overlap}) * ({share}), "
            f"CAST({BP_PER_UNIT} AS NUMERIC) * ({days}) * ({total})) ELSE 0 END")


@compiles(DaysFrom, "postgresql")
def _pg_days_from(element, compiler, **kw):
    later, earlier = _args(element, compiler, **kw)
    return f"({later} - {earlier})"


@compiles(YearMonth, "postgresql")
def _pg_year_month(element, compiler, **kw):
    (day,) = _args(element, compiler, **kw)
    return f"to_char({day}, 'YYYY-MM')"


@compiles(ExactSumOfProducts, "sqlite")
def _sqlite_sum_of_products(element, compiler, **kw):
    return f"voucher_sum_of_products({', '.join(_args(element, compiler, **kw))})"


@compiles(FloorOfSubsidy, "sqlite")
def _sqlite_floor_of_subsidy(element, compiler, **kw):
    return f"voucher_floor_of_subsidy({', '.join(_args(element, compiler, **kw))})"


@compiles(DaysFrom, "sqlite")
def _sqlite_days_from(element, compiler, **kw):
    later, earlier = _args(element, compiler, **kw)
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


@compiles(YearMonth, "sqlite")
def _sqlite_year_month(element, compiler, **kw):
    (day,) = _args(element, compiler, **kw)
    return f"strftime('%Y-%m', {day})"


class RowChecksum(FunctionElement):
    """A 32-bit hash of a row's columns (as text, joined by '|'), summed over a set of rows to
    notice any of them changed: hashtext on PostgreSQL, CRC-32 on SQLite. Each backend compares
    only with its own figures."""

    type = BigInteger()
    inherit_cache = True
    name = "row_checksum"


@compiles(RowChecksum, "postgresql")
def _pg_row_checksum(element, compiler, **kw):
    return f"CAST(hashtext(concat_ws('|', {', '.join(_args(element, compiler, **kw))})) AS BIGINT)"


@compiles(RowChecksum, "sqlite")
def _sqlite_row_checksum(element, compiler, **kw):
    return f"voucher_row_checksum({', '.join(_args(element, compiler, **kw))})"


def _row_checksum(*values) -> int:
    return zlib.crc32("|".join(str(v) for v in values).encode()) - 2**31


class _SumOfProducts:
    def __init__(self) -> None:
        self.total = 0

    def step(self, a: int, b: int) -> None:
        self.total += a * b

    def finalize(self) -> str:
        return str(self.total)  # may exceed SQLite's 64-bit integers


def _floor_of_subsidy(weighted: str, overlap: int, share: int, days: int,
                      total: int) -> int | str:
    weighted_ = int(weighted)
    if weighted_ <= 0 or overlap <= 0 or share <= 0:
        return 0
    fen = floor_div(weighted_ * overlap * share, BP_PER_UNIT * days * total)
    # Beyond 64 bits as decimal text: SQLite orders every integer before any text, so it still
    # compares above any redeemed sum (which SQLite keeps within 64 bits).
    return fen if fen <= SQLITE_MAX_INTEGER else str(fen)


def _register_sqlite_functions(session: Session) -> None:
    connection = session.connection().connection.driver_connection
    connection.create_aggregate("voucher_sum_of_products", 2, _SumOfProducts)
    connection.create_function("voucher_floor_of_subsidy", 5, _floor_of_subsidy,
                               deterministic=True)
    connection.create_function("voucher_row_checksum", -1, _row_checksum, deterministic=True)
