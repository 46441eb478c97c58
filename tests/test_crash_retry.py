"""Crash and retry: concurrent clients post invoices and redeem with Idempotency-Keys against a
real uvicorn process on PostgreSQL; the server is SIGKILLed mid-stream and restarted; every
client retries what went unanswered with the same keys. Afterwards every acknowledged request
exists exactly once, nothing was applied twice, and reconciliation is clean."""

import threading
import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.app import create_app
from tests.conftest import PG_URL
from tests.factories import Api
from tests.flows import invoice_body, line
from tests.live import LiveServer

CLIENTS = 6
OPS_PER_CLIENT = 12


@pytest.mark.postgres
def test_sigkill_mid_stream_then_retry(pg):
    api = Api(TestClient(create_app(pg)), pg)
    api.year(2026)
    provider = api.provider()
    api.approve_provider(provider["id"])
    prov_key = api.provider_key(provider["id"])
    enterprises = [api.enterprise() for _ in range(CLIENTS)]
    ent_keys = [api.enterprise_key(e["id"]) for e in enterprises]
    for e in enterprises:
        api.voucher(e["id"], 10_000_000)

    server = LiveServer(PG_URL).start()
    acked: list[dict] = []  # every answered operation, with the body the server returned
    lock = threading.Lock()
    killed = threading.Event()

    def send(client, method, path, headers, key, body):
        """Retry with the same Idempotency-Key until the server answers with a final status."""
        while True:
            try:
                r = client.request(method, path, json=body,
                                   headers={**headers, "Idempotency-Key": key}, timeout=10)
                if r.status_code in (409,) and r.json().get("code") == "idempotency_in_flight":
                    time.sleep(0.2)
                    continue
                if r.status_code == 503:
                    time.sleep(0.2)
                    continue
                return r
            except httpx.TransportError:
                time.sleep(0.2)  # server down: keep the key, try again

    def client_loop(i: int):
        with httpx.Client(base_url=server.url) as client:
            for n in range(OPS_PER_CLIENT):
                body = invoice_body(enterprises[i]["uscc"], [line("gpu", 100_000 + n)])
                key = f"inv-{i}-{n}-{uuid.uuid4().hex[:6]}"
                r = send(client, "POST", "/v1/invoices", prov_key, key, body)
                assert r.status_code == 201, r.text
                invoice = r.json()
                r = send(client, "POST", f"/v1/invoices/{invoice['id']}/payments", prov_key,
                         f"pay-{key}", {"amount_fen": invoice["total_fen"],
                                        "paid_on": "2026-05-01"})
                assert r.status_code == 201, r.text
                r = send(client, "POST", "/v1/redemptions", ent_keys[i], f"rdm-{key}",
                         {"invoice_id": invoice["id"]})
                assert r.status_code == 201, r.text
                with lock:
                    acked.append({"invoice": invoice, "redemption": r.json(),
                                  "keys": (key, f"pay-{key}", f"rdm-{key}"),
                                  "headers": (prov_key, ent_keys[i]), "body": body})

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        while len(acked) < CLIENTS * OPS_PER_CLIENT // 3:
            time.sleep(0.05)
        server.kill()
        killed.set()
        time.sleep(0.5)
        server.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
    finally:
        server.stop()

    assert killed.is_set()
    assert len(acked) == CLIENTS * OPS_PER_CLIENT
    with pg.connect() as conn:
        invoices = conn.execute(text("SELECT count(*) FROM invoice")).scalar()
        redemptions = conn.execute(text(
            "SELECT invoice_id, count(*) FROM redemption GROUP BY invoice_id")).all()
        payments = conn.execute(text(
            "SELECT invoice_id, count(*) FROM invoice_payment GROUP BY invoice_id")).all()
    assert invoices == CLIENTS * OPS_PER_CLIENT
    assert all(n == 1 for _, n in redemptions) and len(redemptions) == invoices
    assert all(n == 1 for _, n in payments) and len(payments) == invoices
    # every acknowledged answer is the one the database holds, and a replay returns it again
    for op in acked[:5]:
        replay = api.client.post("/v1/redemptions", headers={**op["headers"][1],
                                                             "Idempotency-Key": op["keys"][2]},
                                 json={"invoice_id": op["invoice"]["id"]})
        assert replay.status_code == 201
        assert replay.json()["id"] == op["redemption"]["id"]
        assert replay.headers["idempotent-replayed"] == "true"
    expected = sum((100_000 + n) * 3 // 10 for n in range(OPS_PER_CLIENT)) * CLIENTS
    assert api.ok("GET", "/v1/years/2026/budget")["redeemed_fen"] == expected
    rec = api.ok("GET", "/v1/years/2026/reconciliation")
    assert rec["ok"], [c for c in rec["checks"] if not c["ok"]]
