"""Crash and retry: concurrent clients post invoices and redeem with Idempotency-Keys against a
real server on PostgreSQL; mid-stream the server is SIGKILLed (the single uvicorn process, then
restarted; or one worker of `voucher serve --workers 2`, which the supervisor replaces while
the other worker keeps serving); every client retries what went unanswered with the same keys.
Afterwards every acknowledged request exists exactly once, nothing was applied twice,
reconciliation is clean and the audit chain verifies."""

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import text

from service.app import create_app
from tests.conftest import BOUNCER, PG_AND_BOUNCER, pg_for, server_env
from tests.factories import Api
from tests.flows import invoice_body, line
from tests.live import LiveServer
from tests.inprocess import InProcessClient

CLIENTS = 6
OPS_PER_CLIENT = 12


@pytest.fixture(params=PG_AND_BOUNCER)
def pg(request):
    """Directly and, for the one kill chosen below, through PgBouncer in transaction mode: a
    killed worker's open transactions must be rolled back by the pooler too, while the other
    worker keeps serving on its server connections, and the clients' retries be answered. Each
    of these tests takes 25-55 s, so only that one runs through PgBouncer (docs/testing.md)."""
    return pg_for(request)


DIRECT = pytest.mark.parametrize("pg", ["postgres"], indirect=True)


def live(pg, **kwargs) -> LiveServer:
    """A server on pg's database, the way pg reaches it (directly or through PgBouncer)."""
    env = server_env(pg)
    return LiveServer(env.pop("DATABASE_URL"), **env, **kwargs)


def stream_through_a_kill(pg, server: LiveServer, kill: Callable[[LiveServer], None]) -> dict:
    """Start `server`, run the clients, call `kill(server)` once a third of their operations
    are acknowledged, let them finish with retries, and check that nothing was lost or doubled.
    Returns what the clients saw after the kill: `retried`, the requests sent again after a
    transport error, and `replayed`, those of them answered by a replay (their batch had
    committed but the answer was lost with the process)."""
    api = Api(InProcessClient(create_app(pg)), pg)
    api.year(2026)
    provider = api.provider()
    api.approve_provider(provider["id"])
    prov_key = api.provider_key(provider["id"])
    enterprises = [api.enterprise() for _ in range(CLIENTS)]
    ent_keys = [api.enterprise_key(e["id"]) for e in enterprises]
    for e in enterprises:
        api.voucher(e["id"], 10_000_000)

    server.start()
    acked: list[dict] = []  # every answered operation, with the body the server returned
    seen = {"retried": 0, "replayed": 0}
    lock = threading.Lock()
    killed = threading.Event()

    def send(client, method, path, headers, key, body):
        """Retry with the same Idempotency-Key until the server answers with a final status."""
        lost = False
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
                if lost and r.headers.get("idempotent-replayed") == "true":
                    with lock:
                        seen["replayed"] += 1
                return r
            except httpx.TransportError:
                if killed.is_set() and not lost:
                    lost = True
                    with lock:
                        seen["retried"] += 1
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
        killed.set()
        kill(server)
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
    finally:
        server.stop()

    assert len(acked) == CLIENTS * OPS_PER_CLIENT
    with pg.connect() as conn:
        invoices = conn.execute(text("SELECT count(*) FROM invoice")).scalar()
        redemptions = conn.execute(text(
            "SELECT invoice_id, count(*) FROM redemption GROUP BY invoice_id")).all()
        payments = conn.execute(text(
            "SELECT invoice_id, count(*) FROM invoice_payment GROUP BY invoice_id")).all()
        stored = dict(conn.execute(text("SELECT invoice_id, id FROM redemption")).all())
    assert invoices == CLIENTS * OPS_PER_CLIENT
    assert all(n == 1 for _, n in redemptions) and len(redemptions) == invoices
    assert all(n == 1 for _, n in payments) and len(payments) == invoices
    # every acknowledged answer is the one the database holds, and a replay returns it again
    assert {op["invoice"]["id"]: op["redemption"]["id"] for op in acked} == stored
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
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True
    return seen


@pytest.mark.postgres
@DIRECT
def test_sigkill_mid_stream_then_retry(pg):
    def kill_and_restart(server: LiveServer) -> None:
        server.kill()
        time.sleep(0.5)
        server.start()

    stream_through_a_kill(pg, live(pg), kill_and_restart)


HOOK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "crash_hook")


@pytest.mark.postgres
@pytest.mark.parametrize("pg, moment", [
    ("postgres", "mid_stream"), ("postgres", "after_commit_before_answer"),
    pytest.param(BOUNCER.values[0], "mid_stream", marks=BOUNCER.marks)], indirect=["pg"])
def test_sigkill_of_one_worker_then_retry(pg, tmp_path, moment):
    """`voucher serve --workers 2`: one worker is SIGKILLed with requests in flight; its clients
    retry on the other worker while uvicorn's supervisor starts a replacement.

    mid_stream: the test kills the worker holding the most client connections, whatever it is
    doing (its batch most likely dies uncommitted). after_commit_before_answer: the first worker
    to commit a batch of redemptions once armed kills itself before answering any of it
    (tests/crash_hook/sitecustomize.py), so some acknowledged-by-the-database write must come
    back to its client as a replay of the committed answer, not be applied again."""
    killed: dict = {}
    armed, fired = tmp_path / "armed", tmp_path / "fired"
    env = {} if moment == "mid_stream" else {
        "PYTHONPATH": os.pathsep.join(filter(None, [HOOK_DIR, os.environ.get("PYTHONPATH")])),
        "CRASH_ARMED": str(armed), "CRASH_FIRED": str(fired)}

    def kill_one_worker(server: LiveServer) -> None:
        workers = server.worker_pids()
        assert len(workers) == 2, workers
        killed["before"] = workers
        deadline = time.monotonic() + 30
        if moment == "mid_stream":
            pid = max(workers, key=server.client_connections)
            killed.update(pid=pid, connections=server.client_connections(pid))
            os.kill(pid, signal.SIGKILL)
        else:
            armed.touch()
            while not (fired.exists() and fired.read_text()) and time.monotonic() < deadline:
                time.sleep(0.05)
            killed["pid"] = pid = int(fired.read_text())
        while time.monotonic() < deadline:  # the supervisor looks every 0.5 s
            now = server.worker_pids()
            if len(now) == 2 and pid not in now:
                killed["after"] = now
                return
            time.sleep(0.1)

    server = live(pg, workers=2, **env)
    seen = stream_through_a_kill(pg, server, kill_one_worker)
    # the supervisor replaced the killed worker and kept the other one serving
    assert killed["pid"] in killed["before"], killed
    survivor = next(p for p in killed["before"] if p != killed["pid"])
    assert "after" in killed, killed
    assert survivor in killed["after"] and killed["pid"] not in killed["after"], killed
    assert seen["retried"] >= 1, seen  # some request went unanswered and was sent again
    if moment == "mid_stream":
        assert killed["connections"] >= 1, killed  # its clients were mid-stream on it
    else:
        assert seen["replayed"] >= 1, seen  # a committed, unanswered write was replayed


@pytest.mark.postgres
@DIRECT
def test_sigkill_with_holds_in_flight_then_retry(pg):
    """Holds (docs/holds.md): clients place and capture holds with Idempotency-Keys, the server
    is SIGKILLed mid-stream and restarted, every unanswered request is sent again with its key.
    Every acknowledged hold exists once and was captured once; nothing is held or drawn twice."""
    api = Api(InProcessClient(create_app(pg)), pg)
    api.year(2026, settlement_mode="deduction")
    provider = api.provider()
    api.approve_provider(provider["id"])
    prov_key = api.provider_key(provider["id"])
    enterprises = [api.enterprise() for _ in range(CLIENTS)]
    codes = [api.voucher(e["id"], 10_000_000)["code"] for e in enterprises]
    invoices = [[api.ok("POST", "/v1/invoices", headers=prov_key, expect=201,
                        json=invoice_body(e["uscc"], [line("gpu", 100_000)]))["id"]
                 for _ in range(OPS_PER_CLIENT)] for e in enterprises]
    server = live(pg)
    server.start()
    acked: list[tuple[str, dict]] = []
    lock, killed = threading.Lock(), threading.Event()

    def send(client, path, key, body):
        while True:
            try:
                r = client.post(path, json=body, timeout=10,
                                headers={**prov_key, "Idempotency-Key": key})
                if r.status_code == 503 or r.json().get("code") == "idempotency_in_flight":
                    time.sleep(0.2)
                    continue
                return r
            except httpx.TransportError:
                time.sleep(0.2)

    def client_loop(i: int):
        with httpx.Client(base_url=server.url) as client:
            for n, invoice_id in enumerate(invoices[i]):
                key = f"hold-{i}-{n}-{uuid.uuid4().hex[:6]}"
                r = send(client, "/v1/holds", key, {
                    "voucher_code": codes[i], "enterprise_uscc": enterprises[i]["uscc"],
                    "year": 2026, "service_start": "2026-04-01", "service_end": "2026-04-30",
                    "lines": [{"category": "gpu", "amount_fen": 200_000}]})
                assert r.status_code == 201, r.text
                hold = r.json()
                r = send(client, f"/v1/holds/{hold['id']}/capture", f"cap-{key}",
                         {"invoice_id": invoice_id})
                assert r.status_code == 201, r.text
                with lock:
                    acked.append((invoice_id, r.json()))

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        while len(acked) < CLIENTS * OPS_PER_CLIENT // 3:
            time.sleep(0.05)
        killed.set()
        server.kill()
        time.sleep(0.5)
        server.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
    finally:
        server.stop()

    assert len(acked) == CLIENTS * OPS_PER_CLIENT
    with pg.connect() as conn:
        holds = conn.execute(text("SELECT status, count(*), sum(amount_fen), sum(captured_fen), "
                                  "sum(released_fen) FROM hold GROUP BY status")).all()
        per_invoice = conn.execute(text(
            "SELECT invoice_id, count(*) FROM redemption GROUP BY invoice_id")).all()
    n = CLIENTS * OPS_PER_CLIENT
    # 200_000 quoted → 60_000 held; the 100_000 invoice earns 30_000, the rest released
    assert [tuple(row) for row in holds] == [("captured", n, 60_000 * n, 30_000 * n, 30_000 * n)]
    assert len(per_invoice) == n and all(c == 1 for _, c in per_invoice)
    assert {a["hold"]["redemption_id"] for _, a in acked} == {
        a["redemption"]["id"] for _, a in acked}
    rec = api.ok("GET", "/v1/years/2026/reconciliation")
    assert rec["ok"], [c for c in rec["checks"] if not c["ok"]]
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True
