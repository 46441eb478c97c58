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
2. `run` walks the stream once per scenario in a tight loop. A redemption asks the live
   formula (`subsidy.subsidy_of`, with `subsidy.weighted_amount` per line shape and
   `subsidy.dated_before_eligible`) for the invoice's eligible subsidy under the scenario, less
   what the scenario already granted on it; draws it from the enterprise's vouchers usable that
   day (`vouchers.unusable_reason`, `vouchers.draw_order`, `redeem.draw_from`: the functions a
   real redemption calls) unless vouchers follow the cap; and limits it by the scenario's cap
   left for the enterprise and pool left. A reversal recomputes the invoice's eligible subsidy
   and takes the excess back, newest redemption first, last drawn voucher first, exactly as
   `redemptions.service.take_back_excess` does (a voucher revoked or expired by then passes it
   to the pool). Nothing is written.

Ordering: by timestamp, then by the time-ordered body of the row's id (ids are generated in
creation order, service/ids.py), so events of one instant keep the order they happened in.
"""

from __future__ import annotations

import itertools
import re
from array import array
from collections import defaultdict
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Date, DateTime, Integer, String, column, text
from sqlmodel import Session

from service import clock
from service.errors import DomainError
from service.invoices import subsidy
from service.redemptions.redeem import draw_from, refuse_by_policy
from service.redemptions.restore import give_back_parts
from service.vouchers import service as vouchers
from service.whatif import pgload
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
_REJECTED = ("SELECT substr(rv.redemption_id, 5) FROM review rv JOIN redemption d "
             "ON d.id = rv.redemption_id WHERE rv.status = 'rejected' AND d.year = :y")

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
SELECT 6, rv.decided_at, substr(rv.redemption_id, 5), inv.n, 0, 0, 0, 0
  FROM review rv JOIN redemption d ON d.id = rv.redemption_id JOIN inv ON inv.id = d.invoice_id
  WHERE rv.status = 'rejected' AND d.year = :y) e
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
    y = year.year
    from service.years.service import policy_of

    data = YearData(year=y, policy=policy_of(year))
    ents: dict[str, int] = {}
    provs: dict[str, int] = {}
    shapes: dict[tuple[int, ...], int] = {}
    n_claimed = 0

    periods: dict[tuple, tuple[int, int]] = {}
    issued_days: dict[Any, int] = {}

    def add_invoices(wanted: str) -> int:
        count = 0
        ent_a, prov_a, iss_a, ov_a, days_a, tot_a, shape_a = (
            data.inv_ent, data.inv_prov, data.inv_issued, data.inv_overlap, data.inv_days,
            data.inv_total, data.inv_shape)
        lines = _stream(db, _LINES.format(wanted=wanted), params)
        line = next(lines, None)
        for row in _stream(db, _INVOICES.format(wanted=wanted), params):
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
            issued = issued_days.get(row[3])
            if issued is None:
                issued = issued_days[row[3]] = _date(row[3]).toordinal()
            shape = tuple(amounts)
            s_id = shapes.get(shape)
            if s_id is None:
                s_id = shapes[shape] = len(shapes)
            ent_a.append(e)
            prov_a.append(p)
            iss_a.append(issued)
            ov_a.append(period[0])
            days_a.append(period[1])
            tot_a.append(row[6])
            shape_a.append(s_id)
            count += 1
        return count

    if fast:  # service/whatif/pgload.py: the same arrays, from what the write path recorded
        raw, stream, stack = fast
        n_claimed = pgload.claimed_invoices(raw, data, params, ents, provs, shapes)
    else:
        n_claimed = add_invoices(_CLAIMED)
    voucher_rows = list(db.execute(text(
        "SELECT id, enterprise_id, year, face_fen, valid_from, valid_until, created_at "
        "FROM voucher WHERE year = :y ORDER BY id").columns(
        column("id", String), column("enterprise_id", String), column("year", Integer),
        column("face_fen", Integer), column("valid_from", Date), column("valid_until", Date),
        column("created_at", DateTime(timezone=True))), params))
    data.vouchers = [VoucherState(v, ents.setdefault(v.enterprise_id, len(ents)))
                     for v in voucher_rows]

    extra: list[tuple] = []  # UNCLAIMED events, merged into the stream by time below
    if unclaimed:
        first = n_claimed
        add_invoices(_UNCLAIMED)
        stmt = text(_FACTS.format(unclaimed=_UNCLAIMED)).columns(
            column("id", String), column("credit_blocked", Integer),
            column("enterprise_uscc", String), column("provider_name", String),
            column("provider_uscc", String), column("other_programme", String),
            column("related", Integer), column("approved", Integer),
            column("last_paid", DateTime(timezone=True)),
            column("created_at", DateTime(timezone=True)))
        invoices = {}
        for i, row in enumerate(db.execute(stmt, params)):
            invoices[first + i] = row
        for n, row in invoices.items():
            at = row.last_paid or row.created_at
            extra.append((at, n, row))
        extra.sort(key=lambda item: (item[0], item[1]))

    day_of: dict[Any, int] = {}
    x = 0
    paid_now = {}  # unclaimed invoices: their current paid and reversed amounts
    if extra:
        for row in db.execute(text(
                "SELECT i.paid_fen, i.reversed_fen FROM invoice i JOIN (" + _UNCLAIMED
                + ") u ON u.id = i.id ORDER BY i.id"), params):
            paid_now[first + len(paid_now)] = (int(row[0]), int(row[1]))
    voucher_n = {v.id: i for i, v in enumerate(data.vouchers)}
    singles = {b: (voucher_n[v], int(sub)) for b, v, sub in draws}
    kinds, refs, days, paids, revs, actual = data.ev_kind, data.ev_ref, data.ev_day, \
        data.ev_paid, data.ev_rev, data.actual
    pending = len(extra) if not fast else 0
    if fast:
        with_b = bool(singles or rejected)
        if stream is None:
            stream = stack.enter_context(closing(pgload.event_stream(
                raw, params, with_t=unclaimed, with_b=with_b)))
        pgload.events(stream, data, n_claimed, singles, extra, paid_now, _merge_unclaimed,
                      rejected, with_t=unclaimed, with_b=with_b)
    for k, t, _b, n, paid, rvd, sub, claw, local in () if fast else _stream(db, _EVENTS.format(
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
    while not fast and x < len(extra):
        _merge_unclaimed(data, extra[x], paid_now)
        x += 1
    data.claims = len(actual)

    names = {}
    if ents:
        for row in db.execute(text("SELECT id, district, name FROM enterprise")):
            if row[0] in ents:
                names[row[0]] = (row[1] or "", row[2] or "")
    data.enterprises = list(ents)
    data.districts = [names.get(e, ("", ""))[0] for e in data.enterprises]
    data.names = [names.get(e, ("", ""))[1] for e in data.enterprises]
    data.providers = list(provs)
    data.shapes = list(shapes)
    if data.single_draw:  # learn which of them named their voucher
        run(data, scenario_policy(data.policy, y, {}), learn=True)
    return data


def _merge_unclaimed(data: YearData, item: tuple, paid_now: dict) -> None:
    at, n, facts = item
    paid, rvd = paid_now[n]
    data.ev_kind.append(UNCLAIMED)
    data.ev_ref.append(n)
    data.ev_day.append(_day(at))
    data.ev_paid.append(paid)
    data.ev_rev.append(rvd)
    data.unclaimed.append((n, facts))


# --- one scenario ---------------------------------------------------------------------------

def scenario_policy(base: dict, year: int, overrides: dict) -> SimpleNamespace:
    """The policy the rule functions read: the year's, with the scenario's overrides."""
    policy = dict(base)
    policy.update({k: v for k, v in overrides.items() if k != "invoice_growth_bp" and v is not None})
    if isinstance(policy.get("eligible_from"), str):
        policy["eligible_from"] = date.fromisoformat(policy["eligible_from"])
    return SimpleNamespace(year=year, status="open", **policy)


@dataclass
class Outcome:
    """What one scenario granted: per claim (REDEMPTION and UNCLAIMED events, in stream
    order), and the limits that bound."""

    granted: array  # per claim event: net subsidy after every later take-back
    claim_event: array  # per claim: its event index
    claim_invoice: array
    claim_day: array
    refused_count: int = 0
    refused_fen: int = 0
    pool_exhausted_on: date | None = None
    capped: set = field(default_factory=set)
    granted_count: int = 0
    weighted: list = field(default_factory=list)  # per shape, under this scenario
    ent_net: list = field(default_factory=list)  # per enterprise: what it was granted in all


def run(data: YearData, policy: SimpleNamespace, *, growth_bp: int = 0,
        follow_cap: bool = False, include_unredeemed: bool = False,
        learn: bool = False) -> Outcome:
    """One scenario over the stream. The rule functions are the live ones; what they return is
    memoised per distinct input (an eligible subsidy per invoice class, paid and reversed
    amounts; an enterprise's usable vouchers per day until one of them changes)."""
    y = data.year
    reimbursement = policy.settlement_mode == "reimbursement"
    weighted = [subsidy.weighted_amount(data.lines(s, growth_bp), policy)
                for s in range(len(data.shapes))]
    before: dict[int, bool] = {}
    days: dict[int, date] = {}
    n_inv = len(data.inv_total)
    inv_net = array("q", bytes(8 * n_inv))
    ent_net = [0] * (len(data.enterprises) or 1)
    pool_left = policy.pool_fen
    cap = policy.enterprise_cap_fen
    inv_ent, inv_shape, inv_total, inv_issued = data.inv_ent, data.inv_shape, data.inv_total, \
        data.inv_issued
    inv_overlap, inv_days = data.inv_overlap, data.inv_days
    reversed_invoices = data.reversed_invoices
    subsidy_of, unusable_reason = subsidy.subsidy_of, vouchers.unusable_reason
    by_enterprise: dict[int, list[VoucherState]] = defaultdict(list)
    states = [VoucherState.__new__(VoucherState) for _ in data.vouchers]
    for state, v in zip(states, data.vouchers):
        for slot in VoucherState.__slots__:
            setattr(state, slot, getattr(v, slot))
    for state in sorted(states, key=vouchers.draw_order):
        by_enterprise[state.enterprise].append(state)
    if include_unredeemed:  # the claims are known as the stream goes
        out = Outcome(granted=array("q"), claim_event=array("l"), claim_invoice=array("l"),
                      claim_day=array("l"), weighted=weighted)
    else:  # the claims are the redemptions, shared by every such scenario
        rd_event, rd_invoice, rd_day, _ = redemption_claims(data)
        out = Outcome(granted=array("q", bytes(8 * len(rd_event))), claim_event=rd_event,
                      claim_invoice=rd_invoice, claim_day=rd_day, weighted=weighted)
    granted = out.granted
    claims_of: dict[int, list[int]] = defaultdict(list)  # reversed invoices: their claims
    draws_of: dict[int, list] = {}  # claim → [(voucher state, amount)] where a take-back may come
    unclaimed = iter(data.unclaimed)
    named, single_draw = data.named, data.single_draw
    rejected, claim_at = data.rejected, {}  # rejected redemptions: event → claim
    usable: dict[int, tuple[int, list]] = {}  # enterprise → (day, its usable vouchers then)
    refused_count = refused_fen = granted_count = 0
    pool_exhausted_on = None
    capped = out.capped
    next_claim = 0
    tracked = bool(reversed_invoices or rejected)  # do any claims need their draws kept

    def eligible(i: int, paid: int, rvd: int) -> int:
        """The invoice's eligible subsidy under the scenario, paid and reversed as given."""
        issued = inv_issued[i]
        b = before.get(issued)
        if b is None:
            b = before[issued] = subsidy.dated_before_eligible(date.fromordinal(issued), policy)
        if b:
            return 0
        total = inv_total[i]
        if growth_bp:
            total, paid, rvd = grow(total, growth_bp), grow(paid, growth_bp), grow(rvd, growth_bp)
        return subsidy_of(weighted[inv_shape[i]], total_fen=total, reversed_fen=rvd,
                          paid_fen=paid, overlap=inv_overlap[i], days=inv_days[i],
                          reimbursement=reimbursement)

    # Per distinct (invoice class, paid, reversed) of the stream, once (claim_keys).
    keys, ev_key = claim_keys(data)
    elig = [eligible(i, paid, rvd) for i, paid, rvd in keys]

    for e_idx, kind, ref, day, key in zip(itertools.count(), data.ev_kind, data.ev_ref,
                                          data.ev_day, ev_key):
        if kind == REDEMPTION or kind == UNCLAIMED:
            if kind == UNCLAIMED:
                n, facts = next(unclaimed)
                if not include_unredeemed:
                    continue
                today = days.get(day) or days.setdefault(day, date.fromordinal(day))
                if not _claimable(facts, policy, today):
                    continue
                claim = len(granted)
                granted.append(0)
                out.claim_event.append(e_idx)
                out.claim_invoice.append(ref)
                out.claim_day.append(day)
            elif include_unredeemed:
                claim = len(granted)
                granted.append(0)
                out.claim_event.append(e_idx)
                out.claim_invoice.append(ref)
                out.claim_day.append(day)
            else:
                claim = next_claim
                next_claim += 1
            left = elig[key] - inv_net[ref]
            if left <= 0:
                continue  # nothing_to_redeem, or invoice_not_eligible
            e = inv_ent[ref]
            candidates = None
            if not follow_cap:
                chosen = named.get(e_idx) if named else None
                if chosen is None and not learn:
                    seen = usable.get(e)
                    if seen is not None and seen[0] == day:
                        candidates = seen[1]
                    else:
                        today = days.get(day) or days.setdefault(day, date.fromordinal(day))
                        candidates = [v for v in by_enterprise.get(e, ()) if v.issued
                                      and unusable_reason(v, today, y) is None]
                        usable[e] = (day, candidates)
                else:
                    today = days.get(day) or days.setdefault(day, date.fromordinal(day))
                if chosen is None and learn:
                    candidates = [v for v in by_enterprise.get(e, ()) if v.issued
                                  and unusable_reason(v, today, y) is None]
                    if e_idx in single_draw:
                        chosen, drawn_fen = single_draw[e_idx]
                        auto = draw_from(candidates, min(left, sum(v.balance_fen
                                                                   for v in candidates)))
                        if len(auto) == 1 and auto[0][0] is states[chosen] and \
                                auto[0][1] == drawn_fen:
                            chosen = None  # picked by draw order, as a real one would
                        else:
                            named[e_idx] = chosen
                if chosen is not None:  # the named voucher only
                    v = states[chosen]
                    candidates = [v] if v.issued and unusable_reason(v, today, y) is None \
                        else []
                if not candidates:
                    continue  # no_usable_voucher
                balance = candidates[0].balance_fen if len(candidates) == 1 else \
                    sum(v.balance_fen for v in candidates)
                if balance < left:
                    left = balance
            cap_left = cap - ent_net[e]
            if cap_left < left:
                capped.add(e)
                left = cap_left
            if left <= 0:
                continue
            amount = left
            if pool_left < left:
                amount = pool_left if pool_left > 0 else 0
                refused_count += 1
                refused_fen += left - amount
                if pool_exhausted_on is None:
                    pool_exhausted_on = date.fromordinal(day)
                if amount == 0:
                    continue
            if candidates is not None:
                drawn = draw_from(candidates, amount)
                for v, part in drawn:
                    v.balance_fen -= part
                    if v.balance_fen <= 0:  # exhausted: no longer usable
                        usable.pop(e, None)
                if tracked and (ref in reversed_invoices or e_idx in rejected):
                    draws_of[claim] = drawn
            if tracked:
                if ref in reversed_invoices:
                    claims_of[ref].append(claim)
                if e_idx in rejected:
                    claim_at[e_idx] = claim
            granted[claim] = amount
            granted_count += 1
            inv_net[ref] += amount
            ent_net[e] += amount
            pool_left -= amount
        elif kind == REVERSAL:
            excess = inv_net[ref] - elig[key]
            if excess <= 0:
                continue
            today = days.get(day) or days.setdefault(day, date.fromordinal(day))
            e = inv_ent[ref]
            for claim in reversed(claims_of[ref]):  # newest redemption first
                if excess == 0:
                    break
                part = min(excess, granted[claim])
                if part <= 0:
                    continue
                granted[claim] -= part
                inv_net[ref] -= part
                ent_net[e] -= part
                pool_left += part
                excess -= part
                if not follow_cap:
                    _give_back(draws_of.get(claim, []), part, today)
                    usable.pop(e, None)
        elif kind == REJECT:  # the whole grant taken back, as restore.give_back_to_vouchers does
            claim = claim_at.get(data.reject_of[e_idx])
            part = granted[claim] if claim is not None else 0
            if part <= 0:
                continue
            granted[claim] = 0
            e = inv_ent[ref]
            inv_net[ref] -= part
            ent_net[e] -= part
            pool_left += part
            if not follow_cap:
                today = days.get(day) or days.setdefault(day, date.fromordinal(day))
                _give_back(draws_of.get(claim, []), part, today)
                usable.pop(e, None)
        elif kind == ISSUE:
            states[ref].issued = True
            usable.pop(states[ref].enterprise, None)
        elif kind == RECLAIM:  # what the bureau took back, as far as the balance goes
            amount = data.ev_paid[e_idx]
            states[ref].balance_fen -= min(amount, states[ref].balance_fen)
            usable.pop(states[ref].enterprise, None)
        elif kind == REVOKE:
            states[ref].status = "revoked"
            states[ref].balance_fen = 0  # returned to the pool
            usable.pop(states[ref].enterprise, None)
    out.refused_count, out.refused_fen, out.granted_count = refused_count, refused_fen, \
        granted_count
    out.pool_exhausted_on = pool_exhausted_on
    out.ent_net = ent_net
    return out


def _give_back(drawn: list, amount: int, today: date) -> None:
    """The drawn amount back to the vouchers, last drawn first (redemptions/restore.py, as the
    write path does); a voucher revoked or expired by then passes it to the pool."""
    for i, back in give_back_parts([part for _, part in drawn], amount):
        v, part = drawn[i]
        drawn[i] = (v, part - back)
        if vouchers.display_status(v, today) not in ("revoked", "expired"):
            v.balance_fen += back


def _claimable(facts: Any, policy: SimpleNamespace, today: date) -> bool:
    """An unclaimed invoice passes the refusals a redemption would check (redeem.py 5–9)."""
    invoice = SimpleNamespace(credit_blocked=bool(facts.credit_blocked),
                              other_programme=facts.other_programme,
                              provider_name=facts.provider_name, related=bool(facts.related),
                              enterprise_uscc=facts.enterprise_uscc,
                              provider_uscc=facts.provider_uscc, issued_on=None,
                              service_start=None, service_end=None)
    policy_open = SimpleNamespace(**{**vars(policy), "redemption_deadline": date.max})
    try:
        _refuse_parties(invoice, policy_open, bool(facts.approved), today)
    except DomainError:
        return False
    return True


def _refuse_parties(invoice: Any, policy: Any, approved: bool, today: date) -> None:
    # refuse_by_policy's last check reads the invoice's dates; the replay's formula applies
    # eligible_from and the service period itself, so the dates given here always pass.
    invoice.issued_on = date.max
    invoice.service_start, invoice.service_end = date(policy.year, 1, 1), date(policy.year, 12, 31)
    refuse_by_policy(invoice, policy, approved, today)
