"""Budget threshold alerts and their signed webhook deliveries (an outbox in the database)."""

import hashlib
import hmac
import json
from datetime import timedelta

import httpx
from sqlmodel import Session, select

from service.kit import clock, ids
from service.alerts.models import BudgetAlert, WebhookDelivery
from service.audit import service as audit
from service.kit.config import get_settings
from service.kit.db import is_postgres, run_transaction
from service.kit.periodic import Periodic
from service.kit.rows import insert_if_absent
from service.years.models import BudgetYear

MAX_ATTEMPTS = 10
SIGNATURE_HEADER = "X-Voucher-Signature"


def check_thresholds(session: Session, budget: BudgetYear, pool_balance_fen: int) -> None:
    """Called after issuance in the same transaction: record each newly crossed threshold once."""
    issued_net = budget.pool_fen - pool_balance_fen
    if budget.pool_fen <= 0:
        return
    for threshold in sorted(budget.alert_thresholds_bp):
        if issued_net * 10_000 < threshold * budget.pool_fen:
            break
        exists = session.exec(select(BudgetAlert.id).where(
            BudgetAlert.year == budget.year, BudgetAlert.threshold_bp == threshold)).first()
        if exists:
            continue
        alert_id = ids.new_id("alr")
        insert_if_absent(session, BudgetAlert, id=alert_id, year=budget.year,
                         threshold_bp=threshold, issued_net_fen=issued_net,
                         pool_fen=budget.pool_fen, created_at=clock.now())
        if session.get(BudgetAlert, alert_id) is None:
            continue  # another transaction recorded it first
        payload = {"event": "budget.threshold_crossed", "alert_id": alert_id,
                   "year": budget.year, "threshold_bp": threshold, "issued_net_fen": issued_net,
                   "pool_fen": budget.pool_fen, "at": clock.now().isoformat()}
        for url in webhook_urls():
            session.add(WebhookDelivery(id=ids.new_id("whd"), alert_id=alert_id, url=url,
                                        payload=payload, next_attempt_at=clock.now()))
        audit.record(session, action="budget.alert", object_type="budget_year",
                     object_id=str(budget.year), summary=payload)


def webhook_urls() -> list[str]:
    return [u.strip() for u in get_settings().alert_webhook_urls.split(",") if u.strip()]


def sign(body: bytes, secret: str | None = None) -> str:
    secret = secret if secret is not None else get_settings().alert_webhook_secret
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_due(engine, *, client: httpx.Client | None = None, limit: int = 20) -> int:
    """Deliver the pending webhooks that are due; back off 2^attempts seconds on failure."""
    def claim(session: Session) -> list[WebhookDelivery]:
        stmt = select(WebhookDelivery).where(WebhookDelivery.status == "pending",
                                             WebhookDelivery.next_attempt_at <= clock.now()) \
            .order_by(WebhookDelivery.next_attempt_at).limit(limit)
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(session.exec(stmt))
        for row in rows:  # lease them for a minute so a parallel worker skips them
            row.next_attempt_at = clock.now() + timedelta(seconds=60)
            session.add(row)
        return rows

    rows = run_transaction(engine, claim)
    own_client = client is None
    client = client or httpx.Client(timeout=5.0)
    try:
        for row in rows:
            body = json.dumps(row.payload, sort_keys=True, ensure_ascii=False).encode()
            error = None
            try:
                response = client.post(row.url, content=body, headers={
                    "Content-Type": "application/json", SIGNATURE_HEADER: sign(body),
                    "X-Voucher-Delivery": row.id})
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
            run_transaction(engine, lambda s, r=row, e=error: _record_attempt(s, r.id, e))
    finally:
        if own_client:
            client.close()
    return len(rows)


def _record_attempt(session: Session, delivery_id: str, error: str | None) -> None:
    row = session.get(WebhookDelivery, delivery_id)
    row.attempts += 1
    if error is None:
        row.status, row.delivered_at, row.last_error = "delivered", clock.now(), None
    else:
        row.last_error = error
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        else:
            row.next_attempt_at = clock.now() + timedelta(seconds=min(3600, 2 ** row.attempts))
    session.add(row)


class DeliveryWorker(Periodic):
    """A daemon thread in each API process; the outbox rows make it safe across restarts."""

    def __init__(self, engine, interval_s: float = 2.0):
        super().__init__("webhook-worker", lambda: deliver_due(engine), interval_s,
                         at_start=True)

    def start(self) -> None:
        if webhook_urls():
            super().start()


