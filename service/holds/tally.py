"""What pending holds reserve, as every read and write counts it, and the one way a hold's
reservation goes back to its vouchers (void, expiry, the rest of a capture).

Expiry is exact without a sweeper: a hold whose `expires_at` has passed counts as `expired`
(its amount available again) from that instant on, whatever its stored status says. The ledger
learns of it when the next write touching its vouchers, or the background pass
(`holds/expiry.py`), releases it: `release_expired` — once, by a conditional UPDATE."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select, update
from sqlmodel import Session

from service.alerts.models import WebhookDelivery
from service.alerts.service import webhook_urls
from service.audit import service as audit
from service.auth.principal import SYSTEM
from service.holds.models import Hold, HoldDraw
from service.kit import clock, ids
from service.ledger import service as ledger
from service.vouchers.models import Voucher

ACCOUNT_KIND = "hold"  # the year's account pending holds sit in (ledger.ACCOUNT_FLAGS)


def live(now: datetime) -> Any:
    """The condition of a hold that still reserves: pending and not yet at its expiry."""
    return and_(Hold.status == "pending", Hold.expires_at > now)


def status_sql(now: datetime) -> Any:
    """The status every read shows: a pending hold past its expiry is `expired`."""
    return case((and_(Hold.status == "pending", Hold.expires_at <= now), "expired"),
                else_=Hold.status)


def status_of(hold: Any, now: datetime | None = None) -> str:
    """`status_sql` for a row already read."""
    now = now or clock.now()
    expires_at = hold.expires_at
    if expires_at.tzinfo is None:  # SQLite gives back Shanghai wall time
        expires_at = expires_at.replace(tzinfo=clock.SHANGHAI)
    return "expired" if hold.status == "pending" and expires_at <= now else hold.status


_HELD = (select(HoldDraw.voucher_id, func.sum(HoldDraw.amount_fen))
         .join(Hold, Hold.id == HoldDraw.hold_id)
         .where(HoldDraw.voucher_id.in_(bindparam("ids", expanding=True)),
                Hold.status == "pending", Hold.expires_at > bindparam("now"))
         .group_by(HoldDraw.voucher_id))


def held_by_voucher(session: Session, voucher_ids: Iterable[str],
                    now: datetime | None = None) -> dict[str, int]:
    """voucher id → fen its live holds reserve (absent: nothing held)."""
    wanted = sorted(set(voucher_ids))
    if not wanted:
        return {}
    rows = session.connection().execute(_HELD, {"ids": wanted, "now": now or clock.now()})
    return {voucher_id: int(total) for voucher_id, total in rows}


def held_in_year(session: Session, year: int, *, enterprise_id: str | None = None,
                 now: datetime | None = None) -> int:
    """Fen live holds reserve in the year (of one enterprise when named)."""
    stmt = select(func.coalesce(func.sum(Hold.amount_fen), 0)).where(
        Hold.year == year, live(now or clock.now()))
    if enterprise_id is not None:
        stmt = stmt.where(Hold.enterprise_id == enterprise_id)
    return int(session.execute(stmt).scalar_one())


def release(session: Session, hold: Any, *, status: str, keep: dict[str, int] | None = None,
            reason: str | None = None, by: Any = None, summary: dict | None = None) -> int:
    """Resolve a pending hold once: a conditional UPDATE (status still `pending`) marks it
    `status`, and what it reserved beyond `keep` (voucher id → fen a capture took) goes back
    from the hold account to each voucher. Returns the fen released, or -1 when another
    transaction resolved it first (nothing is written then)."""
    keep = keep or {}
    draws = session.execute(
        select(HoldDraw.voucher_id, HoldDraw.amount_fen, Voucher.ledger_account_id)
        .join(Voucher, Voucher.id == HoldDraw.voucher_id)
        .where(HoldDraw.hold_id == hold.id).order_by(HoldDraw.draw_no)).all()
    back = [(v, acc, amount - keep.get(v, 0)) for v, amount, acc in draws]
    released = sum(amount for _, _, amount in back)
    now = clock.now()
    changed = session.execute(
        update(Hold).where(Hold.id == hold.id, Hold.status == "pending").values(
            status=status, resolved_at=now, released_fen=released,
            captured_fen=hold.amount_fen - released, reason=reason)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        return -1
    hold_account = ledger.account_id(session, hold.year, ACCOUNT_KIND)
    ledger.post_many(session, [
        {"id": ids.new_id("trf"), "year": hold.year, "debit_account_id": hold_account,
         "credit_account_id": acc, "amount_fen": amount, "kind": f"hold_{status}",
         "reference": hold.id, "created_at": now}
        for _, acc, amount in back if amount > 0])
    audit.record(session, action=f"hold.{_VERB[status]}", object_type="hold", object_id=hold.id,
                 by=by, summary={"year": hold.year, "amount_fen": hold.amount_fen,
                                 "released_fen": released, **({"reason": reason} if reason
                                                              else {}), **(summary or {})})
    return released


_VERB = {"captured": "capture", "voided": "void", "expired": "expire"}

_EXPIRED = (select(Hold).where(Hold.status == "pending", Hold.expires_at <= bindparam("now"))
            .order_by(Hold.expires_at, Hold.id))


def release_expired(session: Session, *, voucher_ids: Sequence[str] | None = None,
                    limit: int | None = None) -> list[str]:
    """Record in the ledger and the audit chain the holds whose expiry has passed (of these
    vouchers, or any), and queue a `hold.expired` webhook for each: the ids released."""
    now = clock.now()
    stmt = _EXPIRED
    if voucher_ids is not None:
        if not voucher_ids:
            return []
        stmt = stmt.where(Hold.id.in_(select(HoldDraw.hold_id).where(
            HoldDraw.voucher_id.in_(sorted(set(voucher_ids))))))
    if limit:
        stmt = stmt.limit(limit)
    done = []
    for hold in session.execute(stmt, {"now": now}).scalars().all():
        if release(session, hold, status="expired", by=SYSTEM) >= 0:
            done.append(hold.id)
            _notify(session, hold, now)
    return done


def _notify(session: Session, hold: Hold, now: datetime) -> None:
    payload = {"event": "hold.expired", "hold_id": hold.id, "year": hold.year,
               "enterprise_id": hold.enterprise_id, "provider_id": hold.provider_id,
               "amount_fen": hold.amount_fen, "expires_at": hold.expires_at.isoformat(),
               "at": now.isoformat()}
    for url in webhook_urls():
        session.add(WebhookDelivery(id=ids.new_id("whd"), alert_id=None, url=url,
                                    payload=payload, next_attempt_at=now))


def void_pending(session: Session, *, reason: str, voucher_ids: Sequence[str] = (),
                 year: int | None = None, by: Any = None) -> list[str]:
    """Void, with `reason`, every stored-pending hold on these vouchers or of this year: what
    revoking a voucher and closing a year do first (docs/holds.md). An expired one is recorded
    as expired, as the background pass would have. The ids resolved."""
    stmt = select(Hold).where(Hold.status == "pending").order_by(Hold.id)
    if year is not None:
        stmt = stmt.where(Hold.year == year)
    if voucher_ids:
        stmt = stmt.where(Hold.id.in_(select(HoldDraw.hold_id).where(
            HoldDraw.voucher_id.in_(sorted(set(voucher_ids))))))
    elif year is None:
        return []
    now, done = clock.now(), []
    for hold in session.execute(stmt).scalars().all():
        expired = status_of(hold, now) == "expired"
        if release(session, hold, status="expired" if expired else "voided",
                   reason=None if expired else reason, by=SYSTEM if expired else by) >= 0:
            done.append(hold.id)
            if expired:
                _notify(session, hold, now)
    return done
