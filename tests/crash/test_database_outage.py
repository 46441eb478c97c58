"""PostgreSQL is stopped under load and started again: requests fail fast with 503
problem+json (not a hang, not a 500), /readyz says so, the service recovers without a restart,
and nothing is half-written."""

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from service.app import create_app
from tests.conftest import PG_URL
from tests.factories import Api
from tests.flows import invoice_body, line
from tests.live import LiveServer
from tests.inprocess import InProcessClient


def pg_ctl(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action,
                    *(["-m", "fast"] if action == "stop" else [])], check=True,
                   capture_output=True, timeout=60)


@pytest.mark.postgres
def test_postgres_down_under_load_then_back(pg):
    if not Path("/etc/postgresql").is_dir():
        pytest.skip("this PostgreSQL is not managed by pg_ctlcluster here")
    api = Api(InProcessClient(create_app(pg)), pg)
    api.year(2026)
    provider = api.provider()
    prov_key = api.provider_key(provider["id"])
    enterprise = api.enterprise()
    server = LiveServer(PG_URL, DB_TIMEOUT_S="2").start()
    outcomes: list[tuple[str, int, str, float]] = []
    stop = threading.Event()

    def load():
        with httpx.Client(base_url=server.url, timeout=30) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body = invoice_body(enterprise["uscc"], [line("gpu", 1000 + n)])
                started = time.monotonic()
                try:
                    r = client.post("/v1/invoices", headers=prov_key, json=body)
                    outcomes.append(("post", r.status_code, r.headers.get("content-type", ""),
                                     time.monotonic() - started))
                except httpx.TransportError:
                    outcomes.append(("post", 0, "", time.monotonic() - started))
                time.sleep(0.02)

    workers = [threading.Thread(target=load) for _ in range(3)]
    try:
        for w in workers:
            w.start()
        time.sleep(1.0)
        pg_ctl("stop")
        time.sleep(4.0)
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        assert ready.json()["code"] == "database_unavailable"
        during = httpx.post(server.url + "/v1/invoices", headers=prov_key, timeout=30,
                            json=invoice_body(enterprise["uscc"], [line("gpu", 5)]))
        assert during.status_code == 503
    finally:
        pg_ctl("start")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if httpx.get(server.url + "/readyz", timeout=10).status_code == 200:
            break
        time.sleep(0.5)
    time.sleep(1.0)
    stop.set()
    for w in workers:
        w.join(timeout=60)
    after = httpx.post(server.url + "/v1/invoices", headers=prov_key, timeout=30,
                       json=invoice_body(enterprise["uscc"], [line("gpu", 7)]))
    server.stop()
    assert after.status_code == 201, after.text  # recovered without a restart

    statuses = {status for _, status, _, _ in outcomes}
    assert 500 not in statuses, outcomes
    failures = [o for o in outcomes if o[1] not in (201,)]
    assert failures, "the outage produced no failed requests"
    for _, status, ctype, seconds in failures:
        assert status == 503, failures
        assert ctype.startswith("application/problem+json")
        assert seconds < 15, f"a request hung for {seconds:.1f}s"
    created = sum(1 for o in outcomes if o[1] == 201) + 1
    listed = api.ok("GET", "/v1/invoices", headers=prov_key, params={"limit": 500})["items"]
    assert len(listed) == created  # every 201 exists; nothing half-written
    for invoice in listed:
        assert invoice["lines"], invoice["id"]
