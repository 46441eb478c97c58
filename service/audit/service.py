"""Append-only, hash-chained audit events written in the business transaction."""

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session, select

from service import clock, ids
from service.db import is_postgres
from service.audit.models import AuditChainHead, AuditEvent

GENESIS_HASH = "0" * 64
HEAD_ID = 1
_PENDING = "_audit_pending"


def _digest(data: bytes) -> str:
    try:
        return hashlib.new("sm3", data).hexdigest()
    except ValueError as exc:  # no SM3 in this OpenSSL: refuse rather than chain a weaker hash
        raise RuntimeError("this Python's OpenSSL lacks SM3 (国密); audit chain cannot be "
                           "built") from exc


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    content = {
        "seq": event.seq, "id": event.id, "at": _ts(event.at), "actor_id": event.actor_id,
        "actor_name": event.actor_name, "role": event.role, "action": event.action,
        "object_type": event.object_type, "object_id": event.object_id,
        "summary": event.summary, "request_id": event.request_id,
    }
    payload = prev_hash + json.dumps(content, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":"), default=str)
    return _digest(payload.encode())


def _ts(value: datetime) -> str:
    # SQLite drops the offset on read: hash the UTC instant so both backends agree.
    if value.tzinfo is not None:
        value = value.astimezone(clock.SHANGHAI)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds")


def record(session: Session, *, action: str, object_type: str, object_id: str,
           summary: dict[str, Any] | None = None) -> None:
    """Queue an event; `seal` numbers and chains the queued events just before commit."""
    principal = session.info.get("principal")
    event = AuditEvent(
        seq=0, id=ids.new_id("aud"), at=clock.now(),
        actor_id=getattr(principal, "key_id", None), actor_name=getattr(principal, "name", None),
        role=getattr(principal, "role", "system"), action=action, object_type=object_type,
        object_id=object_id, summary=summary or {}, request_id=session.info.get("request_id"),
        prev_hash="", hash="",
    )
    session.info.setdefault(_PENDING, []).append(event)


def seal(session: Session) -> None:
    """Append the queued events to the chain: the last thing a transaction does before COMMIT.

    The chain head is the one row every audited write locks, so the lock is held for as little
    as possible: one statement takes it and reserves the sequence numbers, the hashes are
    computed in Python, and one more statement (two on SQLite) writes the events and the new
    head. Nothing else runs between the lock and COMMIT.
    """
    pending: list[AuditEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return
    head = AuditChainHead.__table__
    last_seq, prev = session.execute(
        update(head).where(head.c.id == HEAD_ID)
        .values(last_seq=head.c.last_seq + len(pending))
        .returning(head.c.last_seq, head.c.last_hash)).one()
    rows = []
    for seq, event in enumerate(pending, start=last_seq - len(pending) + 1):
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = event_hash(prev, event)
        rows.append(event.model_dump())
    events = AuditEvent.__table__
    if is_postgres(session):
        new_head = update(head).where(head.c.id == HEAD_ID).values(last_hash=prev).cte("new_head")
        session.execute(insert(events).values(rows).add_cte(new_head))
    else:
        session.execute(insert(events), rows)
        session.execute(update(head).where(head.c.id == HEAD_ID).values(last_hash=prev))


def verify(session: Session, batch: int = 5000) -> dict[str, Any]:
    prev, expected_seq, checked = GENESIS_HASH, 1, 0
    last_seq = 0
    while True:
        events = session.exec(select(AuditEvent).where(AuditEvent.seq > last_seq)
                              .order_by(AuditEvent.seq).limit(batch)).all()
        if not events:
            break
        for event in events:
            problem = None
            if event.seq != expected_seq:
                problem = f"sequence gap: expected {expected_seq}, found {event.seq}"
            elif event.prev_hash != prev:
                problem = "prev_hash does not match the previous event's hash"
            elif event_hash(prev, event) != event.hash:
                problem = "hash does not match the event's content"
            if problem:
                return {"ok": False, "checked": checked, "first_broken_seq": event.seq,
                        "first_broken_id": event.id, "problem": problem}
            prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
            last_seq = event.seq
    head = session.get(AuditChainHead, HEAD_ID)
    if head is not None and head.last_seq < last_seq:
        first = head.last_seq + 1
        row = session.exec(select(AuditEvent.id).where(AuditEvent.seq == first)).first()
        return {"ok": False, "checked": head.last_seq, "first_broken_seq": first,
                "first_broken_id": row, "problem": "events were added beyond the chain head"}
    if head is not None and (head.last_seq != last_seq or head.last_hash != prev):
        return {"ok": False, "checked": checked, "first_broken_seq": last_seq + 1,
                "first_broken_id": None,
                "problem": "events after the last one found are missing (chain head is ahead)"}
    return {"ok": True, "checked": checked, "first_broken_seq": None, "first_broken_id": None,
            "problem": None}
