"""Closed-loop HTTP load: N client threads, each with its own keep-alive connection and its own
queue of requests. http.client keeps the client's own CPU cost low (the server, PostgreSQL and
the clients share the same two cores)."""

import http.client
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlparse


@dataclass
class LoadResult:
    ok: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    exhausted: int = 0  # clients that ran out of work before the end
    client_cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0


def _connect(url: str) -> http.client.HTTPConnection:
    parsed = urlparse(url)
    return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)


def redemption_requests(key: str, invoice_ids: Iterator[str]):
    for invoice_id in invoice_ids:
        body = json.dumps({"invoice_id": invoice_id}).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                   "Idempotency-Key": uuid.uuid4().hex}
        yield "POST", "/v1/redemptions", body, headers


def run(url: str, queues: list[Iterator[tuple]], *, duration_s: float | None,
        expect: int = 201, warmup: int = 0, on_start=None) -> LoadResult:
    """Each queue yields (method, path, body, headers) for one client. Runs until duration_s has
    passed (None: until every queue is empty). `warmup` requests per client are sent first and
    not counted."""
    result = LoadResult()
    lock = threading.Lock()
    start_barrier = threading.Barrier(len(queues) + 1)
    stop_at = [float("inf")]

    def client(queue):
        conn = _connect(url)
        local_lat, local_status, local_ok, local_err = [], Counter(), 0, []
        try:
            for method, path, body, headers in itertools.islice(queue, warmup):
                conn.request(method, path, body=body, headers=headers)
                conn.getresponse().read()
        finally:
            start_barrier.wait()
        try:
            while True:
                item = next(queue, None)
                if item is None:
                    with lock:
                        result.exhausted += 1
                    break
                if time.perf_counter() >= stop_at[0]:
                    break
                method, path, body, headers = item
                t0 = time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    local_err.append(repr(exc))
                    conn.close()
                    conn = _connect(url)
                    continue
                local_lat.append((time.perf_counter() - t0) * 1000)
                local_status[response.status] += 1
                if response.status == expect:
                    local_ok += 1
                elif len(local_err) < 5:
                    local_err.append(f"{response.status} {payload[:300]!r}")
        finally:
            conn.close()
            with lock:
                result.latencies_ms += local_lat
                result.statuses.update(local_status)
                result.ok += local_ok
                result.errors += local_err

    threads = [threading.Thread(target=client, args=(q,), daemon=True) for q in queues]
    cpu0 = time.process_time()
    for t in threads:
        t.start()
    start_barrier.wait()
    t0 = time.perf_counter()
    if on_start is not None:  # e.g. read the server's CPU time once the warm-up is over
        on_start()
    if duration_s is not None:
        stop_at[0] = t0 + duration_s
    for t in threads:
        t.join()
    result.elapsed_s = time.perf_counter() - t0
    result.client_cpu_s = time.process_time() - cpu0
    return result
