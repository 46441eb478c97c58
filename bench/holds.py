"""The holds part of the benchmark (docs/holds.md, issue 26): `hold_capture_ratio` = hold +
capture pairs per second ÷ pgbench TPC-B tps of the same run, printed beside `redeem_ratio`.

A deduction-mode world of its own (bench/world.py): CLIENTS client threads, each on its own
enterprises (so no two clients share vouchers), place a hold at the quote and capture it with
one of the enterprise's paid invoices, round and round, for the run's duration."""

import itertools
import json
import threading
import time
import uuid
from datetime import date

import psycopg

from bench import load, world
from bench.util import create_database, dsn, log, sa_url, serving


def part_holds(db: str, workers: int, *, clients: int, duration: int, tps: float, record,
               meta: dict) -> None:
    from service.kit.db import make_engine, migrate

    create_database(db)
    migrate(sa_url(db))
    engine = make_engine(sa_url(db))
    year = date.today().year
    w = world.build(engine, year=year, enterprises=clients * 2, invoices_per_enterprise=40,
                    settlement_mode="deduction")
    engine.dispose()
    with psycopg.connect(dsn(db)) as conn:
        codes = dict(conn.execute("SELECT id, code FROM voucher").fetchall())
    provider_of = {e.id: w.providers[i % len(w.providers)] for i, e in enumerate(w.enterprises)}
    pairs, refused, lock = [0], [], threading.Lock()
    stop_at = [float("inf")]
    barrier = threading.Barrier(clients + 1)

    def client(mine: list) -> None:
        conn = load._connect(url)
        work = itertools.cycle([(e, inv) for e in mine for inv in e.invoices])
        barrier.wait()
        done = 0
        while time.perf_counter() < stop_at[0]:
            e, invoice_id = next(work)
            key = provider_of[e.id].key
            hold = _post(conn, key, "/v1/holds", {
                "voucher_code": codes[e.vouchers[0]], "enterprise_uscc": e.uscc, "year": year,
                "service_start": f"{year}-01-01", "service_end": f"{year}-12-31",
                "lines": [{"category": "gpu", "amount_fen": 100_000}]}, refused)
            got = hold and _post(conn, key, f"/v1/holds/{hold['id']}/capture",
                                 {"invoice_id": invoice_id}, refused)
            if got:
                done += 1
        with lock:
            pairs[0] += done

    with serving(db, workers, "holds") as server:
        url = server.url
        threads = [threading.Thread(target=client, args=(w.enterprises[c::clients],))
                   for c in range(clients)]
        for t in threads:
            t.start()
        barrier.wait()
        started = time.perf_counter()
        stop_at[0] = started + duration
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    rate = pairs[0] / elapsed
    meta["holds_run"] = {"pairs": pairs[0], "seconds": round(elapsed, 2),
                         "refused": refused[:5], "workers": workers}
    log(f"holds: {rate:.1f} hold+capture pairs/s ({pairs[0]} in {elapsed:.1f}s), "
        f"refused {len(refused)}")
    record(hold_capture_pairs_per_s=rate, hold_capture_ratio=rate / tps)


def _post(conn, key: str, path: str, body: dict, refused: list | None = None) -> dict | None:
    conn.request("POST", path, body=json.dumps(body).encode(), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json",
        "Idempotency-Key": uuid.uuid4().hex})
    response = conn.getresponse()
    payload = response.read()
    if response.status != 201:
        if refused is not None:
            refused.append((response.status, payload[:200].decode(errors="replace")))
        return None
    return json.loads(payload)
