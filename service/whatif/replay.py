"""The what-if replay (docs/what-if.md): the year's real claims, in the order they were made,
decided again under another policy with the live rule functions.

Two phases:

1. `load` reads the year once, set-based, into compact arrays (no ORM object per invoice): one
   row per claimed invoice (its dates, total and the amount of its lines per category, folded
   into a "shape" so that invoices whose lines repeat share one weighted amount), and one
   ordered stream of events — voucher issued, voucher revoked, red-letter reversal (a take-back
   or clawback), redemption, and (include_unredeemed) the demand never claimed. Each reversal
   and redemption carries the invoice's paid and reversed amounts *at that moment* — a running
   sum over the invoice's payments and reversals, by window functions in the generic SQL, or
   as the write path recorded them on the row (migration 0011) on PostgreSQL (pgload.py) — so
   the invoice is decided as it stood when the real redemption was made.
2. `state.run` walks the stream once per scenario (service/whatif/state.py): a state object
   with one handler per event kind decides every claim again with the live rule functions.
   Nothing is written.

Ordering: by timestamp, then by the time-ordered body of the row's id (ids are generated in
creation order, service/kit/ids.py), so events of one instant keep the order they happened in.
"""

from __future__ import annotations

import itertools
import re
from contextlib import ExitStack, closing
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, Integer, String, column, text
from sqlmodel import Session

from service.kit import clock
from service.invoices import subsidy
from service.whatif import pgload, state
from service.whatif.yeardata import (  # noqa: F401 (the compare and tests read them here)
    ISSUE,
    REVOKE,
    RECLAIM,
    REVERSAL,
    REDEMPTION,
    UNCLAIMED,
    REJECT,
    Index,
    VoucherState,
    YearData,
    grow,
    redemption_claims,
    day_slices,
    invoice_classes,
    claim_keys,
    key_list,
)
from service.years.models import CATEGORIES, BudgetYear

# The rejected held redemptions' id bodies (as the event stream's `b`).
_REJECTED = (f"SELECT substr(x.rid, 5) FROM ({pgload.REJECTIONS}) x JOIN redemption d "
             "ON d.id = x.rid WHERE d.year = :y")

_CASES = ", ".join(f"CAST(COALESCE(SUM(CASE WHEN l.category = '{c}' THEN l.amount_fen ELSE 0 "
                   f"END), 0) AS BIGINT) AS c_{c}" for c in CATEGORIES)

_CLAIMED = "SELECT DISTINCT invoice_id AS id FROM redemption WHERE year = :y"
_UNCLAIMED = ("SELECT i.id AS id FROM invoice i WHERE i.service_start <= :last "
              "AND i.service_end >= :first AND NOT EXISTS (SELECT 1 FROM redemption r "
              "WHERE r.invoice_id = i.id AND r.year = :y)")

# The wanted invoices and their lines, both in invoice id order: merged in Python (cheaper than
# a join and aggregate on text ids over the whole year).
_INVOICES = """
SELECT i.id, i.enterprise_id, i.provider_id, i.issued_on, i.service_start, i.service_end,
       i.total_fen
FROM invoice i WHERE i.id IN (SELECT w.id FROM ({wanted}) w)
ORDER BY i.id
"""
_LINES = """
SELECT l.invoice_id, l.category, l.amount_fen
FROM invoice_line l WHERE l.invoice_id IN (SELECT w.id FROM ({wanted}) w)
ORDER BY l.invoice_id, l.line_no
"""
_CATEGORY = {c: k for k, c in enumerate(CATEGORIES)}
# PostgreSQL loads through service/whatif/pgload.py; False makes it take the generic SQL below
# (what SQLite runs), which tests compare it with.
FAST_LOAD = True

# Every event of the year in the order it happened. The running sums give each reversal and
# redemption the invoice's paid and reversed amounts at that moment.
_EVENTS = f"""
WITH claimed AS ({_CLAIMED}),
inv AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM claimed),
vch AS (SELECT id, created_at, revoked_at, ledger_account_id,
               ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM voucher WHERE year = :y),
ev AS (
  SELECT p.invoice_id AS invoice_id, p.created_at AS t, substr(p.id, 5) AS b, 2 AS k,
         p.amount_fen AS pay, 0 AS rev, 0 AS sub, 0 AS claw
    FROM invoice_payment p JOIN claimed c ON c.id = p.invoice_id
  UNION ALL
  SELECT r.invoice_id, r.created_at, substr(r.id, 5), 3, 0, r.amount_fen, 0, 0
    FROM invoice_reversal r JOIN claimed c ON c.id = r.invoice_id
  UNION ALL
  SELECT d.invoice_id, d.created_at, substr(d.id, 5), 4, 0, 0, d.subsidy_fen, d.clawed_back_fen
    FROM redemption d WHERE d.year = :y
),
run AS (
  SELECT invoice_id, t, b, k, sub, claw,
         CAST(SUM(pay) OVER w AS BIGINT) AS paid, CAST(SUM(rev) OVER w AS BIGINT) AS rvd
  FROM ev WINDOW w AS (PARTITION BY invoice_id ORDER BY t, b, k ROWS UNBOUNDED PRECEDING))
SELECT k, t, b, n, paid, rvd, sub, claw, {{local}} FROM (
SELECT run.k AS k, run.t AS t, run.b AS b, inv.n AS n, run.paid AS paid, run.rvd AS rvd,
       run.sub AS sub, run.claw AS claw
  FROM run JOIN inv ON inv.id = run.invoice_id WHERE run.k > 2
UNION ALL
SELECT 0, vch.created_at, substr(vch.id, 5), vch.n, 0, 0, 0, 0 FROM vch
UNION ALL
SELECT 1, vch.revoked_at,
       COALESCE((SELECT MIN(substr(a.id, 5)) FROM audit_event a WHERE a.object_id = vch.id
                 AND a.action = 'voucher.revoke'), '~'), vch.n, 0, 0, 0, 0
  FROM vch WHERE vch.revoked_at IS NOT NULL
UNION ALL
SELECT 2, tr.created_at, substr(tr.id, 5), vch.n, 0, 0, tr.amount_fen, 0
  FROM ledger_transfer tr JOIN vch ON vch.ledger_account_id = tr.debit_account_id
  WHERE tr.kind = 'reclaim' AND tr.year = :y
UNION ALL
SELECT 6, x.t, substr(x.rid, 5), inv.n, 0, 0, 0, 0
  FROM ({pgload.REJECTIONS}) x JOIN redemption d ON d.id = x.rid
  JOIN inv ON inv.id = d.invoice_id WHERE d.year = :y) e
ORDER BY t, b, k
"""
_EVENT_COLUMNS = (column("k", Integer), column("t", DateTime(timezone=True)), column("b", String),
                  column("n", Integer), column("paid", Integer), column("rvd", Integer),
                  column("sub", Integer), column("claw", Integer))
_INVOICE_COLUMNS = (column("id", String), column("enterprise_id", String),
                    column("provider_id", String), column("issued_on", Date),
                    column("service_start", Date), column("service_end", Date),
                    column("total_fen", Integer), column("paid_fen", Integer),
                    column("reversed_fen", Integer),
                    *(column(f"c_{c}", Integer) for c in CATEGORIES))
# What the refusals ask of an unclaimed invoice's parties (the facts redeem.py reads).
_FACTS = """
SELECT i.id, e.credit_blocked, e.uscc AS enterprise_uscc, p.name AS provider_name,
       p.uscc AS provider_uscc,
       (SELECT MIN(o.programme) FROM other_subsidy o WHERE o.enterprise_id = i.enterprise_id
          AND (o.invoice_number = i.invoice_number OR o.invoice_number = i.invoice_key
               OR (COALESCE(i.contract_number, '') <> ''
                   AND o.contract_number = i.contract_number))) AS other_programme,
       EXISTS (SELECT 1 FROM related_party rp WHERE rp.enterprise_id = i.enterprise_id
               AND rp.provider_id = i.provider_id) AS related,
       EXISTS (SELECT 1 FROM approved_provider ap WHERE ap.year = :y
               AND ap.provider_id = i.provider_id) AS approved,
       (SELECT MAX(pm.created_at) FROM invoice_payment pm WHERE pm.invoice_id = i.id) AS last_paid,
       i.created_at
FROM invoice i JOIN enterprise e ON e.id = i.enterprise_id JOIN provider p ON p.id = i.provider_id
JOIN ({unclaimed}) u ON u.id = i.id
ORDER BY i.id
"""


def _stream(db: Any, sql: str, params: dict) -> Any:
    """Rows of a statement as plain tuples from the driver's own cursor — server-side and
    fetched in chunks on PostgreSQL — without a Row object per row. Dates and timestamps come
    as objects from psycopg and as ISO text from sqlite3 (see _date, _day)."""
    raw = db.connection.driver_connection
    if db.dialect.name == "postgresql":
        cursor = raw.cursor(name=f"whatif_{next(_cursors)}")
        cursor.itersize = 20_000
        cursor.execute(re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql), params)
    else:
        cursor = raw.cursor()
        cursor.execute(sql, {k: v.isoformat() if isinstance(v, date) else v
                             for k, v in params.items()})
    try:
        yield from cursor
    finally:
        cursor.close()


_cursors = itertools.count(1)


# Redemptions of enterprises holding several vouchers that drew on one voucher only.
_SINGLE_DRAWS = """
SELECT substr(r.id, 5), MIN(rd.voucher_id), r.subsidy_fen
FROM redemption r JOIN redemption_draw rd ON rd.redemption_id = r.id
WHERE r.year = :y AND r.enterprise_id IN (
  SELECT enterprise_id FROM voucher WHERE year = :y GROUP BY enterprise_id HAVING COUNT(*) > 1)
GROUP BY r.id, r.subsidy_fen HAVING COUNT(*) = 1
"""


def _local_date(db: Any) -> str:
    """SQL for the Asia/Shanghai business date of the event's timestamp `t`."""
    if db.dialect.name == "postgresql":
        return "CAST((t AT TIME ZONE 'Asia/Shanghai') AS DATE)"
    return "substr(t, 1, 10)"  # SQLite stores the Asia/Shanghai wall time


def _aware(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _day(value: Any) -> int:
    """The Asia/Shanghai business date of a timestamp, as an ordinal."""
    if isinstance(value, str):  # SQLite stores the Asia/Shanghai wall time
        return date.fromisoformat(value[:10]).toordinal()
    if value.tzinfo is not None:
        value = value.astimezone(clock.SHANGHAI)
    return value.toordinal()


def load(session: Session, year: BudgetYear, *, unclaimed: bool = False) -> YearData:
    session.flush()
    db = session.connection()
    if db.dialect.name == "postgresql" and FAST_LOAD:
        try:
            return _load(session, year, unclaimed=unclaimed, fast=True)
        except pgload.Unrecorded:  # a row from outside the write path: the generic SQL
            pass
    return _load(session, year, unclaimed=unclaimed, fast=False)


def _load(session: Session, year: BudgetYear, *, unclaimed: bool, fast: bool) -> YearData:
    db = session.connection()
    if db.dialect.name == "postgresql":
        for setting in pgload.SETTINGS:
            db.execute(text(setting))
    y = year.year
    params = {"y": y, "first": date(y, 1, 1), "last": date(y, 12, 31)}
    draws = list(_stream(db, _SINGLE_DRAWS, params))
    rejected = {b: -1 for (b,) in _stream(db, _REJECTED, params)}  # → its REDEMPTION event
    if not fast:
        return _fill(db, year, params, unclaimed, draws, rejected, None)
    raw = db.connection.driver_connection
    with ExitStack() as stack:
        side = stack.enter_context(pgload.side_connection(session, raw))
        stream = None
        if side is not None:  # the events read and sorted while the invoices load
            stream = stack.enter_context(closing(pgload.event_stream(
                side, params, with_t=unclaimed, with_b=bool(draws or rejected))))
        return _fill(db, year, params, unclaimed, draws, rejected, (raw, stream, stack))


def _fill(db: Any, year: BudgetYear, params: dict, unclaimed: bool, draws: list,
          rejected: dict, fast: tuple | None) -> YearData:
    """The load's body; `fast`: PostgreSQL's (connection, started event stream or None, the
    stack that closes what is opened)."""
    from service.years.service import policy_of

    data = YearData(year=year.year, policy=policy_of(year))
    invoices = _Invoices(db, data, params)
    if fast:  # service/whatif/pgload.py: the same arrays, from what the write path recorded
        n_claimed = pgload.claimed_invoices(fast[0], data, params, invoices.ents,
                                            invoices.provs, invoices.shapes)
    else:
        n_claimed = invoices.add(_CLAIMED)
    data.vouchers = _vouchers(db, params, invoices.ents)
    # UNCLAIMED events, merged into the stream by time; the invoices' current paid and reversed
    extra, paid_now = _unclaimed(db, params, invoices, n_claimed) if unclaimed else ([], {})
    voucher_n = {v.id: i for i, v in enumerate(data.vouchers)}
    singles = {b: (voucher_n[v], int(sub)) for b, v, sub in draws}
    if fast:
        raw, stream, stack = fast
        with_b = bool(singles or rejected)
        if stream is None:
            stream = stack.enter_context(closing(pgload.event_stream(
                raw, params, with_t=unclaimed, with_b=with_b)))
        pgload.events(stream, data, n_claimed, singles, extra, paid_now, _merge_unclaimed,
                      rejected, with_t=unclaimed, with_b=with_b)
    else:
        _events(db, data, params, singles, extra, paid_now, rejected)
    data.claims = len(data.actual)
    _name_parties(db, data, invoices)
    if data.single_draw:  # learn which of them named their voucher
        state.run(data, state.scenario_policy(data.policy, data.year, {}), learn=True)
    return data


class _Invoices:
    """Invoices into the year's arrays by the generic SQL: enterprises, providers and line
    shapes numbered in order of first sight, the live period functions once per distinct
    service period."""

    def __init__(self, db: Any, data: YearData, params: dict):
        self.db, self.data, self.params = db, data, params
        self.ents: dict[str, int] = {}
        self.provs: dict[str, int] = {}
        self.shapes: dict[tuple[int, ...], int] = {}
        self.periods: dict[tuple, tuple[int, int]] = {}
        self.issued_days: dict[Any, int] = {}

    def add(self, wanted: str) -> int:
        """The invoices `wanted` selects, in id order; returns how many."""
        data, y, count = self.data, self.data.year, 0
        ents, provs, shapes, periods = self.ents, self.provs, self.shapes, self.periods
        lines = _stream(self.db, _LINES.format(wanted=wanted), self.params)
        line = next(lines, None)
        for row in _stream(self.db, _INVOICES.format(wanted=wanted), self.params):
            amounts = [0] * len(CATEGORIES)
            while line is not None and line[0] == row[0]:
                amounts[_CATEGORY[line[1]]] += line[2]
                line = next(lines, None)
            e = ents.get(row[1])
            if e is None:
                e = ents[row[1]] = len(ents)
            p = provs.get(row[2])
            if p is None:
                p = provs[row[2]] = len(provs)
            period = periods.get((row[4], row[5]))
            if period is None:  # the live functions, once per distinct service period
                start, end = _date(row[4]), _date(row[5])
                period = periods[(row[4], row[5])] = (subsidy.overlap_days(start, end, y),
                                                      subsidy.service_days(start, end))
            issued = self.issued_days.get(row[3])
            if issued is None:
                issued = self.issued_days[row[3]] = _date(row[3]).toordinal()
            shape = tuple(amounts)
            s_id = shapes.get(shape)
            if s_id is None:
                s_id = shapes[shape] = len(shapes)
            data.inv_ent.append(e)
            data.inv_prov.append(p)
            data.inv_issued.append(issued)
            data.inv_overlap.append(period[0])
            data.inv_days.append(period[1])
            data.inv_total.append(row[6])
            data.inv_shape.append(s_id)
            count += 1
        return count


def _vouchers(db: Any, params: dict, ents: dict[str, int]) -> list[VoucherState]:
    """The year's vouchers in id order (the stream's voucher numbers), as issued."""
    rows = list(db.execute(text(
        "SELECT id, enterprise_id, year, face_fen, valid_from, valid_until, created_at "
        "FROM voucher WHERE year = :y ORDER BY id").columns(
        column("id", String), column("enterprise_id", String), column("year", Integer),
        column("face_fen", Integer), column("valid_from", Date), column("valid_until", Date),
        column("created_at", DateTime(timezone=True))), params))
    return [VoucherState(v, ents.setdefault(v.enterprise_id, len(ents))) for v in rows]


def _unclaimed(db: Any, params: dict, invoices: _Invoices,
               first: int) -> tuple[list[tuple], dict[int, tuple[int, int]]]:
    """The unclaimed invoices added after the claimed ones (numbered from `first`): their
    UNCLAIMED events (time, invoice, facts) in time order, and their paid and reversed now."""
    invoices.add(_UNCLAIMED)
    stmt = text(_FACTS.format(unclaimed=_UNCLAIMED)).columns(
        column("id", String), column("credit_blocked", Integer),
        column("enterprise_uscc", String), column("provider_name", String),
        column("provider_uscc", String), column("other_programme", String),
        column("related", Integer), column("approved", Integer),
        column("last_paid", DateTime(timezone=True)),
        column("created_at", DateTime(timezone=True)))
    extra = [(row.last_paid or row.created_at, first + i, row)
             for i, row in enumerate(db.execute(stmt, params))]
    extra.sort(key=lambda item: (item[0], item[1]))
    paid_now: dict[int, tuple[int, int]] = {}
    if extra:
        for row in db.execute(text(
                "SELECT i.paid_fen, i.reversed_fen FROM invoice i JOIN (" + _UNCLAIMED
                + ") u ON u.id = i.id ORDER BY i.id"), params):
            paid_now[first + len(paid_now)] = (int(row[0]), int(row[1]))
    return extra, paid_now


def _events(db: Any, data: YearData, params: dict, singles: dict, extra: list,
            paid_now: dict, rejected: dict) -> None:
    """The year's stream by the generic SQL into data's event arrays, the unclaimed demand
    merged in by time."""
    kinds, refs, days, paids, revs, actual = data.ev_kind, data.ev_ref, data.ev_day, \
        data.ev_paid, data.ev_rev, data.actual
    day_of: dict[Any, int] = {}
    x, pending = 0, len(extra)
    for k, t, _b, n, paid, rvd, sub, claw, local in _stream(db, _EVENTS.format(
            local=_local_date(db)), params):
        if x < pending:
            at = _aware(t)
            while x < pending and extra[x][0] <= at:
                _merge_unclaimed(data, extra[x], paid_now)
                x += 1
        kinds.append(k)
        refs.append(n)
        day = day_of.get(local)
        if day is None:
            day = day_of[local] = _date(local).toordinal()
        days.append(day)
        paids.append(paid)
        revs.append(rvd)
        if k == REDEMPTION:
            actual.append(sub - claw)
            if singles and _b in singles:
                data.single_draw[len(kinds) - 1] = singles[_b]
            if _b in rejected:
                rejected[_b] = len(kinds) - 1
                data.rejected.add(len(kinds) - 1)
        elif k == REJECT:
            data.reject_of[len(kinds) - 1] = rejected[_b]
        elif k == RECLAIM:
            paids[-1] = sub  # the amount reclaimed
        elif k == REVERSAL:
            data.reversed_invoices.add(n)
    while x < pending:
        _merge_unclaimed(data, extra[x], paid_now)
        x += 1


def _name_parties(db: Any, data: YearData, invoices: _Invoices) -> None:
    """The enterprises' districts and names, the providers and shapes, by their numbers."""
    names = {}
    if invoices.ents:
        for row in db.execute(text("SELECT id, district, name FROM enterprise")):
            if row[0] in invoices.ents:
                names[row[0]] = (row[1] or "", row[2] or "")
    data.enterprises = list(invoices.ents)
    data.districts = [names.get(e, ("", ""))[0] for e in data.enterprises]
    data.names = [names.get(e, ("", ""))[1] for e in data.enterprises]
    data.providers = list(invoices.provs)
    data.shapes = list(invoices.shapes)


def _merge_unclaimed(data: YearData, item: tuple, paid_now: dict) -> None:
    at, n, facts = item
    paid, rvd = paid_now[n]
    data.ev_kind.append(UNCLAIMED)
    data.ev_ref.append(n)
    data.ev_day.append(_day(at))
    data.ev_paid.append(paid)
    data.ev_rev.append(rvd)
    data.unclaimed.append((n, facts))
