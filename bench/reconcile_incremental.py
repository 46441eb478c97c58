"""reconcile_incremental_s: the incremental reconciliation on the generated year after 1,000 new
redemptions, beside the full run in the same run, and the two verdicts on a clean year and on
each kind of corruption (docs/reconciliation.md).

The generated year's rows are dated over the whole year (some after today), so the runs here
see the business clock at the start of the next year: every generated row is older than the
first watermark, and the 1,000 redemptions are written after it, as they would be.

Standalone, on a year bench/yeargen.py generated: python -m bench.reconcile_incremental DB YEAR
"""

import sys
from datetime import datetime, timedelta

import psycopg

from bench.util import Timer, dsn, log, sa_url

NEW = 1_000

# 1,000 redemptions as the service leaves them: a copy of the first 1,000 generated invoices
# (new ids and numbers, the same enterprise, provider, month and lines), each redeemed in full
# from its enterprise's voucher (draw, `redeem` transfer voucher → payable, both account totals
# and the voucher's balance moved), and the provider's usage statement grown by the invoice.
NEW_REDEMPTIONS_SQL = """
INSERT INTO invoice (id, invoice_key, invoice_number, invoice_code, provider_id, enterprise_id,
                     issued_on, service_start, service_end, contract_number, total_fen, tax_fen,
                     paid_fen, reversed_fen, created_at, line_amounts)
  SELECT 'inv_z' || substr(id, 6), '28' || substr(invoice_key, 3), '28' || substr(invoice_key, 3),
         NULL, provider_id, enterprise_id, issued_on, service_start, service_end,
         contract_number, total_fen, tax_fen, paid_fen, 0, %(at)s, line_amounts
  FROM invoice WHERE id LIKE 'inv_y%%' ORDER BY id LIMIT %(n)s;
INSERT INTO invoice_line (invoice_id, line_no, category, description, quantity, unit,
                          unit_price_fen, amount_fen)
  SELECT 'inv_z' || substr(l.invoice_id, 6), l.line_no, l.category, l.description, l.quantity,
         l.unit, l.unit_price_fen, l.amount_fen
  FROM invoice_line l
  WHERE l.invoice_id IN (SELECT 'inv_y' || substr(id, 6) FROM invoice WHERE id LIKE 'inv_z%%');
INSERT INTO redemption (id, invoice_id, enterprise_id, provider_id, year, subsidy_fen,
                        clawed_back_fen, beneficiary_type, beneficiary_id, status, settlement_id,
                        created_at, invoice_paid_fen, invoice_reversed_fen)
  SELECT 'rdm_z' || substr(i.id, 6), i.id, i.enterprise_id, i.provider_id, %(y)s,
         l.amount_fen * 3 / 10, 0, 'enterprise', i.enterprise_id, 'payable', NULL, %(at)s,
         i.paid_fen, 0
  FROM invoice i JOIN invoice_line l ON l.invoice_id = i.id AND l.line_no = 1
  WHERE i.id LIKE 'inv_z%%';
INSERT INTO redemption_draw (redemption_id, voucher_id, draw_no, amount_fen, restored_fen)
  SELECT id, 'vch_y' || substr(enterprise_id, 6), 1, subsidy_fen, 0
  FROM redemption WHERE id LIKE 'rdm_z%%';
INSERT INTO ledger_transfer (id, year, debit_account_id, credit_account_id, amount_fen, kind,
                             reference, created_at)
  SELECT 'trf_zr' || substr(id, 6), %(y)s, 'acc_yv' || substr(enterprise_id, 6),
         'acc_yp' || substr(enterprise_id, 6), subsidy_fen, 'redeem', id, created_at
  FROM redemption WHERE id LIKE 'rdm_z%%';
UPDATE voucher v SET balance_fen = v.balance_fen - r.amount
  FROM (SELECT enterprise_id, sum(subsidy_fen) AS amount FROM redemption
        WHERE id LIKE 'rdm_z%%' GROUP BY 1) r
  WHERE v.id = 'vch_y' || substr(r.enterprise_id, 6);
UPDATE ledger_account a SET debits_posted_fen = a.debits_posted_fen + r.amount
  FROM (SELECT enterprise_id, sum(subsidy_fen) AS amount FROM redemption
        WHERE id LIKE 'rdm_z%%' GROUP BY 1) r
  WHERE a.id = 'acc_yv' || substr(r.enterprise_id, 6);
UPDATE ledger_account a SET credits_posted_fen = a.credits_posted_fen + r.amount
  FROM (SELECT enterprise_id, sum(subsidy_fen) AS amount FROM redemption
        WHERE id LIKE 'rdm_z%%' GROUP BY 1) r
  WHERE a.id = 'acc_yp' || substr(r.enterprise_id, 6);
UPDATE usage_statement s SET billed_fen = s.billed_fen + i.amount
  FROM (SELECT provider_id, enterprise_id, to_char(issued_on, 'YYYY-MM') AS month,
               sum(total_fen) AS amount FROM invoice WHERE id LIKE 'inv_z%%' GROUP BY 1, 2, 3) i
  WHERE (s.provider_id, s.enterprise_id, s.month) = (i.provider_id, i.enterprise_id, i.month);
"""

# Each kind of old row corrupted directly in SQL after the clean run, and how it is put back.
CORRUPTIONS = {
    "voucher_balance": ("UPDATE voucher SET balance_fen = balance_fen - 1 WHERE id = 'vch_y00000007'",
                        "UPDATE voucher SET balance_fen = balance_fen + 1 WHERE id = 'vch_y00000007'"),
    "account_total": ("UPDATE ledger_account SET credits_posted_fen = credits_posted_fen + 3 "
                      "WHERE id = 'acc_yp00000007'",
                      "UPDATE ledger_account SET credits_posted_fen = credits_posted_fen - 3 "
                      "WHERE id = 'acc_yp00000007'"),
    "old_transfer": ("UPDATE ledger_transfer SET amount_fen = amount_fen + 7 "
                     "WHERE id = 'trf_yr' || (SELECT substr(min(id), 6) FROM redemption "
                     "WHERE id LIKE 'rdm_y%%')",
                     "UPDATE ledger_transfer SET amount_fen = amount_fen - 7 "
                     "WHERE id = 'trf_yr' || (SELECT substr(min(id), 6) FROM redemption "
                     "WHERE id LIKE 'rdm_y%%')"),
}


def _sql(db: str, statements: str, bypass: bool = False, **params) -> None:
    """The statements in one transaction; with `bypass`, the triggers off (the append-only
    guard, so an old transfer can be edited, as a tamperer with the database's role could)."""
    with psycopg.connect(dsn(db)) as conn:
        if bypass:
            conn.execute("SET session_replication_role = replica")
        for statement in filter(str.strip, statements.split(";\n")):
            conn.execute(statement, params)


def _written_before(db: str) -> bool:
    with psycopg.connect(dsn(db)) as conn:
        return conn.execute("SELECT count(*) FROM redemption WHERE id LIKE 'rdm_z%'"
                            ).fetchone()[0] > 0


def part(db: str, year: int, record, meta: dict, corruptions: bool = True) -> None:
    from sqlmodel import Session

    from service.kit import clock
    from service.kit.db import make_engine, snapshot
    from service.reporting import incremental

    engine = make_engine(sa_url(db))
    start = datetime(year + 1, 1, 1, tzinfo=clock.SHANGHAI)
    real_now = clock.now
    clock.now = lambda: start + (datetime.now(clock.SHANGHAI) - begun)
    begun = datetime.now(clock.SHANGHAI)

    def run(full: bool, keep: bool = True) -> tuple[dict, float]:
        with Session(snapshot(engine)) as session:
            with Timer() as t:
                result = incremental.reconcile(session, year, full=full,
                                               record_on=engine if keep else None)
        return result, t.seconds

    def verdict(result: dict) -> tuple:
        return result["ok"], sorted(c["name"] for c in result["checks"] if not c["ok"])

    try:
        first, first_s = run(full=True)
        log(f"full reconcile recording the first watermark: {first_s:.1f}s, ok={first['ok']}")
        if _written_before(db):  # a standalone rerun: they are still newer than the watermark
            log(f"the {NEW} new redemptions of an earlier run are there: reused")
        else:
            with Timer() as t:
                _sql(db, NEW_REDEMPTIONS_SQL, y=year, n=NEW,
                     at=clock.now() + timedelta(seconds=1))
            log(f"{NEW} new redemptions written in {t.seconds:.1f}s")
        inc, inc_s = run(full=False)
        full, full_s = run(full=True, keep=False)
        same = verdict(inc) == verdict(full)
        log(f"after {NEW} new redemptions: incremental {inc_s:.2f}s ({inc['kind']}, "
            f"ok={inc['ok']}), full {full_s:.1f}s (ok={full['ok']}); verdicts equal: {same}")
        results = {"clean": {"incremental": verdict(inc), "full": verdict(full),
                             "kind": inc["kind"]}}
        if corruptions:
            for name, (corrupt, restore) in CORRUPTIONS.items():
                _sql(db, corrupt, bypass=True)
                try:
                    bad_inc, bad_s = run(full=False)
                    bad_full, _ = run(full=True, keep=False)
                finally:
                    _sql(db, restore, bypass=True)
                results[name] = {"incremental": verdict(bad_inc), "full": verdict(bad_full),
                                 "kind": bad_inc["kind"], "seconds": round(bad_s, 2)}
                log(f"corrupt {name}: incremental ({bad_inc['kind']}, {bad_s:.1f}s) "
                    f"{verdict(bad_inc)}, full {verdict(bad_full)}")
        equal = all(r["incremental"] == r["full"] for r in results.values())
        meta["reconcile_incremental"] = {"verdicts": results, "first_full_s": round(first_s, 1),
                                         "new_redemptions": NEW}
        record(reconcile_incremental_s=inc_s, reconcile_full_s=full_s,
               reconcile_incremental_equal=equal)
    finally:
        clock.now = real_now
        engine.dispose()


if __name__ == "__main__":
    figures: dict = {}
    meta_: dict = {}
    part(sys.argv[1], int(sys.argv[2]), lambda **kw: figures.update(kw), meta_)
    print(figures)
    print(meta_)
