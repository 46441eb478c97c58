"""The replay's load on PostgreSQL, fast (docs/what-if.md, "Speed"): the same YearData as the
generic load in replay.py, without a window over text keys.

- One row per claimed invoice, from index-ordered merge joins (no sort, no hash of a million
  text keys): the invoice, its lines as one text (folded into a shape: the amount per category,
  all subsidy.weighted_amount reads), the sum of its payments, and whether it is "late": a
  payment at or after its first redemption of the year, or a reversal. An invoice that is not
  late has all its payments before every claim on it, so each claim sees their sum.
- One time-ordered stream of the year's redemptions, the reversals of claimed invoices, every
  payment of the late invoices (none in most years) and the voucher events (ORDER BY
  timestamp, id body, kind: the generic order). Python keeps each invoice's running paid and
  reversed amounts in arrays while it walks the stream — what the generic load's window
  computes — mapping text invoice ids to their index once.

tests/test_whatif_load.py checks both loads give the same arrays and answers.
"""

from __future__ import annotations

import queue
import threading
from array import array
from contextlib import closing
from datetime import date
from typing import Any

from service.invoices import subsidy
from service.years.models import CATEGORIES

_CATEGORY = {c: k for k, c in enumerate(CATEGORIES)}
PAYMENT = 9  # a late payment in the stream (not a replay event: it moves the running sum)

_ORD = "- DATE '0001-01-01' + 1"  # a date as date.toordinal()
_FIRST = ("SELECT invoice_id, MIN(created_at) AS first_t FROM redemption WHERE year = %(y)s "
          "GROUP BY invoice_id")

INVOICES = f"""
SELECT i.id, i.enterprise_id, i.provider_id, i.issued_on {_ORD}, i.service_start {_ORD},
       i.service_end {_ORD}, i.total_fen, l.shape, COALESCE(p.paid, 0),
       p.last_t >= r.first_t OR i.reversed_fen > 0
FROM invoice i
JOIN ({_FIRST}) r ON r.invoice_id = i.id
LEFT JOIN (SELECT invoice_id, string_agg(category || ' ' || amount_fen, ' ') AS shape
           FROM invoice_line GROUP BY invoice_id) l ON l.invoice_id = i.id
LEFT JOIN (SELECT invoice_id, CAST(SUM(amount_fen) AS BIGINT) AS paid, MAX(created_at) AS last_t
           FROM invoice_payment GROUP BY invoice_id) p ON p.invoice_id = i.id
ORDER BY i.id
"""
# Merge joins over the indexes in id order, streamed: a hash of a million text ids or a sort
# would cost more than the whole read.
_MERGE = ("SET LOCAL enable_hashagg = off", "SET LOCAL enable_hashjoin = off",
          "SET LOCAL enable_sort = off")
_UNMERGE = ("RESET enable_hashagg", "RESET enable_hashjoin", "RESET enable_sort")

# Every payment of the invoices paid (or reversed) after their first redemption, as events.
_LATE = f"""
  UNION ALL
  SELECT {PAYMENT}, p.created_at, substr(p.id, 5), 2, p.invoice_id, 0, p.amount_fen
    FROM invoice_payment p WHERE p.invoice_id = ANY(%(late)s)"""

EVENTS = """
WITH vch AS (SELECT id, created_at, revoked_at, ledger_account_id,
                    ROW_NUMBER() OVER (ORDER BY id) - 1 AS n FROM voucher WHERE year = %(y)s)
SELECT kind, inv, vn, a, CAST((t AT TIME ZONE 'Asia/Shanghai') AS DATE) {ord}{extra} FROM (
  SELECT 4 AS kind, d.created_at AS t, substr(d.id, 5) AS b, 4 AS k, d.invoice_id AS inv,
         0 AS vn, d.subsidy_fen - d.clawed_back_fen AS a
    FROM redemption d WHERE d.year = %(y)s
  UNION ALL
  SELECT 3, r.created_at, substr(r.id, 5), 3, r.invoice_id, 0, r.amount_fen
    FROM invoice_reversal r WHERE EXISTS (SELECT 1 FROM redemption x
                                          WHERE x.invoice_id = r.invoice_id AND x.year = %(y)s)
  {late}
  UNION ALL
  SELECT 0, vch.created_at, substr(vch.id, 5), 0, NULL, vch.n, 0 FROM vch
  UNION ALL
  SELECT 1, vch.revoked_at,
         COALESCE((SELECT MIN(substr(a.id, 5)) FROM audit_event a WHERE a.object_id = vch.id
                   AND a.action = 'voucher.revoke'), '~'), 1, NULL, vch.n, 0
    FROM vch WHERE vch.revoked_at IS NOT NULL
  UNION ALL
  SELECT 2, tr.created_at, substr(tr.id, 5), 2, NULL, vch.n, tr.amount_fen
    FROM ledger_transfer tr JOIN vch ON vch.ledger_account_id = tr.debit_account_id
    WHERE tr.kind = 'reclaim' AND tr.year = %(y)s
  UNION ALL
  SELECT 6, rv.decided_at, substr(rv.redemption_id, 5), 6, d.invoice_id, 0, 0
    FROM review rv JOIN redemption d ON d.id = rv.redemption_id
    WHERE rv.status = 'rejected' AND d.year = %(y)s) e
ORDER BY t, b, k
"""


class _Index(dict):
    """A value's index, given in order of first sight (map(index.__getitem__, ...))."""

    def __missing__(self, key: Any) -> int:
        value = self[key] = len(self)
        return value


class _Shapes(dict):
    """The lines' text ("gpu 100000 storage 5000 …", in any order) → the shape's index: the
    amount per category, summed (all subsidy.weighted_amount reads)."""

    def __init__(self, shapes: _Index):
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


def batches(raw: Any, sql: str, params: dict, name: str, size: int = 20_000) -> Any:
    """Row batches of a server-side cursor, fetched by a helper thread one batch ahead, so that
    the server computes the next batch while Python works on this one (psycopg releases the
    GIL while it waits)."""
    cursor = raw.cursor(name=name)
    cursor.execute(sql, params)
    ready: queue.Queue = queue.Queue(maxsize=2)
    failure: list = []
    stop = threading.Event()

    def fetch() -> None:
        try:
            while not stop.is_set():
                rows = cursor.fetchmany(size)
                ready.put(rows)
                if not rows:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised in the reader below
            failure.append(exc)
        ready.put([])

    worker = threading.Thread(target=fetch, name=name, daemon=True)
    worker.start()
    try:
        while True:
            rows = ready.get()
            if not rows:
                break
            yield rows
    finally:
        stop.set()
        while worker.is_alive():  # drain, so that it can finish before the cursor closes
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
        cursor.close()
    if failure:
        raise failure[0]


def claimed_invoices(raw: Any, data: Any, params: dict, ents: dict, provs: dict,
                     shapes: dict) -> tuple[dict, array, list]:
    """Fill data's invoice arrays with the year's claimed invoices (in id order). Returns their
    index by id, the paid amount each starts the stream with (all of its payments, made before
    its first redemption; 0 for a late one) and the ids of the late ones."""
    for statement in _MERGE:
        raw.execute(statement)
    index: dict[str, int] = {}
    paid = array("q")
    late: list[str] = []
    ents_i, provs_i, shapes_i = _Index(ents), _Index(provs), _Index(shapes)
    by_text = _Shapes(shapes_i)
    periods = _Periods(data.year)
    source = batches(raw, INVOICES, params, "whatif_invoices")
    try:
        for rows in source:
            cols = list(zip(*rows))
            index.update(zip(cols[0], range(len(index), len(index) + len(rows))))
            data.inv_ent.extend(map(ents_i.__getitem__, cols[1]))
            data.inv_prov.extend(map(provs_i.__getitem__, cols[2]))
            data.inv_issued.extend(cols[3])
            spans = list(map(periods.__getitem__, zip(cols[4], cols[5])))
            data.inv_overlap.extend([span[0] for span in spans])
            data.inv_days.extend([span[1] for span in spans])
            data.inv_total.extend(cols[6])
            data.inv_shape.extend(map(by_text.__getitem__, cols[7]))
            if any(cols[9]):
                late.extend(row[0] for row in rows if row[9])
                paid.extend(0 if row[9] else row[8] for row in rows)
            else:
                paid.extend(cols[8])
    finally:
        source.close()  # the fetching thread done before the connection is used again
        for statement in _UNMERGE:
            raw.execute(statement)
    ents.update(ents_i)
    provs.update(provs_i)
    shapes.update(shapes_i)
    return index, paid, late


def events(raw: Any, data: Any, params: dict, index: dict, paid: array, late: list,
           singles: dict, extra: list, paid_now: dict, merge_unclaimed: Any,
           rejected: dict) -> None:
    """Walk the year's time-ordered stream into data's event arrays, with each reversal's and
    redemption's running paid and reversed amounts. Runs of redemptions (most of the stream)
    go in whole: between two other events no invoice's paid or reversed amount moves."""
    from service.whatif.replay import REDEMPTION, REJECT, REVERSAL

    rvd = array("q", bytes(8 * len(paid)))
    kinds, refs, days, paids, revs, actual = data.ev_kind, data.ev_ref, data.ev_day, \
        data.ev_paid, data.ev_rev, data.actual
    single_draw, reversed_invoices = data.single_draw, data.reversed_invoices
    pending, x = len(extra), 0
    t_at = 5 if pending else None  # the timestamp, to merge the unclaimed demand by
    # the id body, to find a named voucher or a rejected redemption
    b_at = 5 + bool(pending) if singles or rejected else None
    sql = EVENTS.format(ord=_ORD, late=_LATE if late else "",
                        extra=(", t" if pending else "") + (", b" if b_at else ""))
    at = index.__getitem__

    def redemptions(rows: list) -> None:
        if not rows:
            return
        cols = list(zip(*rows))
        if b_at is not None:
            for i, b in enumerate(cols[b_at], start=len(kinds)):
                if b in singles:
                    single_draw[i] = singles[b]
                if b in rejected:
                    rejected[b] = i
                    data.rejected.add(i)
        ns = list(map(at, cols[1]))
        kinds.frombytes(bytes([REDEMPTION]) * len(rows))
        refs.extend(ns)
        days.extend(cols[4])
        paids.extend(map(paid.__getitem__, ns))
        revs.extend(map(rvd.__getitem__, ns))
        actual.extend(cols[3])

    def walk(source: Any) -> None:
        nonlocal x
        for rows in source:
            if x < pending or any(row[0] != REDEMPTION for row in rows):
                run = []
                for row in rows:
                    kind = row[0]
                    if x < pending and extra[x][0] <= row[t_at]:
                        redemptions(run)
                        run = []
                        while x < pending and extra[x][0] <= row[t_at]:
                            merge_unclaimed(data, extra[x], paid_now)
                            x += 1
                    if kind == REDEMPTION:
                        run.append(row)
                        continue
                    redemptions(run)
                    run = []
                    if kind == PAYMENT:
                        paid[at(row[1])] += row[3]
                        continue
                    if kind == REVERSAL:
                        n = at(row[1])
                        rvd[n] += row[3]
                        reversed_invoices.add(n)
                        ref, amount, reversed_fen = n, paid[n], rvd[n]
                    elif kind == REJECT:
                        data.reject_of[len(kinds)] = rejected[row[b_at]]
                        ref, amount, reversed_fen = at(row[1]), 0, 0
                    else:  # voucher issued, revoked, reclaimed from (its amount in `paid`)
                        ref, amount, reversed_fen = row[2], row[3], 0
                    kinds.append(kind)
                    refs.append(ref)
                    days.append(row[4])
                    paids.append(amount)
                    revs.append(reversed_fen)
                redemptions(run)
            else:
                redemptions(rows)

    with closing(batches(raw, sql, dict(params, late=late), "whatif_events")) as source:
        walk(source)
    while x < pending:
        merge_unclaimed(data, extra[x], paid_now)
        x += 1
