"""Budget threshold alerts with signed, retried webhook deliveries; metrics; request ids."""

import hashlib
import hmac
import io
import json
import logging
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from service.kit import clock
from service.alerts import service as alerts
from service.kit.config import get_settings
from service.logs import JsonFormatter
from tests.conftest import sql


class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers with the queued status codes."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver(monkeypatch):
    r = Receiver()
    monkeypatch.setenv("ALERT_WEBHOOK_URLS", r.url)
    monkeypatch.setenv("ALERT_WEBHOOK_SECRET", "s3cret")
    get_settings.cache_clear()
    yield r
    r.close()
    get_settings.cache_clear()


def test_thresholds_recorded_once_and_delivered_signed(api, receiver, today):
    today("2026-06-15")
    api.year(2026, pool_fen=1_000_000)
    ent = api.enterprise()
    api.voucher(ent["id"], 799_999)
    assert sql(api.engine, "SELECT count(*) FROM budget_alert").scalar() == 0
    api.voucher(ent["id"], 1)  # exactly 80%
    api.voucher(ent["id"], 100_000)  # 90%: nothing new
    assert sql(api.engine, "SELECT threshold_bp FROM budget_alert").scalars().all() == [8000]
    api.voucher(ent["id"], 50_000)  # 95%
    assert sorted(sql(api.engine, "SELECT threshold_bp FROM budget_alert").scalars()) == [
        8000, 9500]
    assert alerts.deliver_due(api.engine) == 2
    assert len(receiver.received) == 2
    headers, body = receiver.received[0]
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Voucher-Signature"] == expected
    payload = json.loads(body)
    assert (payload["event"], payload["threshold_bp"], payload["issued_net_fen"]) == (
        "budget.threshold_crossed", 8000, 800_000)
    assert sql(api.engine, "SELECT count(*) FROM webhook_delivery WHERE status = 'delivered'"
               ).scalar() == 2


def test_failed_delivery_retries_with_backoff_and_survives_restart(api, receiver, monkeypatch,
                                                                   today):
    today("2026-06-15")
    api.year(2026, pool_fen=100)
    ent = api.enterprise()
    receiver.statuses = [500]
    api.voucher(ent["id"], 80)  # the request succeeds whatever the webhook does
    assert alerts.deliver_due(api.engine) == 1
    row = sql(api.engine, "SELECT status, attempts, last_error FROM webhook_delivery").one()
    assert tuple(row) == ("pending", 1, "HTTP 500")
    assert alerts.deliver_due(api.engine) == 0  # backing off: not due yet
    later = clock.now() + timedelta(seconds=61)
    monkeypatch.setattr(clock, "now", lambda: later)
    # a fresh worker (as after a restart) picks the row up from the database
    worker = alerts.DeliveryWorker(api.engine, interval_s=0.05)
    worker.start()
    for _ in range(100):
        if sql(api.engine, "SELECT status FROM webhook_delivery").scalar() == "delivered":
            break
        threading.Event().wait(0.05)
    worker.stop()
    assert sql(api.engine, "SELECT status, attempts FROM webhook_delivery").one() == (
        "delivered", 2)


def test_unreachable_webhook_never_blocks_issuance(api, monkeypatch, today):
    today("2026-06-15")
    monkeypatch.setenv("ALERT_WEBHOOK_URLS", "http://127.0.0.1:9/unreachable")
    get_settings.cache_clear()
    try:
        api.year(2026, pool_fen=100)
        ent = api.enterprise()
        assert api.voucher(ent["id"], 100)["face_fen"] == 100
        assert alerts.deliver_due(api.engine) == 2  # 80% and 95% crossed at once
        rows = sql(api.engine, "SELECT status, last_error FROM webhook_delivery").all()
        assert [status for status, _ in rows] == ["pending", "pending"]
        assert all(error.startswith("ConnectError") for _, error in rows)
    finally:
        get_settings.cache_clear()


def test_request_id_echoed_and_stored_on_audit_event(api):
    r = api.client.post("/v1/years", headers={**api.admin, "X-Request-ID": "req-abc-123"},
                        json={"year": 2026})
    assert r.status_code == 201
    assert r.headers["x-request-id"] == "req-abc-123"
    event = api.ok("GET", "/v1/audit-events", params={"action": "year.create"})["items"][0]
    assert event["request_id"] == "req-abc-123"
    generated = api.client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32


def test_metrics_exposes_requests_and_business_gauges(api):
    api.year(2026, pool_fen=1_000)
    api.voucher(api.enterprise()["id"], 400)
    text = api.client.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/v1/vouchers",status="201"}' in text
    assert 'http_request_duration_seconds_bucket{method="POST",route="/v1/years",le="+Inf"}' \
        in text
    assert 'voucher_pool_available_fen{year="2026"} 600' in text
    assert 'voucher_outstanding_fen{year="2026"} 400' in text


def test_health_and_readiness(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json()["status"] == "ready"


def test_json_logs_carry_request_id(api):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("service.access")
    access.addHandler(handler)
    try:
        api.client.get("/healthz", headers={"X-Request-ID": "log-check-1"})
    finally:
        access.removeHandler(handler)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    entry = next(x for x in lines if x.get("request_id") == "log-check-1")
    assert (entry["event"], entry["status"], entry["route"]) == ("request", 200, "/healthz")
    assert isinstance(datetime.fromisoformat(entry["time"].replace("+0000", "+00:00")), datetime)
