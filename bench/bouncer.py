"""Part `bouncer` (issue 25, item 3): redemptions per second through PgBouncer in transaction
mode beside direct connections, in the same run, on the same world, the servers started one
after another and the three ways taken in turn, twice, so that a neighbour's load falls on all
of them alike.

The three ways: `direct` (DATABASE_URL on PostgreSQL, psycopg's default prepare threshold, as
deployed without a pooler), `direct_noprep` (the same with DB_PREPARE_THRESHOLD=none: what
giving up server-side prepared statements costs by itself) and `bouncer` (DATABASE_URL through
scripts/pgbouncer.sh's PgBouncer, DB_PREPARE_THRESHOLD=none, as docs/scaling.md says to deploy
behind PgBouncer 1.18). Keys: `redeem_direct_rps`, `redeem_direct_noprep_rps`,
`redeem_bouncer_rps` (the better of the two rounds each), their p99s, `bouncer_ratio`
(bouncer ÷ direct), `bouncer_cpu_ms` (PgBouncer's own CPU per redemption) and
`redeem_<way>_cpu_ms` (the service workers' CPU per redemption, the lower of the two rounds:
it depends far less than rps on what else a shared machine runs).
"""

import os
import subprocess
from collections.abc import Callable
from datetime import date

from bench import load, world
from bench.util import ROOT, log, percentile, proc_cpu_s, sa_url, serving

ROUNDS = int(os.environ.get("BENCH_BOUNCER_ROUNDS", "2"))
WAYS = ("direct", "direct_noprep", "bouncer")
NO_PREPARE = {"DB_PREPARE_THRESHOLD": "none"}


def _pgbouncer(command: str) -> str:
    return subprocess.run([str(ROOT / "scripts" / "pgbouncer.sh"), command], check=True,
                          capture_output=True, text=True).stdout.strip()


def _bouncer_pid() -> int | None:
    try:
        return int((ROOT / ".pgbouncer" / "pgbouncer.pid").read_text())
    except (OSError, ValueError):
        return None


def part_bouncer(db: str, workers: int, record: Callable, meta: dict, *, duration: int,
                 clients: int, enterprises: int, client_queues: Callable) -> None:
    from service.kit.db import make_engine

    already = _bouncer_pid() is not None
    base = _pgbouncer("start")
    if not base:
        raise RuntimeError("PgBouncer could not be started (scripts/pgbouncer.sh start)")
    urls = {"direct": (sa_url(db), {}), "direct_noprep": (sa_url(db), NO_PREPARE),
            "bouncer": (f"{base}/{db}", NO_PREPARE)}
    try:
        engine = make_engine(sa_url(db))
        per_ent = max(40, ROUNDS * len(WAYS) * duration * 600 // enterprises)
        w = world.build(engine, year=date.today().year, enterprises=enterprises,
                        invoices_per_enterprise=per_ent)
        engine.dispose()
        cursor: dict = {}
        runs: dict[str, list[dict]] = {way: [] for way in WAYS}
        for n in range(ROUNDS):
            for way in WAYS:
                url, env = urls[way]
                with serving(url, workers, f"bouncer-{way}-{n}", env=env) as server:
                    pid = _bouncer_pid()
                    cpu: dict = {}

                    def started(cpu=cpu, server=server, pid=pid):
                        cpu.update(server=server.cpu_s(), bouncer=proc_cpu_s(pid) if pid else 0)
                    res = load.run(server.url, client_queues(w.enterprises, clients, cursor),
                                   duration_s=duration, warmup=2, on_start=started)
                    answered = max(1, sum(res.statuses.values()))
                    run = {"rps": round(res.rps, 1),
                           "p99_ms": round(percentile(res.latencies_ms, 99), 2),
                           "statuses": dict(res.statuses), "errors": res.errors[:3],
                           "server_cpu_ms": round((server.cpu_s() - cpu["server"]) * 1000
                                                  / answered, 2),
                           "bouncer_cpu_ms": round((proc_cpu_s(pid) - cpu["bouncer"]) * 1000
                                                   / answered, 3) if pid else None}
                runs[way].append(run)
                log(f"bouncer part, round {n + 1}, {way}: {run['rps']} rps, p99 "
                    f"{run['p99_ms']} ms, statuses {run['statuses']}")
    finally:
        if not already:
            _pgbouncer("stop")
    meta["bouncer_runs"] = runs
    best = {way: max(runs[way], key=lambda r: r["rps"]) for way in WAYS}
    record(redeem_direct_rps=best["direct"]["rps"],
           redeem_direct_noprep_rps=best["direct_noprep"]["rps"],
           redeem_bouncer_rps=best["bouncer"]["rps"],
           redeem_direct_p99_ms=best["direct"]["p99_ms"],
           redeem_bouncer_p99_ms=best["bouncer"]["p99_ms"],
           bouncer_ratio=round(best["bouncer"]["rps"] / best["direct"]["rps"], 3)
           if best["direct"]["rps"] else 0.0,
           bouncer_cpu_ms=best["bouncer"]["bouncer_cpu_ms"],
           # CPU per redemption depends far less than rps on what else the machine runs
           **{f"redeem_{way}_cpu_ms": min(r["server_cpu_ms"] for r in runs[way])
              for way in WAYS})
