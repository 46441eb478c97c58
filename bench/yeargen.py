"""A consistent generated year: N invoices, N redemptions, with everything reconciliation compares.

Set-based SQL (INSERT … SELECT generate_series) writes the rows the service would have written:
enterprises, approved providers, one voucher per enterprise (with its ledger account, `issue`
transfer and enterprise_year reservation), invoices with a GPU and a storage line, paid in full,
one redemption per invoice drawing on the enterprise's voucher (a `redeem` transfer voucher →
payable), one paid settlement batch for the first half of the year (`payout` transfers payable →
paid, settlement lines, redemptions marked paid), the providers' monthly usage statements, and —
unless BENCH_AUDIT=0 — an SM3 audit chain with one event per voucher, invoice batch, payment
batch, redemption and settlement step (computed in Python with the service's own event_hash).
Account totals are then set from the transfers, exactly as posting would have left them.

Each invoice: gpu = 100,000 + (i mod 50)·1,000 fen, storage = 5,000 + (i mod 7)·100 fen, service
inside one month of the year, paid in full, so its eligible subsidy is exactly 30 % of the GPU line
(0.3 · gpu is whole), which is what is redeemed.
"""

import io
import json
from datetime import datetime, timedelta
from types import SimpleNamespace

import psycopg

from bench.util import Timer, dsn, log
from service.kit import clock
from service.audit import service as audit
from service.auth.principal import SYSTEM
from service.reporting import rollups
from service.uow import run_write
from service.years import service as years
from service.years.schemas import YearCreate

PROVIDERS = 100
BULK_TABLES = ("invoice", "invoice_line", "invoice_payment", "redemption", "redemption_draw",
               "ledger_transfer", "audit_event", "usage_statement")
FACE = 5_000_000  # per voucher; an enterprise's 100 invoices redeem ≤ 4.47M fen


def generate(engine, db: str, *, year: int, invoices: int, with_audit: bool = True) -> dict:
    n = invoices
    e_count = max(10, n // 100)
    p_count = min(PROVIDERS, e_count)
    info = {"invoices": n, "redemptions": n, "enterprises": e_count, "providers": p_count}
    pool = e_count * FACE * 2

    run_write(engine, lambda session: years.create_year(
        session, YearCreate(year=year, pool_fen=pool), by=SYSTEM),
              principal=SYSTEM, request_id="bench")

    params = {"y": year, "n": n, "e": e_count, "p": p_count, "face": FACE}
    steps = [
        ("registries", """
         INSERT INTO provider (id, uscc, name, uscc_override, created_at)
           SELECT 'prv_y' || lpad(p::text, 6, '0'), 'P' || lpad(p::text, 17, '0'),
                  '算力服务商 ' || p, false, make_date(%(y)s, 1, 1)
           FROM generate_series(1, %(p)s) p;
         INSERT INTO approved_provider (year, provider_id, created_at)
           SELECT %(y)s, id, created_at FROM provider WHERE id LIKE 'prv_y%%';
         INSERT INTO enterprise (id, uscc, name, district, credit_blocked, uscc_override,
                                 created_at)
           SELECT 'ent_y' || lpad(e::text, 8, '0'), 'E' || lpad(e::text, 17, '0'),
                  '企业 ' || e, '高新园区', false, false, make_date(%(y)s, 1, 1)
           FROM generate_series(1, %(e)s) e;"""),
        ("vouchers", """
         INSERT INTO ledger_account (id, code, year, kind, owner_type, owner_id,
                                     debits_posted_fen, credits_posted_fen,
                                     must_not_go_negative, must_not_go_positive, created_at)
           SELECT 'acc_yv' || lpad(e::text, 8, '0'),
                  %(y)s || ':voucher:voucher:vch_y' || lpad(e::text, 8, '0'), %(y)s, 'voucher',
                  'voucher', 'vch_y' || lpad(e::text, 8, '0'), 0, 0, true, false,
                  make_date(%(y)s, 1, 2)
           FROM generate_series(1, %(e)s) e
           UNION ALL
           SELECT 'acc_yp' || lpad(e::text, 8, '0'),
                  %(y)s || ':payable:enterprise:ent_y' || lpad(e::text, 8, '0'), %(y)s,
                  'payable', 'enterprise', 'ent_y' || lpad(e::text, 8, '0'), 0, 0, true, false,
                  make_date(%(y)s, 1, 2)
           FROM generate_series(1, %(e)s) e;
         INSERT INTO voucher (id, code, enterprise_id, year, face_fen, balance_fen, returned_fen,
                              status, valid_from, valid_until, ledger_account_id, created_at)
           SELECT 'vch_y' || lpad(e::text, 8, '0'),
                  'SLQ-' || %(y)s || '-Y' || lpad(e::text, 8, '0'),
                  'ent_y' || lpad(e::text, 8, '0'), %(y)s, %(face)s, %(face)s, 0, 'active',
                  make_date(%(y)s, 1, 2), make_date(%(y)s + 1, 1, 31),
                  'acc_yv' || lpad(e::text, 8, '0'), make_date(%(y)s, 1, 2)
           FROM generate_series(1, %(e)s) e;
         INSERT INTO enterprise_year (enterprise_id, year, reserved_fen)
           SELECT 'ent_y' || lpad(e::text, 8, '0'), %(y)s, %(face)s
           FROM generate_series(1, %(e)s) e;
         INSERT INTO ledger_transfer (id, year, debit_account_id, credit_account_id, amount_fen,
                                      kind, reference, created_at)
           SELECT 'trf_yi' || lpad(e::text, 8, '0'),  %(y)s,
                  (SELECT id FROM ledger_account WHERE code = %(y)s || ':pool'),
                  'acc_yv' || lpad(e::text, 8, '0'), %(face)s, 'issue',
                  'vch_y' || lpad(e::text, 8, '0'), make_date(%(y)s, 1, 2)
           FROM generate_series(1, %(e)s) e;"""),
        ("invoices", """
         INSERT INTO invoice (id, invoice_key, invoice_number, invoice_code, provider_id,
                              enterprise_id, issued_on, service_start, service_end,
                              contract_number, total_fen, tax_fen, paid_fen, reversed_fen,
                              created_at, line_amounts)
           SELECT 'inv_y' || lpad(i::text, 10, '0'), k, k, NULL,
                  'prv_y' || lpad(((e - 1) %% %(p)s + 1)::text, 6, '0'),
                  'ent_y' || lpad(e::text, 8, '0'),
                  make_date(%(y)s, m, 25), make_date(%(y)s, m, 1), make_date(%(y)s, m, 28),
                  'HT-' || e || '-' || m, g + s, (g + s) * 6 / 106, g + s, 0,
                  make_date(%(y)s, m, 25), 'gpu ' || g || ' storage ' || s
           FROM (SELECT i, '27' || lpad(i::text, 18, '0') AS k,
                        (i - 1) %% %(e)s + 1 AS e, 1 + ((i - 1) / %(e)s) %% 12 AS m,
                        100000 + (i %% 50) * 1000 AS g, 5000 + (i %% 7) * 100 AS s
                 FROM generate_series(1, %(n)s) i) t;"""),
        ("invoice lines", """
         INSERT INTO invoice_line (invoice_id, line_no, category, description, quantity, unit,
                                   unit_price_fen, amount_fen)
           SELECT 'inv_y' || lpad(i::text, 10, '0'), 1, 'gpu', 'GPU 算力服务', 720, '卡时',
                  0, 100000 + (i %% 50) * 1000
           FROM generate_series(1, %(n)s) i
           UNION ALL
           SELECT 'inv_y' || lpad(i::text, 10, '0'), 2, 'storage', '对象存储', 1, '月',
                  5000 + (i %% 7) * 100, 5000 + (i %% 7) * 100
           FROM generate_series(1, %(n)s) i;"""),
        ("payments", """
         INSERT INTO invoice_payment (id, invoice_id, amount_fen, paid_on, created_at)
           SELECT 'pay_y' || substr(id, 6), id, total_fen, issued_on + 3, issued_on + 3
           FROM invoice WHERE id LIKE 'inv_y%%';"""),
        ("redemptions", """
         INSERT INTO redemption (id, invoice_id, enterprise_id, provider_id, year, subsidy_fen,
                                 clawed_back_fen, beneficiary_type, beneficiary_id, status,
                                 settlement_id, created_at, invoice_paid_fen,
                                 invoice_reversed_fen)
           SELECT 'rdm_y' || substr(i.id, 6), i.id, i.enterprise_id, i.provider_id, %(y)s,
                  l.amount_fen * 3 / 10, 0, 'enterprise', i.enterprise_id, 'payable', NULL,
                  (i.issued_on + 4)::timestamp AT TIME ZONE 'Asia/Shanghai'
                    + ((hashtext(i.id) & 65535) * interval '1 second'), i.paid_fen, 0
           FROM invoice i JOIN invoice_line l ON l.invoice_id = i.id AND l.line_no = 1
           WHERE i.id LIKE 'inv_y%%';"""),
        ("draws", """
         INSERT INTO redemption_draw (redemption_id, voucher_id, draw_no, amount_fen, restored_fen)
           SELECT id, 'vch_y' || substr(enterprise_id, 6), 1, subsidy_fen, 0
           FROM redemption WHERE id LIKE 'rdm_y%%';"""),
        ("redeem transfers", """
         INSERT INTO ledger_transfer (id, year, debit_account_id, credit_account_id, amount_fen,
                                      kind, reference, created_at)
           SELECT 'trf_yr' || substr(id, 6), %(y)s, 'acc_yv' || substr(enterprise_id, 6),
                  'acc_yp' || substr(enterprise_id, 6), subsidy_fen, 'redeem', id, created_at
           FROM redemption WHERE id LIKE 'rdm_y%%';"""),
        ("settlement", """
         INSERT INTO settlement (id, year, status, cutoff, total_fen, bank_reference, created_at,
                                 approved_at, paid_at)
           VALUES ('stl_y0001', %(y)s, 'paid', make_date(%(y)s, 7, 1)::timestamp
                   AT TIME ZONE 'Asia/Shanghai', 0, 'BOC-BENCH-0001',
                   make_date(%(y)s, 7, 2), make_date(%(y)s, 7, 3), make_date(%(y)s, 7, 4));
         UPDATE redemption SET status = 'paid', settlement_id = 'stl_y0001'
           WHERE id LIKE 'rdm_y%%' AND created_at < make_date(%(y)s, 7, 1)::timestamp
                 AT TIME ZONE 'Asia/Shanghai';
         INSERT INTO settlement_line (settlement_id, beneficiary_type, beneficiary_id, line_id,
                                      beneficiary_name, beneficiary_uscc, redemption_count,
                                      gross_fen, clawback_fen, amount_fen, withheld)
           SELECT 'stl_y0001', 'enterprise', r.beneficiary_id,
                  'sln_y' || substr(r.beneficiary_id, 6), e.name, e.uscc, count(*),
                  sum(r.subsidy_fen), 0, sum(r.subsidy_fen), false
           FROM redemption r JOIN enterprise e ON e.id = r.beneficiary_id
           WHERE r.settlement_id = 'stl_y0001' GROUP BY r.beneficiary_id, e.name, e.uscc;
         UPDATE settlement SET total_fen = (SELECT coalesce(sum(amount_fen), 0)
           FROM settlement_line WHERE settlement_id = 'stl_y0001') WHERE id = 'stl_y0001';
         INSERT INTO ledger_transfer (id, year, debit_account_id, credit_account_id, amount_fen,
                                      kind, reference, created_at)
           SELECT 'trf_yo' || substr(beneficiary_id, 6), %(y)s,
                  'acc_yp' || substr(beneficiary_id, 6),
                  (SELECT id FROM ledger_account WHERE code = %(y)s || ':paid'),
                  amount_fen, 'payout', settlement_id, make_date(%(y)s, 7, 4)
           FROM settlement_line WHERE settlement_id = 'stl_y0001';"""),
        ("usage statements", """
         INSERT INTO usage_statement (id, provider_id, month, enterprise_id, billed_fen,
                                      created_at)
           SELECT 'use_y' || lpad((row_number() OVER ())::text, 10, '0'), provider_id,
                  to_char(issued_on, 'YYYY-MM'), enterprise_id, sum(total_fen - reversed_fen),
                  max(issued_on) + 5
           FROM invoice WHERE id LIKE 'inv_y%%'
           GROUP BY provider_id, enterprise_id, to_char(issued_on, 'YYYY-MM');"""),
        ("account totals", """
         UPDATE voucher v SET balance_fen = v.face_fen - d.drawn,
                status = CASE WHEN v.face_fen = d.drawn THEN 'exhausted' ELSE 'active' END
           FROM (SELECT voucher_id, sum(amount_fen - restored_fen) AS drawn
                 FROM redemption_draw GROUP BY voucher_id) d
           WHERE d.voucher_id = v.id AND v.id LIKE 'vch_y%%';
         WITH d AS MATERIALIZED (SELECT debit_account_id AS id, sum(amount_fen) AS total
                                 FROM ledger_transfer WHERE year = %(y)s GROUP BY 1),
              c AS MATERIALIZED (SELECT credit_account_id AS id, sum(amount_fen) AS total
                                 FROM ledger_transfer WHERE year = %(y)s GROUP BY 1),
              t AS MATERIALIZED (SELECT a.id, coalesce(d.total, 0) AS debits,
                                        coalesce(c.total, 0) AS credits
                                 FROM ledger_account a LEFT JOIN d ON d.id = a.id
                                 LEFT JOIN c ON c.id = a.id WHERE a.year = %(y)s)
         UPDATE ledger_account a SET debits_posted_fen = t.debits, credits_posted_fen = t.credits
           FROM t WHERE a.id = t.id;"""),
    ]
    timings = {}
    with psycopg.connect(dsn(db)) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("SET work_mem = '64MB'")
        # Bulk-load the way a restore does: the rows are consistent by construction, so the
        # foreign-key triggers are skipped for this session and the secondary indexes are built
        # once at the end instead of row by row (the schema itself is unchanged afterwards).
        conn.execute("SET session_replication_role = replica")
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
            "AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname)", (list(BULK_TABLES),)).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.commit()
        for name, sql in steps:
            for key, value in params.items():
                sql = sql.replace(f"%({key})s", str(value))
            with Timer() as t:
                conn.execute(sql.replace("%%", "%"))
                conn.commit()
            timings[name] = round(t.seconds, 1)
            log(f"  year generation: {name} {t.seconds:.1f}s")
        if with_audit:
            with Timer() as t:
                info["audit_events"] = _audit_chain(conn, year, n, e_count)
            timings["audit chain"] = round(t.seconds, 1)
            log(f"  year generation: audit chain ({info['audit_events']} events) {t.seconds:.1f}s")
        with Timer() as t:
            for _, definition in indexes:
                conn.execute(definition)
            conn.commit()
        timings["secondary indexes"] = round(t.seconds, 1)
        log(f"  year generation: {len(indexes)} secondary indexes rebuilt {t.seconds:.1f}s")
    with Timer() as t:  # the bulk load ran with triggers off: fill the budget's running totals
        with engine.begin() as conn:
            rollups.rebuild(conn, year)
    timings["budget rollups"] = round(t.seconds, 1)
    log(f"  year generation: budget rollups {t.seconds:.1f}s")
    with psycopg.connect(dsn(db), autocommit=True) as conn:
        with Timer() as t:
            conn.execute("VACUUM ANALYZE")
        timings["vacuum analyze"] = round(t.seconds, 1)
    info["generation_s"] = timings
    return info


def _audit_chain(conn, year: int, n: int, e_count: int) -> int:
    """One event per voucher issued, invoice batch, payment batch, redemption and settlement
    step, chained with the service's own event_hash and appended after the existing head."""
    seq, prev = conn.execute("SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1"
                             ).fetchone()
    base = datetime(year, 1, 2, 9, 0, tzinfo=clock.SHANGHAI)

    def events():
        for e in range(1, e_count + 1):
            vid = f"vch_y{e:08d}"
            yield base, "voucher.issue", "voucher", vid, {
                "code": f"SLQ-{year}-Y{e:08d}", "enterprise_id": f"ent_y{e:08d}", "year": year,
                "face_fen": FACE, "valid_until": f"{year + 1}-01-31", "application_id": None}
        for b in range(0, n, 1000):
            yield base + timedelta(days=20), "invoice.post_batch", "invoice_batch", \
                f"bat_y{b // 1000:08d}", {"count": min(1000, n - b), "total_fen": 0,
                                          "invoice_ids": [f"inv_y{i:010d}" for i in
                                                          range(b + 1, min(n, b + 1000) + 1)]}
        for i in range(1, n + 1):
            e = (i - 1) % e_count + 1
            m = 1 + ((i - 1) // e_count) % 12
            amount = (100_000 + (i % 50) * 1_000) * 3 // 10
            at = datetime(year, m, 28, 10, 0, tzinfo=clock.SHANGHAI) + timedelta(
                microseconds=i)
            yield at, "redemption.create", "redemption", f"rdm_y{i:010d}", {
                "invoice_id": f"inv_y{i:010d}", "year": year, "subsidy_fen": amount,
                "draws": [{"voucher_id": f"vch_y{e:08d}", "amount_fen": amount}],
                "beneficiary_type": "enterprise", "beneficiary_id": f"ent_y{e:08d}"}
        for action in ("settlement.create", "settlement.approve", "settlement.pay"):
            yield datetime(year, 7, 4, tzinfo=clock.SHANGHAI), action, "settlement", \
                "stl_y0001", {"year": year}

    count = 0
    buf = io.StringIO()
    cur = conn.cursor()
    cols = "(seq, id, at, actor_id, actor_name, role, action, object_type, object_id, summary, " \
           "request_id, prev_hash, hash)"

    def flush():
        buf.seek(0)
        with cur.copy(f"COPY audit_event {cols} FROM STDIN") as copy:
            while chunk := buf.read(1 << 20):
                copy.write(chunk)
        buf.seek(0)
        buf.truncate()

    for at, action, otype, oid, summary in events():
        seq += 1
        # the attributes event_hash reads (a plain namespace: no model validation per row)
        ev = SimpleNamespace(seq=seq, id=f"aud_y{seq:012d}", at=at, actor_id="key_bench",
                             actor_name="bench", role="enterprise" if action.startswith("red")
                             else "admin", action=action, object_type=otype, object_id=oid,
                             summary=summary, request_id=None, prev_hash=prev, hash="")
        ev.hash = audit.event_hash(prev, ev)
        prev = ev.hash
        js = json.dumps(summary, ensure_ascii=False).replace("\\", "\\\\")
        buf.write(f"{seq}\t{ev.id}\t{at.isoformat()}\tkey_bench\tbench\t{ev.role}\t{action}\t"
                  f"{otype}\t{oid}\t{js}\t\\N\t{ev.prev_hash}\t{ev.hash}\n")
        count += 1
        if count % 100_000 == 0:
            flush()
    flush()
    conn.execute("UPDATE audit_chain_head SET last_seq = %s, last_hash = %s WHERE id = 1",
                 (seq, prev))
    conn.commit()
    return count
