"""The replay's load on PostgreSQL, fast (docs/what-if.md, "Speed"): the same YearData as the
generic load in replay.py, from what the write path recorded where it decided (migration 0011),
without a window or an aggregate over text keys.

- One row per claimed invoice, in id order (a merge semi-join over two indexes: no sort, no
  hash of a million text ids): its parties, dates, total and `line_amounts`, its lines summed
  per category (folded into a shape: all subsidy.weighted_amount reads).
- One time-ordered stream of the year's redemptions, the reversals of claimed invoices and the
  voucher events (ORDER BY timestamp, id body, kind: the generic order). Each redemption and
  reversal carries the invoice's paid and reversed amounts as it found or left them
  (`invoice_paid_fen`, `invoice_reversed_fen`), which the generic load computes by a window
  over the payments and reversals.

A row written before those columns existed and not filled (they are NULL only for a row
inserted outside the write path and migration 0011) makes the load raise `Unrecorded`; the
caller then takes the generic load. tests/whatif/test_load.py checks both loads give the same
arrays and answers.
"""

from __future__ import annotations

import queue
import threading
from array import array
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg

from service.invoices import subsidy
from service.whatif.yeardata import (
    REDEMPTION,
    REJECT,
    REVERSAL,
    Index,
    invoice_classes,
    key_list,
)
from service.years.models import CATEGORIES

_CATEGORY = {c: k for k, c in enumerate(CATEGORIES)}

# Every rejected redemption and when it was rejected: by a reviewer (docs/risk.md), or by an
# upheld objection to its 公示 line (docs/notice.md: the invoice is barred, the redemption
# rejected as a reviewer would). Both loaders replay these as rejection events.
REJECTIONS = """
SELECT rv.redemption_id AS rid, rv.decided_at AS t FROM review rv WHERE rv.status = 'rejected'
UNION ALL
SELECT d.id AS rid, o.resolved_at AS t FROM barred_invoice bi
  JOIN objection o ON o.id = bi.objection_id
  JOIN redemption d ON d.invoice_id = bi.invoice_id AND d.status = 'rejected'
  WHERE NOT EXISTS (SELECT 1 FROM review rv WHERE rv.redemption_id = d.id
                    AND rv.status = 'rejected')
"""

_ORD = "- DATE '0001-01-01' + 1"  # a date as date.toordinal()

INVOICES = f"""
SELECT i.enterprise_id, i.provider_id, i.issued_on {_ORD}, i.service_start {_ORD},
       i.service_end {_ORD}, i.total_fen, i.line_amounts
FROM invoice i
WHERE EXISTS (SELECT 1 FROM redemption r WHERE r.invoice_id = i.id AND r.year = %(y)s)
ORDER BY i.id
"""
# A merge semi-join over the indexes in id order, streamed: a hash of a million text ids or a
# sort would cost more than the whole read.
_MERGE = ("SET LOCAL enable_hashagg = off", "SET LOCAL enable_hashjoin = off",
          "SET LOCAL enable_sort = off")
_UNMERGE = ("RESET enable_hashagg", "RESET enable_hashjoin", "RESET enable_sort")

# The stream names each invoice by its position among the claimed invoices in id order (the
# invoice stream's order): the redemptions ranked over their invoice-id index (no sort, and no
# million text ids for Python to map).
EVENTS = """
WITH vch AS (SELECT id, created_at, revoked_at, ledger_account_id,
                    ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM voucher WHERE year = %(y)s),
rd AS (SELECT d.id, d.created_at, d.invoice_id, d.subsidy_fen - d.clawed_back_fen AS a,
              d.invoice_paid_fen AS paid, d.invoice_reversed_fen AS rvd,
              DENSE_RANK() OVER w - 1 AS n,
              d.invoice_id IS DISTINCT FROM LAG(d.invoice_id) OVER w AS first
       FROM redemption d WHERE d.year = %(y)s WINDOW w AS (ORDER BY d.invoice_id))
SELECT kind, inv, vn, a, CAST((t AT TIME ZONE 'Asia/Shanghai') AS DATE) {ord}, paid,
       rvd{extra} FROM (
  SELECT 4 AS kind, rd.created_at AS t, substr(rd.id, 5) AS b, 4 AS k, rd.n AS inv, 0 AS vn,
         rd.a AS a, rd.paid AS paid, rd.rvd AS rvd
    FROM rd
  UNION ALL
  SELECT 3, r.created_at, substr(r.id, 5), 3, rd.n, 0, r.amount_fen, r.invoice_paid_fen,
         r.invoice_reversed_fen
    FROM invoice_reversal r JOIN rd ON rd.invoice_id = r.invoice_id AND rd.first
  UNION ALL
  SELECT 0, vch.created_at, substr(vch.id, 5), 0, NULL, vch.n, 0, 0, 0 FROM vch
  UNION ALL
  SELECT 1, vch.revoked_at,
         COALESCE((SELECT MIN(substr(a.id, 5)) FROM audit_event a WHERE a.object_id = vch.id
                   AND a.action = 'voucher.revoke'), '~'), 1, NULL, vch.n, 0, 0, 0
    FROM vch WHERE vch.revoked_at IS NOT NULL
  UNION ALL
  SELECT 2, tr.created_at, substr(tr.id, 5), 2, NULL, vch.n, tr.amount_fen, 0, 0
    FROM ledger_transfer tr JOIN vch ON vch.ledger_account_id = tr.debit_account_id
    WHERE tr.kind = 'reclaim' AND tr.year = %(y)s
  UNION ALL
  SELECT 6, x.t, substr(x.rid, 5), 6, rd.n, 0, 0, 0, 0
    FROM ({REJECTIONS}) x JOIN rd ON rd.id = x.rid) e
ORDER BY t, b, k
"""


class Unrecorded(Exception):
    """A claimed invoice, redemption or reversal without the amounts the write path records
    (migration 0011): the generic load must be taken."""


class _Shapes(dict):
    """The lines' text ("gpu 100000 storage 5000 …", in any order) → the shape's index: the
    amount per category, summed (all subsidy.weighted_amount reads)."""

    def __init__(self, shapes: Index):
        super().__init__()
        self.shapes = shapes

    def __missing__(self, key: str | None) -> int:
        amounts = [0] * len(CATEGORIES)
        words = (key or "").split()
        for category, amount in zip(words[::2], words[1::2]):
            amounts[_CATEGORY[category]] += int(amount)
        value = self[key] = self.shapes[tuple(amounts)]
        return value


class _Periods(dict):
    """A service period (first and last day as ordinals) → (days in the year, days in all), by
    the live functions, once per distinct period."""

    def __init__(self, year: int):
        super().__init__()
        self.year = year

    def __missing__(self, key: tuple[int, int]) -> tuple[int, int]:
        start, end = date.fromordinal(key[0]), date.fromordinal(key[1])
        value = self[key] = (subsidy.overlap_days(start, end, self.year),
                             subsidy.service_days(start, end))
        return value


class Prefetch:
    """Row batches of a server-side cursor, read by a helper thread from the moment it is made
    and one batch ahead after that, so that the server computes (or sorts) while Python works
    on something else (psycopg releases the GIL while it waits). Iterate once; close() always."""

    def __init__(self, raw: Any, sql: str, params: dict, name: str, size: int = 20_000):
        self.cursor = raw.cursor(name=name, binary=True)  # no number parsed from text
        self.ready: queue.Queue = queue.Queue(maxsize=2)
        self.failure: list = []
        self.stop = threading.Event()
        self.worker = threading.Thread(target=self._fetch, args=(sql, params, size), name=name,
                                       daemon=True)
        self.worker.start()

    def _fetch(self, sql: str, params: dict, size: int) -> None:
        try:
            self.cursor.execute(sql, params)
            while not self.stop.is_set():
                rows = self.cursor.fetchmany(size)
                self.ready.put(rows)
                if not rows:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised in the reader below
            self.failure.append(exc)
        self.ready.put([])

    def __iter__(self) -> Any:
        while True:
            rows = self.ready.get()
            if not rows:
                break
            yield rows
        if self.failure:
            raise self.failure[0]

    def close(self) -> None:
        """Stop the thread, let it finish, close the cursor (before the connection is used
        again)."""
        self.stop.set()
        while self.worker.is_alive():
            try:
                self.ready.get(timeout=0.05)
            except queue.Empty:
                pass
        self.worker.join()
        self.cursor.close()


@contextmanager
def side_connection(session: Any, raw: Any) -> Any:
    """A second connection reading the session's snapshot (pg_export_snapshot), so that the
    event stream is read and sorted by the server while the invoices are loaded; None when the
    session's transaction is not one snapshot or has written (the other would not see it)."""
    isolation, clean = raw.execute(
        "SELECT current_setting('transaction_isolation'), "
        "pg_current_xact_id_if_assigned() IS NULL").fetchone()
    if isolation not in ("repeatable read", "serializable") or not clean:
        yield None
        return
    (snapshot_id,) = raw.execute("SELECT pg_export_snapshot()").fetchone()
    pooled = session.get_bind().raw_connection()
    try:
        side = pooled.driver_connection
        try:
            side.rollback()
            if side.autocommit:  # not a transaction: it could not take the snapshot
                raise psycopg.ProgrammingError("an autocommit connection")
            side.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            side.execute(f"SET TRANSACTION SNAPSHOT '{snapshot_id}'")  # the server's own id
            for setting in SETTINGS:
                side.execute(setting)
        except psycopg.Error:  # the stream is then read on the session's connection, after
            side = None
        yield side
    finally:
        try:
            pooled.driver_connection.rollback()
        finally:
            pooled.close()


# What both connections plan the year's reads with: rows are streamed (a server-side cursor), so
# plan for all of them, not the first; sort the year in memory; no JIT (compiling these plans
# costs more than it saves).
SETTINGS = ("SET LOCAL cursor_tuple_fraction = 1", "SET LOCAL work_mem = '256MB'",
            "SET LOCAL jit = off")


def claimed_invoices(raw: Any, data: Any, params: dict, ents: dict, provs: dict,
                     shapes: dict) -> int:
    """Fill data's invoice arrays with the year's claimed invoices (in id order: the event
    stream names them by that position); returns how many."""
    for statement in _MERGE:
        raw.execute(statement)
    count = 0
    ents_i, provs_i, shapes_i = Index(ents), Index(provs), Index(shapes)
    by_text = _Shapes(shapes_i)
    periods = _Periods(data.year)
    source = Prefetch(raw, INVOICES, params, "whatif_invoices")
    try:
        for rows in source:
            cols = list(zip(*rows))
            if None in cols[6]:
                raise Unrecorded("an invoice without line_amounts")
            count += len(rows)
            data.inv_ent.extend(map(ents_i.__getitem__, cols[0]))
            data.inv_prov.extend(map(provs_i.__getitem__, cols[1]))
            data.inv_issued.extend(cols[2])
            spans = list(map(periods.__getitem__, zip(cols[3], cols[4])))
            data.inv_overlap.extend([span[0] for span in spans])
            data.inv_days.extend([span[1] for span in spans])
            data.inv_total.extend(cols[5])
            data.inv_shape.extend(map(by_text.__getitem__, cols[6]))
    finally:
        source.close()  # the fetching thread done before the connection is used again
        for statement in _UNMERGE:
            raw.execute(statement)
    ents.update(ents_i)
    provs.update(provs_i)
    shapes.update(shapes_i)
    return count


def event_stream(raw: Any, params: dict, *, with_t: bool, with_b: bool) -> Prefetch:
    """The year's time-ordered stream, started (columns: kind, invoice, voucher, amount, day,
    paid, reversed, then the timestamp if with_t and the id body if with_b)."""
    extra = (", t" if with_t else "") + (", b" if with_b else "")
    sql = EVENTS.format(ord=_ORD, REJECTIONS=REJECTIONS, extra=extra)
    return Prefetch(raw, sql, params, "whatif_events")


def events(source: Prefetch, data: Any, claimed: int, singles: dict, extra: list,
           paid_now: dict, merge_unclaimed: Any, rejected: dict, *, with_t: bool,
           with_b: bool) -> None:
    """Walk the year's time-ordered stream into data's event arrays. Runs of redemptions (most
    of the stream) go in whole, a column at a time. `extra`: the UNCLAIMED events (time,
    invoice, facts), merged in by time with merge_unclaimed(data, item, paid_now)."""
    assert with_t or not extra
    walk = _Events(data, claimed, singles, rejected, (extra, paid_now, merge_unclaimed),
                   b_at=7 + with_t if with_b else None)
    for rows in source:
        cols = list(zip(*rows))
        if walk.x < len(extra) or cols[0].count(REDEMPTION) != len(rows):
            walk.mixed(rows)
        else:
            walk.redemptions(rows, cols)
    walk.merge_until(None)
    walk.finish()


_T_AT = 7  # the stream's timestamp column, to merge the unclaimed demand by


class _Events:
    """What `events` fills as the stream goes: data's event arrays, the redemption claims
    (yeardata.redemption_claims) and, without unclaimed demand to merge, each event's key
    (yeardata.claim_keys)."""

    def __init__(self, data: Any, claimed: int, singles: dict, rejected: dict,
                 unclaimed: tuple[list, dict, Any], *, b_at: int | None):
        self.data, self.claimed, self.singles, self.rejected = data, claimed, singles, rejected
        self.extra, self.paid_now, self.merge_unclaimed = unclaimed
        self.x = 0  # the unclaimed events merged so far
        self.b_at = b_at  # the id body's column, to find a named voucher or a rejection
        self.rd_event, self.rd_invoice, self.rd_day, self.rd_ent = \
            array("l"), array("l"), array("l"), array("l")
        self.inv_class = invoice_classes(data)
        self.keyed = not self.extra
        self.key_index, self.ev_key = Index(), array("l")

    def at(self, n: int) -> int:
        """The stream's invoice position, checked against the invoices read."""
        if not 0 <= n < self.claimed:
            raise AssertionError(f"event names invoice {n} of {self.claimed}")
        return n

    def merge_until(self, t: Any) -> None:
        """The unclaimed events up to time t (all of them when None)."""
        extra, x = self.extra, self.x
        while x < len(extra) and (t is None or extra[x][0] <= t):
            self.merge_unclaimed(self.data, extra[x], self.paid_now)
            x += 1
        self.x = x

    def mixed(self, rows: list) -> None:
        """A batch with other events, or with unclaimed demand to merge: row by row, the runs
        of redemptions between them in whole."""
        extra, run = self.extra, []
        for row in rows:
            if self.x < len(extra) and extra[self.x][0] <= row[_T_AT]:
                self.redemptions(run)
                run = []
                self.merge_until(row[_T_AT])
            if row[0] == REDEMPTION:
                run.append(row)
                continue
            self.redemptions(run)
            run = []
            self.other(row)
        self.redemptions(run)

    def other(self, row: tuple) -> None:
        """A reversal, rejection, or voucher issued, revoked or reclaimed from (its amount in
        `paid`)."""
        data, kind = self.data, row[0]
        if kind == REVERSAL:
            if row[5] is None or row[6] is None:
                raise Unrecorded("a reversal without the invoice's amounts")
            ref, amount, reversed_fen = self.at(row[1]), row[5], row[6]
            data.reversed_invoices.add(ref)
        elif kind == REJECT:
            data.reject_of[len(data.ev_kind)] = self.rejected[row[self.b_at]]
            ref, amount, reversed_fen = self.at(row[1]), 0, 0
        else:
            ref, amount, reversed_fen = row[2], row[3], 0
        if self.keyed:
            self.ev_key.append(self.key_index[self.inv_class[ref], amount, reversed_fen]
                               if kind == REVERSAL else 0)
        data.ev_kind.append(kind)
        data.ev_ref.append(ref)
        data.ev_day.append(row[4])
        data.ev_paid.append(amount)
        data.ev_rev.append(reversed_fen)

    def redemptions(self, rows: list, cols: list | None = None) -> None:
        """A run of redemptions, a column at a time."""
        if not rows:
            return
        data, claimed = self.data, self.claimed
        cols = cols or list(zip(*rows))
        first = len(data.ev_kind)
        self.rd_event.extend(range(first, first + len(rows)))
        if None in cols[5] or None in cols[6]:
            raise Unrecorded("a redemption without the invoice's amounts")
        if self.b_at is not None:
            self.named_or_rejected(cols[self.b_at], first)
        data.ev_kind.frombytes(bytes([REDEMPTION]) * len(rows))
        if min(cols[1]) < 0 or max(cols[1]) >= claimed:
            raise AssertionError(f"a redemption names an invoice outside 0..{claimed - 1}")
        data.ev_ref.extend(cols[1])
        self.rd_invoice.extend(cols[1])
        self.rd_ent.extend(map(data.inv_ent.__getitem__, cols[1]))
        data.ev_day.extend(cols[4])
        self.rd_day.extend(cols[4])
        if self.keyed:
            self.ev_key.extend(map(self.key_index.__getitem__, zip(
                map(self.inv_class.__getitem__, cols[1]), cols[5], cols[6])))
        data.ev_paid.extend(cols[5])
        data.ev_rev.extend(cols[6])
        data.actual.extend(cols[3])

    def named_or_rejected(self, bodies: tuple, first: int) -> None:
        """The run's single-draw redemptions (event → voucher, amount) and rejected ones."""
        singles, rejected, data = self.singles, self.rejected, self.data
        for i, b in enumerate(bodies, start=first):
            if b in singles:
                data.single_draw[i] = singles[b]
            if b in rejected:
                rejected[b] = i
                data.rejected.add(i)

    def finish(self) -> None:
        data = self.data
        data.rd_event, data.rd_invoice, data.rd_day, data.rd_ent = \
            self.rd_event, self.rd_invoice, self.rd_day, self.rd_ent
        if self.keyed:
            assert len(self.ev_key) == len(data.ev_kind)
            data.ev_keys = (key_list(data, self.key_index), self.ev_key)
