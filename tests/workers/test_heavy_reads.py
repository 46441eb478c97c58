"""Heavy reads must not take the service down (issue 20, item 3; docs/operations.md, "Heavy
reads"): compares, back-tests, report and settlement exports and reconciliations run on a
bounded pool of their own; a full pool is 503 `busy` with Retry-After and writes nothing; no
database connection within DB_TIMEOUT_S is 503 `database_unavailable`, never 500; /healthz
answers at once while they run."""

import json
import math
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.kit.config import get_settings
from service.kit.db import make_engine
from service.kit.errors import Busy
from service.heavy import HeavyPool
from service.whatif import compare as whatif
from tests.conftest import PG_URL, reset_postgres
from tests.factories import Api, uscc
from tests.flows import line, make_world
from tests.live import LiveServer
from tests.conftest import row_counts

COMPARE = "/v1/years/2026/scenarios/compare"
HEALTH_P99_S = 0.100
# GET /healthz every 10 ms until stdin closes; then the (status, seconds) of each, as JSON.
PROBE = """
import http.client, json, sys, threading, time
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
out = []
while not stop.is_set():
    started = time.perf_counter()
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    response.read()
    out.append((response.status, time.perf_counter() - started))
    time.sleep(0.01)
print(json.dumps(out))
"""


def five_scenarios(n: int) -> dict:
    """Five scenarios no other request asks for: every compare is computed, none cached."""
    return {"scenarios": [{"name": f"r{n}-{k}", "overrides": {"rate_bp": 1000 + 50 * n + k}}
                          for k in range(5)]}


def small_year(api: Api, redemptions: int = 12):
    world = make_world(api)
    world.voucher(50_000_000)
    for n in range(redemptions):
        world.redeem(world.invoice([line("gpu", 100_000 + 1_000 * n),
                                    line("storage", 5_000)])["id"])
    return world


def assert_busy(response: httpx.Response, code: str = "busy") -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert int(response.headers["retry-after"]) >= 1


@pytest.fixture(autouse=True)
def fresh_cache():
    whatif.clear_caches()
    yield
    whatif.clear_caches()


def test_fifty_compares_beside_a_health_probe(api, engine, today):
    """50 concurrent compares of five scenarios each against a real server whose heavy pool
    is one thread and a queue of four: every answer is 200 or a 503 with Retry-After, the
    health probe's p99 stays under 100 ms, and a compare afterwards succeeds."""
    today("2026-03-02")
    small_year(api)
    server = LiveServer(engine.url.render_as_string(hide_password=False), HEAVY_THREADS="1",
                        HEAVY_QUEUE="4", ALERT_WEBHOOK_URLS="").start()
    # The probe runs in a process of its own: in this one it would wait for the interpreter
    # lock behind the 50 senders, and measure them rather than the server.
    prober = subprocess.Popen([sys.executable, "-c", PROBE, str(server.port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    senders = httpx.Client(base_url=server.url, timeout=120,
                           limits=httpx.Limits(max_connections=60))

    def compare(n: int) -> httpx.Response:
        return senders.post(COMPARE, headers=api.admin, json=five_scenarios(n))
    try:
        assert senders.get("/v1/years/2026", headers=api.admin).status_code == 200  # key known
        time.sleep(1.0)
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(compare, range(50)))
        time.sleep(0.5)
        probes = json.loads(prober.communicate(b"", timeout=30)[0])
        after = senders.post(COMPARE, headers=api.admin, json=five_scenarios(99))
    finally:
        prober.kill()
        senders.close()
        server.stop()
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 503}, statuses
    for r in answers:
        if r.status_code == 503:
            assert_busy(r)
        else:
            assert len(r.json()["scenarios"]) == 5
    assert statuses.count(200) >= 1
    assert len(probes) >= 20 and {status for status, _ in probes} == {200}
    latencies = sorted(seconds for _, seconds in probes)
    p99 = latencies[math.ceil(0.99 * len(latencies)) - 1]  # nearest rank
    assert p99 < HEALTH_P99_S, (p99, latencies[-5:], len(latencies), statuses)
    assert after.status_code == 200, after.text
    assert [s["parameters"]["rate_bp"] for s in after.json()["scenarios"]] == \
        [1000 + 50 * 99 + k for k in range(5)]


def _settlement(api: Api, world) -> str:
    return api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)["id"]


def test_a_full_heavy_pool_is_503_busy_on_every_heavy_route_and_writes_nothing(api, engine,
                                                                               today):
    today("2026-03-02")
    world = small_year(api, redemptions=3)
    settlement_id = _settlement(api, world)
    heavy: HeavyPool = api.client.app.state.heavy
    release = threading.Event()
    held = [heavy.submit(release.wait) for _ in range(heavy.threads + heavy.queue)]
    before = row_counts(engine)
    try:
        for method, path, body in (
                ("POST", COMPARE, five_scenarios(1)),
                ("POST", "/v1/years/2026/risk-rules/backtest", {}),
                ("GET", "/v1/years/2026/report", None),
                ("GET", "/v1/years/2026/report?format=csv", None),
                ("GET", "/v1/years/2026/report?format=xlsx", None),
                ("GET", "/v1/years/2026/reconciliation", None),
                ("GET", f"/v1/settlements/{settlement_id}/export", None),
                ("GET", f"/v1/settlements/{settlement_id}/export?format=xlsx", None)):
            assert_busy(api.client.request(method, path, headers=api.admin, json=body))
        # Ordinary requests and the health endpoints are not behind the heavy pool.
        assert api.client.get("/healthz").status_code == 200
        assert api.client.get("/readyz").status_code == 200
        assert api.client.get("/v1/years/2026/budget", headers=api.admin).status_code == 200
    finally:
        release.set()
        for future in held:
            future.result(timeout=10)
    assert row_counts(engine) == before
    answer = api.ok("POST", COMPARE, json=five_scenarios(1))
    assert answer["cached"] is False
    assert api.client.get(f"/v1/settlements/{settlement_id}/export",
                          headers=api.admin).status_code == 200


def test_a_read_that_waited_past_the_queue_deadline_is_busy_without_running():
    pool = HeavyPool(threads=1, queue=1, max_wait_s=0.05)
    release, ran = threading.Event(), []
    try:
        first = pool.submit(release.wait)
        second = pool.submit(lambda: ran.append(1))
        with pytest.raises(Busy):
            pool.submit(lambda: ran.append(2))  # one running, one waiting: full
        time.sleep(0.1)
        release.set()
        first.result(timeout=5)
        with pytest.raises(Busy):
            second.result(timeout=5)
        assert ran == []
        assert pool.submit(lambda: 7).result(timeout=5) == 7  # the places were given back
    finally:
        release.set()
        pool.shutdown()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def short_timeout_engine(request, tmp_path, monkeypatch):
    """An engine made as the server makes it, with DB_TIMEOUT_S=0.3."""
    monkeypatch.setenv("DB_TIMEOUT_S", "0.3")
    get_settings.cache_clear()
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
    else:
        reset_postgres(request.getfixturevalue("pg_engine"))
        engine = make_engine(PG_URL)
    yield engine
    engine.dispose()
    monkeypatch.delenv("DB_TIMEOUT_S")
    get_settings.cache_clear()


def _hold_every_connection(engine) -> list:
    """Check out pooled connections until the pool has none left to give."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    held = []
    while True:
        try:
            held.append(engine.pool.connect())
        except PoolTimeout:
            return held


def test_no_connection_within_db_timeout_is_503_and_writes_nothing(short_timeout_engine):
    engine = short_timeout_engine
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        api = Api(client, engine)
        api.year(2026)
        enterprises = api.ok("GET", "/v1/enterprises")["items"]
        before = row_counts(engine)
        held = _hold_every_connection(engine)
        try:
            started = time.monotonic()
            answers = [
                client.get("/v1/years/2026/budget", headers=api.admin),
                client.get("/v1/enterprises", headers=api.admin),
                client.post(COMPARE, headers=api.admin, json=five_scenarios(2)),
                client.get("/v1/years/2026/reconciliation", headers=api.admin),
                client.post("/v1/enterprises", headers=api.admin,
                            json={"uscc": uscc(), "name": "大连算力应用有限公司",
                                  "district": "高新园区"}),
                client.get("/readyz")]
            elapsed = time.monotonic() - started
        finally:
            for connection in held:
                connection.close()
        for r in answers:
            assert_busy(r, "database_unavailable")
        assert elapsed < 10 * 0.3 * len(answers)
        assert row_counts(engine) == before
        assert api.ok("GET", "/v1/enterprises")["items"] == enterprises
        assert client.get("/readyz").status_code == 200


def test_a_replay_pool_that_fails_changes_no_answer(api, today, monkeypatch):
    """The spawn pool's groups are computed again in the compare's thread when it fails, and
    a broken pool is replaced by the next compare."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    today("2026-03-02")
    small_year(api, redemptions=4)
    body = five_scenarios(3)
    monkeypatch.setattr(whatif, "PARALLEL_MIN_CLAIMS", 10**9)
    alone = api.ok("POST", COMPARE, json=body)

    class Broken:
        def submit(self, *args):
            future: Future = Future()
            future.set_exception(BrokenProcessPool("a replay process died"))
            return future
    monkeypatch.setattr(whatif, "PARALLEL_MIN_CLAIMS", 0)
    monkeypatch.setattr(whatif, "_replayers", [Broken()])
    monkeypatch.setattr(whatif.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    whatif.clear_caches()
    assert {**api.ok("POST", COMPARE, json=body), "cached": False} == alone
    assert whatif._replayers == []
