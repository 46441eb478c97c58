"""Bench part `risk` (issue 14 item 7): what the risk flags cost.

1. Worker CPU per redemption with the flags on (the year's default rules) and with every rule
   off, in the same run, against the same server and data: their difference is what computing
   the flags costs (target <= 1 ms per redemption on average).
2. The back-test of a generated year of BENCH_RISK_SCALE (default BENCH_SCALE, 1,000,000)
   redemptions (target < 60 s), run in-process on a read session, as the route runs it.
"""

import os
from datetime import date

import psycopg
from sqlmodel import Session

from bench import load, world, yeargen
from bench.util import Timer, create_database, drop_database, dsn, log, sa_url, serving
from service.risk.models import RULES

RISK_ENTERPRISES = int(os.environ.get("BENCH_RISK_ENTERPRISES", 100))


def _queues(parties, clients: int, start: int, count: int) -> list:
    """Client c redeems invoices [start, start+count) of its enterprises, round robin."""
    queues = []
    for c in range(clients):
        mine = parties[c::clients]

        def requests(mine=mine):
            for i in range(start, start + count):
                for p in mine:
                    if i < len(p.invoices):
                        yield from load.redemption_requests(p.key, iter([p.invoices[i]]))
        queues.append(requests())
    return queues


def _cpu_per_redemption(db: str, w, workers: int, clients: int, duration: int, start: int,
                        count: int, name: str) -> tuple[float, float, int]:
    with serving(db, workers, name) as server:
        cpu: dict = {}
        res = load.run(server.url, _queues(w.enterprises, clients, start, count),
                       duration_s=duration, warmup=2,
                       on_start=lambda: cpu.update(start=server.cpu_s()))
        answered = max(1, sum(res.statuses.values()))
        cpu_ms = (server.cpu_s() - cpu["start"]) * 1000 / answered
    return cpu_ms, res.rps, res.statuses.get(201, 0)


def part_risk(db: str, workers: int, record, *, duration: int, clients: int, scale: int) -> None:
    from service.kit.db import make_engine, migrate
    from service.risk.backtest import backtest

    create_database(db)
    try:
        migrate(sa_url(db))
        engine = make_engine(sa_url(db))
        year = date.today().year
        per_ent = max(40, (duration * 2 * 600) // RISK_ENTERPRISES)
        w = world.build(engine, year=year, enterprises=RISK_ENTERPRISES,
                        invoices_per_enterprise=per_ent)
        with psycopg.connect(dsn(db), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        half = per_ent // 2
        on_ms, on_rps, on_201 = _cpu_per_redemption(db, w, workers, clients, duration, 0, half,
                                                    "risk-on")
        with psycopg.connect(dsn(db), autocommit=True) as conn:
            off = ", ".join(f"'{rule}', json_build_object('enabled', false)" for rule in RULES)
            conn.execute(f"UPDATE budget_year SET risk_rules = json_build_object({off}) "
                         "WHERE year = %s", (year,))
        off_ms, off_rps, off_201 = _cpu_per_redemption(db, w, workers, clients, duration, half,
                                                       per_ent - half, "risk-off")
        with psycopg.connect(dsn(db)) as conn:
            flags = conn.execute("SELECT count(*) FROM risk_flag").fetchone()[0]
        log(f"risk: worker CPU per redemption {on_ms:.2f} ms with the flags on ({on_rps:.0f} rps,"
            f" {on_201} redeemed, {flags} flags recorded), {off_ms:.2f} ms with every rule off "
            f"({off_rps:.0f} rps): the flags cost {on_ms - off_ms:.2f} ms")
        engine.dispose()
    finally:
        drop_database(db)

    year_db = f"{db}_year"
    create_database(year_db)
    try:
        migrate(sa_url(year_db))
        engine = make_engine(sa_url(year_db))
        with Timer() as gen:
            info = yeargen.generate(engine, year_db, year=2025, invoices=scale, with_audit=False)
        log(f"risk: generated a year of {info['redemptions']} redemptions in {gen.seconds:.0f}s")
        with Timer() as t, Session(engine) as session:
            out = backtest(session, 2025)
        log(f"risk: back-test of {out['redemptions']} redemptions in {t.seconds:.1f}s "
            f"({out['flagged']} flagged, {out['held']} would be held)")
        engine.dispose()
    finally:
        drop_database(year_db)
    record(risk_flag_cpu_ms=round(on_ms - off_ms, 3), risk_cpu_on_ms=round(on_ms, 3),
           risk_cpu_off_ms=round(off_ms, 3), risk_backtest_s=round(t.seconds, 2),
           risk_backtest_redemptions=out["redemptions"])
