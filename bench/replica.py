"""Replica lag under the redemption load, the share of reporting reads the replica serves, and
the connections each side holds (issue 25, item 5; docs/scaling.md, "Read replicas").

    .venv/bin/python -m bench.replica        # prints one JSON document

It uses the streaming replica of scripts/replica.sh (PG_REPLICA_URL, or one it starts and stops
itself), a bench database `bench_<pid>_replica` on the primary (dropped at the end) and
`voucher serve --workers BENCH_WORKERS` with READ_DATABASE_URL set. For each READ_MAX_LAG_S in
BENCH_LAG_BOUNDS it runs BENCH_CLIENTS redemption clients for BENCH_DURATION seconds, and beside
them:

- a lag probe every 0.2 s: the primary's WAL insert position, then the time until the replica
  has replayed it (the delay before a commit is visible there), and the service's own measure
  (service/kit/replica.py: 0 when caught up, else the age of the last replayed commit);
- BENCH_READERS (1) bureau clients reading the budget in a loop: the share of answers with
  X-Data-As-Of, and their age (when read minus the header);
- the peak of connections each side holds for the bench database (pg_stat_activity).
"""

import json
import os
import subprocess
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import psycopg

from bench import load, world
from bench.run import client_queues
from bench.util import create_database, drop_database, dsn, log, median, percentile, sa_url, \
    serving

ROOT = Path(__file__).resolve().parent.parent
DURATION = int(os.environ.get("BENCH_DURATION", "20"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ENTERPRISES = int(os.environ.get("BENCH_ENTERPRISES", "64"))
BOUNDS = [float(b) for b in os.environ.get("BENCH_LAG_BOUNDS", "5,0.25").split(",")]
READERS = int(os.environ.get("BENCH_READERS", "1"))


def replica_conninfo() -> tuple[str, bool]:
    """The replica's base URL, and whether this run started it (and must stop it)."""
    url = os.environ.get("PG_REPLICA_URL", "")
    if url:
        return url, False
    out = subprocess.run([str(ROOT / "scripts/replica.sh"), "start"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return out, True


def replica_dsn(base: str, db: str) -> str:
    port = base.split("@", 1)[1].split("/", 1)[0].split(":")[1]
    return f"host=127.0.0.1 port={port} user=postgres dbname={db}"


class Sampler(threading.Thread):
    def __init__(self, fn, every_s: float):
        super().__init__(daemon=True)
        self.fn, self.every_s, self.stop, self.values = fn, every_s, threading.Event(), []

    def run(self):
        while not self.stop.is_set():
            try:
                self.values.append(self.fn())
            except Exception as exc:  # noqa: BLE001 - a failed sample is recorded, not fatal
                self.values.append(("error", repr(exc)))
            self.stop.wait(self.every_s)


def visibility_lag(primary: psycopg.Connection, replica: psycopg.Connection) -> tuple[float, float]:
    """(seconds until the replica replayed the primary's current insert position, the service's
    own lag measure at that moment)."""
    t0 = time.perf_counter()
    (target,) = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
    own = replica.execute(
        "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
        "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END").fetchone()[0]
    while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                              (str(target),)).fetchone()[0]:
        time.sleep(0.002)
    return time.perf_counter() - t0, float(own or 0)


def connections(primary: psycopg.Connection, replica: psycopg.Connection, db: str) -> tuple:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    return primary.execute(sql, (db,)).fetchone()[0], replica.execute(sql, (db,)).fetchone()[0]


def reporting_reads(url: str, admin_key: str, year: int, stop: threading.Event, out: list):
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"},
                      timeout=60) as client:
        while not stop.is_set():
            r = client.get(f"/v1/years/{year}/budget")
            as_of = r.headers.get("x-data-as-of")
            age = (datetime.now(timezone.utc) - datetime.fromisoformat(as_of)).total_seconds() \
                if as_of else None
            out.append((r.status_code, age))
            stop.wait(0.05)


def one_run(db: str, w: world.World, bound: float, cursor: dict, conns: tuple) -> dict:
    primary, replica = conns
    os.environ["READ_MAX_LAG_S"] = str(bound)
    with serving(db, WORKERS, f"replica-{bound}") as server:
        lag = Sampler(lambda: visibility_lag(primary, replica), 0.2)
        held = Sampler(lambda: connections(primary, replica, db), 0.2)
        reads: list = []
        stop = threading.Event()
        readers = [threading.Thread(target=reporting_reads,
                                    args=(server.url, w.admin_key, w.year, stop, reads))
                   for _ in range(READERS)]
        for t in (lag, held, *readers):
            t.start()
        res = load.run(server.url, client_queues(w.enterprises, CLIENTS, cursor),
                       duration_s=DURATION, warmup=2)
        stop.set()
        lag.stop.set()
        held.stop.set()
        for t in (lag, held, *readers):
            t.join()
        metrics = httpx.get(server.url + "/metrics").text
    lags = [v for v in lag.values if v[0] != "error"]
    seen = [v[0] for v in lags]
    own = [v[1] for v in lags]
    ages = [a for s, a in reads if a is not None]
    counts = [c for c in held.values if c[0] != "error"]
    return {
        "read_max_lag_s": bound, "readers": READERS, "redeem_rps": round(res.rps, 1),
        "redeem_statuses": dict(res.statuses),
        "visibility_lag_s": {"p50": round(median(seen), 3), "p99": round(percentile(seen, 99), 3),
                             "max": round(max(seen), 3), "samples": len(seen)},
        "service_lag_measure_s": {"p50": round(median(own), 3),
                                  "p99": round(percentile(own, 99), 3),
                                  "max": round(max(own), 3)},
        "reporting_reads": len(reads),
        "served_by_replica_share": round(len(ages) / len(reads), 3) if reads else None,
        "replica_answer_age_s": {"p50": round(median(ages), 3),
                                 "max": round(max(ages), 3)} if ages else None,
        "peak_connections": {"primary": max(c[0] for c in counts),
                             "replica": max(c[1] for c in counts)},
        "metrics": [line for line in metrics.splitlines()
                    if line.startswith(("reporting_reads_total", "replica_fallbacks_total"))
                    and not line.endswith(" 0")],
        "errors": [v for v in lag.values if v[0] == "error"][:3],
    }


def main() -> None:
    from service.kit.db import make_engine, migrate

    base, started = replica_conninfo()
    db = f"bench_{os.getpid()}_replica"
    try:
        create_database(db)
        migrate(sa_url(db))
        engine = make_engine(sa_url(db))
        w = world.build(engine, year=date.today().year, enterprises=ENTERPRISES,
                        invoices_per_enterprise=max(40, DURATION * 60 * len(BOUNDS)
                                                    // ENTERPRISES * 2))
        engine.dispose()
        deadline = time.monotonic() + 60
        while True:  # until the replica has the database
            try:
                replica = psycopg.connect(replica_dsn(base, db), autocommit=True)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        primary = psycopg.connect(dsn(db), autocommit=True)
        os.environ["READ_DATABASE_URL"] = base.rsplit("/", 1)[0] + f"/{db}"
        cursor: dict = {}
        runs = []
        for bound in BOUNDS:
            runs.append(one_run(db, w, bound, cursor, (primary, replica)))
            log(json.dumps(runs[-1]))
        primary.close()
        replica.close()
        with open("/proc/loadavg") as f:
            loadavg = f.read().split()[:3]
        print(json.dumps({"workers": WORKERS, "clients": CLIENTS, "duration_s": DURATION,
                          "loadavg": loadavg, "runs": runs}, indent=2))
    finally:
        drop_database(db)
        if started:
            subprocess.run([str(ROOT / "scripts/replica.sh"), "stop"], check=False)


if __name__ == "__main__":
    main()
