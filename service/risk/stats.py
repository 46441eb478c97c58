"""Unit-price statistics for `unit_price_outlier`: the median and the median absolute deviation
(MAD) of the unit prices of a year's invoice lines, per category and unit (lines of invoices
issued in the year).

They are kept in `risk_price_stat` and never recomputed per request. A year's statistics are
refreshed by whichever worker's redemption batch notices they are stale, inside its own
transaction (workers keep no state): stale means an invoice was posted since the last refresh
and either the year had fewer than `exact_below_lines` lines then (a small year stays exact;
recomputing it is cheap) or `refresh_seconds` have passed. The refresher locks the year's
`risk_stats_state` row, so two workers never refresh one year at once; the second finds it fresh.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, select, text
from sqlmodel import Session

from service.kit import clock
from service.invoices.models import Invoice, InvoiceLine
from service.risk.models import RiskPriceStat, RiskStatsState
from service.kit.rows import insert_if_absent, insert_many


class Stat(NamedTuple):
    line_count: int
    median_fen: int
    mad_fen: int


def median(sorted_values: list[int]) -> int:
    """The median of sorted integers, rounded down to the fen for an even count."""
    n = len(sorted_values)
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) // 2


def stat_of(prices: list[int]) -> Stat:
    prices = sorted(prices)
    m = median(prices)
    return Stat(len(prices), m, median(sorted(abs(p - m) for p in prices)))


_LINE_PRICES = (select(InvoiceLine.category, InvoiceLine.unit, InvoiceLine.unit_price_fen)
                .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
                .where(Invoice.issued_on >= bindparam("first"),
                       Invoice.issued_on <= bindparam("last")))
# ">=": a business clock that stands still (the tests) still sees what was posted after.
_STATES = select(RiskStatsState.__table__).where(
    RiskStatsState.year.in_(bindparam("years", expanding=True)))
_NEWER_INVOICE = select(Invoice.id).where(Invoice.created_at >= bindparam("at")).limit(1)


# PostgreSQL computes them where the lines are: the same numbers as stat_of (the median of an
# even count is the mean of the middle two, rounded down; the MAD is the median of the integer
# deviations from that), exact as long as prices stay below 2**52 fen.
_PG_STATS = text("""
WITH p AS (
    SELECT l.category, l.unit, l.unit_price_fen AS price
    FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id
    WHERE i.issued_on >= :first AND i.issued_on <= :last),
m AS (
    SELECT category, unit, count(*) AS n,
           floor(percentile_cont(0.5) WITHIN GROUP (ORDER BY price))::bigint AS median
    FROM p GROUP BY category, unit)
SELECT m.category, m.unit, m.n, m.median,
       floor(percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(p.price - m.median)))::bigint
FROM p JOIN m ON m.category = p.category AND m.unit = p.unit
GROUP BY m.category, m.unit, m.n, m.median""")


def compute(session: Session, year: int) -> dict[tuple[str, str], Stat]:
    """The year's statistics from its invoice lines, now (the refresh and the back-test)."""
    params = {"first": date(year, 1, 1), "last": date(year, 12, 31)}
    if session.get_bind().dialect.name == "postgresql":
        return {(c, u): Stat(int(n), int(m), int(mad)) for c, u, n, m, mad in
                session.connection().execute(_PG_STATS, params).all()}
    prices: dict[tuple[str, str], list[int]] = defaultdict(list)
    for category, unit, price in session.connection().execute(_LINE_PRICES, params).all():
        prices[(category, unit)].append(price)
    return {group: stat_of(values) for group, values in prices.items()}


def _stale(session: Session, state: Any, settings: dict, now: datetime) -> bool:
    if state is None or state.refreshed_at is None:
        return True
    at = state.refreshed_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=clock.SHANGHAI)
    if (state.line_count >= settings["exact_below_lines"]
            and now - at < timedelta(seconds=settings["refresh_seconds"])):
        return False  # a large year, refreshed recently: not even a query
    return session.connection().execute(_NEWER_INVOICE, {"at": at}).first() is not None


def refresh(session: Session, year: int, settings: dict, now: datetime) -> None:
    """Recompute a year's statistics unless another worker just did (under the year's lock)."""
    insert_if_absent(session, RiskStatsState, year=year, line_count=0, refreshed_at=None)
    state = session.execute(select(RiskStatsState.__table__).where(
        RiskStatsState.year == year).with_for_update()).first()
    if not _stale(session, state, settings, now):
        return
    computed = compute(session, year)
    db = session.connection()
    db.execute(delete(RiskPriceStat.__table__).where(RiskPriceStat.year == year))
    insert_many(session, RiskPriceStat.__table__, [
        {"year": year, "category": c, "unit": u, "line_count": s.line_count,
         "median_fen": s.median_fen, "mad_fen": s.mad_fen}
        for (c, u), s in sorted(computed.items())])
    db.execute(RiskStatsState.__table__.update().where(RiskStatsState.year == year).values(
        line_count=sum(s.line_count for s in computed.values()), refreshed_at=now))


def for_groups(session: Session, groups: Iterable[tuple[int, str, str]],
               settings: dict[int, dict]) -> dict[tuple[int, str, str], Stat]:
    """The statistics of the groups (year, category, unit), refreshing a stale year first."""
    groups = sorted(set(groups))
    if not groups:
        return {}
    years = sorted({g[0] for g in groups})
    now = clock.now()
    db = session.connection()
    states = {row.year: row for row in db.execute(_STATES, {"years": years})}
    for year in years:
        if _stale(session, states.get(year), settings[year], now):
            refresh(session, year, settings[year], now)
    found = {(row.year, row.category, row.unit): Stat(row.line_count, row.median_fen,
                                                      row.mad_fen)
             for row in db.execute(_YEAR_STATS, {"years": years})}
    return {g: found[g] for g in groups if g in found}


# A year has a few groups (categories × units): read them all, one cached statement.
_YEAR_STATS = select(RiskPriceStat.__table__).where(
    RiskPriceStat.year.in_(bindparam("years", expanding=True)))
