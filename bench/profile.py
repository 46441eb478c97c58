"""Where a redemption's time goes: `python -m bench.profile` (not part of `make bench`).

In one process, against a throwaway database: redeem sequentially through the real app (ASGI,
httpx transport — no network), count the SQL statements each request sends with a SQLAlchemy
`before_cursor_execute` listener, time them, and profile the requests with pyinstrument when
it is installed. Writes bench/profile-redeem.html (pyinstrument) and prints the statements of one
redemption. BENCH_PROFILE_N (default 200) redemptions.
"""

import os
import sys
import time
from collections import Counter
from datetime import date

from sqlalchemy import event

from bench import world
from bench.util import create_database, drop_database, log, sa_url


def ingest(batches: int = 3) -> None:
    """Time (and, under py-spy, sample) 1000-invoice batches posted through the app."""
    import json as _json

    db = f"bench_{os.getpid()}_profile_ingest"
    create_database(db)
    try:
        from fastapi.testclient import TestClient

        from service.app import create_app
        from service.kit.db import make_engine, migrate

        migrate(sa_url(db))
        engine = make_engine(sa_url(db))
        w = world.build(engine, year=date.today().year, enterprises=20, invoices_per_enterprise=1)
        client = TestClient(create_app(engine))
        prov = w.providers[0]
        n = 5_000_000
        for b in range(batches):
            items = [world.invoice_payload(w.enterprises[k % 20].uscc, w.year, n + k, prefix="24")
                     for k in range(1000)]
            n += 1000
            body = _json.dumps({"invoices": items})
            t0 = time.perf_counter()
            r = client.post("/v1/invoices/batch", content=body,
                            headers={"Authorization": f"Bearer {prov.key}",
                                     "Content-Type": "application/json"})
            log(f"batch {b}: {r.status_code} in {time.perf_counter() - t0:.2f}s, "
                f"response {len(r.content)} bytes")
        engine.dispose()
    finally:
        drop_database(db)


def main() -> int:
    if sys.argv[1:2] == ["ingest"]:
        ingest()
        return 0
    n = int(os.environ.get("BENCH_PROFILE_N", 200))
    db = f"bench_{os.getpid()}_profile"
    create_database(db)
    try:
        from fastapi.testclient import TestClient

        from service.app import create_app
        from service.kit.db import make_engine, migrate

        migrate(sa_url(db))
        engine = make_engine(sa_url(db))
        w = world.build(engine, year=date.today().year, enterprises=20,
                        invoices_per_enterprise=max(5, n // 20 + 2))
        stmts: list[tuple[str, float]] = []
        started: dict[int, float] = {}

        @event.listens_for(engine, "before_cursor_execute")
        def before(conn, cursor, statement, params, context, executemany):
            started[id(cursor)] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn, cursor, statement, params, context, executemany):
            stmts.append((statement, time.perf_counter() - started.pop(id(cursor), 0)))

        app = create_app(engine)
        client = TestClient(app)
        per_request = []
        wall = []
        sample = None
        jobs = [(e.key, inv) for i in range(n // len(w.enterprises) + 1) for e in w.enterprises
                for inv in e.invoices[i:i + 1]][:n]
        # warm up
        for key, inv in jobs[:10]:
            client.post("/v1/redemptions", json={"invoice_id": inv},
                        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": inv})
        jobs = jobs[10:]
        profiler = None
        try:
            if os.environ.get("BENCH_PYINSTRUMENT", "1") != "0":
                from pyinstrument import Profiler
                profiler = Profiler(interval=0.0005, async_mode="disabled")
        except ImportError:
            pass
        if profiler:
            profiler.start()
        cpu0 = time.process_time()
        for key, inv in jobs:
            stmts.clear()
            t0 = time.perf_counter()
            r = client.post("/v1/redemptions", json={"invoice_id": inv},
                            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": inv})
            wall.append(time.perf_counter() - t0)
            assert r.status_code == 201, r.text
            per_request.append((len(stmts), sum(s for _, s in stmts)))
            if sample is None:
                sample = list(stmts)
        cpu_ms = (time.process_time() - cpu0) / len(jobs) * 1000
        if profiler:
            profiler.stop()
            out = os.path.join(os.path.dirname(__file__), "profile-redeem.html")
            with open(out, "w") as f:
                f.write(profiler.output_html())
            print(profiler.output_text(unicode=True, color=False, show_all=False)[:12000])
        counts = Counter(c for c, _ in per_request)
        mean_wall = sum(wall) / len(wall) * 1000
        mean_sql = sum(s for _, s in per_request) / len(per_request) * 1000
        log(f"{len(jobs)} sequential redemptions in-process: {mean_wall:.2f} ms each, of which "
            f"{mean_sql:.2f} ms waiting on SQL, {cpu_ms:.2f} ms CPU in this process (client "
            f"included); statements per redemption: {dict(counts)}")
        print("\nstatements of one redemption (ms, first line):")
        for sql, secs in sample or []:
            print(f"  {secs * 1000:7.2f}  {' '.join(sql.split())[:150]}")
        engine.dispose()
    finally:
        drop_database(db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
