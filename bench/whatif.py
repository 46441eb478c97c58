"""Bench part `whatif` (issue 13, item 5): three scenarios compared over a generated year.

A year of BENCH_SCALE invoices and redemptions (bench/yeargen.py, without its audit chain) in a
throwaway database, then, in the same run:

- `whatif_scan_s`: one bare pass over the year's invoices — every invoice row read and summed
  in Python, streamed (the least a replay of every invoice must cost);
- `whatif_3_scenarios_s`: `compare` of three scenarios (a lower rate, a smaller pool that runs
  out, vouchers following a lower cap) against the actual year, cold (no cached data or
  result in the process), as the route runs it: the median of three such runs, with the first
  (`whatif_3_scenarios_first_s`, on a database just generated) and the slowest
  (`whatif_3_scenarios_max_s`) beside it; `whatif_vs_scan` is the median's ratio to the bare
  pass;
- `whatif_cached_s`: the same compare again (served from the cache);
- `whatif_rss_mb`: the process's peak RSS growth during the cold compare.

Run alone: `python -m bench.whatif` (BENCH_SCALE, default 1,000,000).
"""

import os
import resource
import statistics
import time
from datetime import date

from bench import yeargen
from bench.util import create_database, drop_database, log, sa_url

SCENARIOS = [
    {"name": "rate 20 %", "overrides": {"rate_bp": 2000}},
    {"name": "half the pool", "overrides": {"pool_fen": None}},  # set from the year below
    {"name": "cap 1M fen, vouchers follow it", "overrides": {"enterprise_cap_fen": 1_000_000},
     "vouchers": "follow_cap"},
]


COLD_RUNS = 3  # cold compares, one after another: the median is reported, the first and the
# slowest beside it


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(db: str, scale: int, record) -> dict:
    from sqlalchemy import text
    from sqlmodel import Session

    from service.kit.db import make_engine, migrate, snapshot
    from service.whatif import compare
    from service.whatif.schemas import ScenarioCreate

    migrate(sa_url(db))
    engine = make_engine(sa_url(db))
    year = date.today().year
    log(f"whatif: generating a year with {scale} invoices and redemptions")
    t0 = time.perf_counter()
    info = yeargen.generate(engine, db, year=year, invoices=scale, with_audit=False)
    log(f"whatif: generated in {time.perf_counter() - t0:.1f}s")
    with engine.connect() as conn:
        redeemed = int(conn.execute(text("SELECT SUM(subsidy_fen) FROM redemption")).scalar())
        conn.execute(text("ANALYZE"))
        conn.commit()
    scenarios = [dict(s, overrides=dict(s["overrides"])) for s in SCENARIOS]
    scenarios[1]["overrides"]["pool_fen"] = redeemed // 2
    specs = [ScenarioCreate.model_validate(s) for s in scenarios]

    with Session(snapshot(engine)) as session:  # warm the cache as the compare will find it
        session.connection().execute(text("SELECT count(*) FROM invoice")).scalar()
    t0 = time.perf_counter()
    with engine.connect() as conn:
        total = 0
        for row in conn.execution_options(yield_per=20_000).execute(text(
                "SELECT id, enterprise_id, total_fen, paid_fen, reversed_fen FROM invoice")):
            total += row[2]
    scan_s = time.perf_counter() - t0

    colds = []
    for _ in range(COLD_RUNS):  # each with no cached data or result in the process
        compare.clear_caches()
        rss_before = _rss_mb()
        t0 = time.perf_counter()
        with Session(snapshot(engine)) as session:
            answer = compare.compare(session, year, "actual", specs, "enterprise")
        colds.append(time.perf_counter() - t0)
        if len(colds) == 1:
            rss_growth = _rss_mb() - rss_before
    cold_s = statistics.median(colds)
    t0 = time.perf_counter()
    with Session(snapshot(engine)) as session:
        again = compare.compare(session, year, "actual", specs, "enterprise")
    cached_s = time.perf_counter() - t0
    assert again["cached"] and answer["baseline"]["total_subsidy_fen"] == redeemed
    log(f"whatif: cold runs {', '.join(f'{c:.2f}s' for c in colds)} (the first on a database "
        f"just generated)")
    log(f"whatif: bare pass {scan_s:.2f}s; 3 scenarios {cold_s:.2f}s cold, {cached_s:.3f}s "
        f"cached; peak RSS +{rss_growth:.0f} MB; totals "
        f"{[r['total_subsidy_fen'] for r in answer['scenarios']]} vs {redeemed}")
    record(whatif_scan_s=scan_s, whatif_3_scenarios_s=cold_s, whatif_vs_scan=cold_s / scan_s,
           whatif_3_scenarios_first_s=colds[0], whatif_3_scenarios_max_s=max(colds),
           whatif_cached_s=cached_s, whatif_rss_mb=rss_growth)
    engine.dispose()
    return {**info, "invoices_scanned_fen": total}


def part(scale: int, record) -> dict:
    db = f"bench_{os.getpid()}_whatif"
    create_database(db)
    try:
        return measure(db, scale, record)
    finally:
        drop_database(db)


if __name__ == "__main__":
    figures: dict = {}
    part(int(os.environ.get("BENCH_SCALE", 1_000_000)), lambda **f: figures.update(f))
    for key, value in figures.items():
        print(f"{key:<24} {value:.3f}" if isinstance(value, float) else f"{key:<24} {value}")
