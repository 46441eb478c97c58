"""Append-only, hash-chained audit events written in the business transaction."""

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, or_, update
from sqlalchemy import event as sa_event
from sqlmodel import Session, select

from service.kit import clock, ids
from service.audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from service.kit.rows import insert_many

GENESIS_HASH = "0" * 64
HEAD_ID = 1
_PENDING = "_audit_pending"


def _digest(data: bytes) -> str:
    try:
        return hashlib.new("sm3", data).hexdigest()
    except ValueError as exc:  # no SM3 in this OpenSSL: refuse rather than chain a weaker hash
        raise RuntimeError("this Python's OpenSSL lacks SM3 (国密); audit chain cannot be "
                           "built") from exc


def event_hash(prev_hash: str, event: Any) -> str:
    """The SM3 hash of an event (anything with the AuditEvent attributes) after `prev_hash`."""
    return _chained(prev_hash, {
        "seq": event.seq, "id": event.id, "at": _ts(event.at), "actor_id": event.actor_id,
        "actor_name": event.actor_name, "role": event.role, "action": event.action,
        "object_type": event.object_type, "object_id": event.object_id,
        "summary": event.summary, "request_id": event.request_id,
    })


def _chained(prev_hash: str, content: dict[str, Any]) -> str:
    digest = _sm3().copy()
    digest.update((prev_hash + _canonical_json(content)).encode())
    return digest.hexdigest()


def _ts(value: datetime) -> str:
    # SQLite drops the offset on read: hash the UTC instant so both backends agree.
    if value.tzinfo is not None:
        value = value.astimezone(clock.SHANGHAI)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds")


def record(session: Session, *, action: str, object_type: str, object_id: str,
           summary: dict[str, Any] | None = None, by: Any = None,
           request_id: str | None = None) -> None:
    """Queue an event; `seal` numbers and chains the queued events just before commit. (A plain
    dict in audit_event's columns: the hot path builds no model object per event.)

    Who the event is by is passed, never read from the session: a group function, which
    writes for several requests at once, names each event's principal (`by`, anything with
    the Principal attributes) and request; a plain write leaves them out and the unit of work
    attributes what it queued to its Write (`attribute`). An event nobody attributes is the
    system's."""
    event = {"id": ids.new_id("aud"), "at": clock.now(), "action": action,
             "object_type": object_type, "object_id": object_id, "summary": summary or {}}
    if by is not None or request_id is not None:
        _by(event, by, request_id)
    session.info.setdefault(_PENDING, []).append(event)


def attribute(session: Session, since: int, *, by: Any, request_id: str | None) -> None:
    """Name `by` and `request_id` on the events queued after the mark `since` that do not name
    anyone yet: the unit of work, after a plain write ran, with that write's principal."""
    for event in session.info.get(_PENDING, ())[since:]:
        if "role" not in event:
            _by(event, by, request_id)


def _by(event: dict[str, Any], principal: Any, request_id: str | None) -> None:
    event["actor_id"] = getattr(principal, "key_id", None)
    event["actor_name"] = getattr(principal, "name", None)
    event["role"] = getattr(principal, "role", "system")
    event["request_id"] = request_id


def pending_count(session: Session) -> int:
    """How many events are queued (a mark for drop_pending and attribute)."""
    return len(session.info.get(_PENDING, ()))


def drop_pending(session: Session, mark: int) -> None:
    """Forget the events queued after `mark`: the write that queued them was refused."""
    pending = session.info.get(_PENDING)
    if pending:
        del pending[mark:]


@sa_event.listens_for(Session, "before_commit")
def _refuse_unsealed(session: Session) -> None:
    """An audit event queued and not sealed would be lost silently at COMMIT: refuse. (A
    SAVEPOINT's release fires this too; only the outer COMMIT must find nothing queued.)"""
    if session.info.get(_PENDING) and not session.in_nested_transaction():
        raise RuntimeError(f"{len(session.info[_PENDING])} audit events were queued but not "
                           "sealed; every write goes through service.uow, which seals them")


def seal(session: Session) -> None:
    """Append the queued events to the chain: the last thing a transaction does before COMMIT.

    Once per batch (service/uow.py). The chain head is the one row every audited write locks,
    so the lock is held for as little as possible: one statement takes it and reserves the
    sequence numbers, the hashes are computed in Python, and two more write the events (one
    multi-row INSERT) and the new head. Nothing else runs between the lock and COMMIT.
    """
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, [])
    if not pending:
        return
    for event in pending:
        if "role" not in event:
            _by(event, None, None)
    session.flush()  # the changes the events describe go first
    db = session.connection()
    last_seq, prev = db.execute(_RESERVE, {"n": len(pending)}).one()
    for seq, event in enumerate(pending, start=last_seq - len(pending) + 1):
        event["seq"], event["prev_hash"] = seq, prev
        event["hash"] = prev = _chained(prev, {
            "seq": seq, "id": event["id"], "at": _ts(event["at"]),
            "actor_id": event["actor_id"], "actor_name": event["actor_name"],
            "role": event["role"], "action": event["action"],
            "object_type": event["object_type"], "object_id": event["object_id"],
            "summary": event["summary"], "request_id": event["request_id"]})
    insert_many(session, AuditEvent.__table__, pending)
    db.execute(_SET_HEAD, {"h": prev})


_head = AuditChainHead.__table__
_RESERVE = (update(_head).where(_head.c.id == HEAD_ID)
            .values(last_seq=_head.c.last_seq + bindparam("n"))
            .returning(_head.c.last_seq, _head.c.last_hash))
_SET_HEAD = update(_head).where(_head.c.id == HEAD_ID).values(last_hash=bindparam("h"))


# The columns a verification reads, in this order: the hashed content, then the two links. The
# summary comes as text and is parsed here, which is cheaper than the driver's JSON loader.
_COLUMNS = (AuditEvent.seq, AuditEvent.id, AuditEvent.at, AuditEvent.actor_id,
            AuditEvent.actor_name, AuditEvent.role, AuditEvent.action, AuditEvent.object_type,
            AuditEvent.object_id, cast(AuditEvent.summary, Text), AuditEvent.request_id,
            AuditEvent.prev_hash, AuditEvent.hash)
# json.dumps with event_hash's arguments builds exactly this encoder on every call.
_canonical_json = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                                   default=str).encode


@cache
def _sm3():
    _digest(b"")  # the same refusal as event_hash when this OpenSSL has no SM3
    return hashlib.new("sm3")


def row_hash(prev_hash: str, row: Sequence[Any]) -> str:
    """event_hash for a raw row of _COLUMNS (summary parsed), without an ORM object: the content
    mapping, its serialisation and the digest are event_hash's, so the bytes are identical."""
    seq, event_id, at, actor_id, actor_name, role, action, object_type, object_id, summary, \
        request_id = row[:11]
    content = {
        "seq": seq, "id": event_id, "at": _ts(at), "actor_id": actor_id,
        "actor_name": actor_name, "role": role, "action": action,
        "object_type": object_type, "object_id": object_id,
        "summary": summary, "request_id": request_id,
    }
    return _chained(prev_hash, content)


def verify(session: Session, batch: int = 5000) -> dict[str, Any]:
    """The full verification: every event rehashed and every link checked from the genesis
    hash, and every recorded checkpoint's event still carrying the checkpoint's hash."""
    return full_verification(session, batch)[0]


def full_verification(session: Session, batch: int = 5000) -> tuple[dict[str, Any], str]:
    """verify(), and the hash of the last event it found intact (for a checkpoint)."""
    return _rehash_after(session, seq=0, prev=GENESIS_HASH, batch=batch,
                         disowned=_first_disowned_checkpoint(session))


def verify_since_checkpoint(session: Session, batch: int = 5000) -> dict[str, Any]:
    """The chain check of reconciliation: every link of the whole chain checked in SQL, every
    checkpointed event still carrying its checkpoint's hash, and only the events after the
    latest checkpoint rehashed.

    Weaker than verify() in one way, by design: an event before the latest checkpoint whose
    content was edited without touching its hash is left to the next full verification
    (docs/decisions.md). Without a checkpoint this is the full verification."""
    latest = latest_checkpoint(session)
    if latest is None:
        return verify(session, batch)
    # Both reach only up to the latest checkpoint; at the same seq a broken link is reported,
    # as the full verification would.
    found = [r for r in (_first_broken_link(session, up_to=latest.seq),
                         _first_disowned_checkpoint(session)) if r is not None]
    if found:
        return min(found, key=lambda r: r["first_broken_seq"])
    return _rehash_after(session, seq=latest.seq, prev=latest.hash, batch=batch)[0]


def verify_since(session: Session, *, seq: int, hash: str, batch: int = 5000) -> dict[str, Any]:
    """The chain check of an incremental reconciliation: the events after `seq` (which the last
    clean reconciliation found hashing to `hash`; the caller makes sure it still does) rehashed,
    and the chain head. Event `seq`'s hash commits to every event before it, so a rewrite of the
    chain before it is seen there; an event before it edited without rehashing the chain after
    it is left to the full reconciliation and verification (docs/reconciliation.md)."""
    return _rehash_after(session, seq=seq, prev=hash if seq else GENESIS_HASH, batch=batch)[0]


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.exec(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc(),
                                                         AuditCheckpoint.id.desc())).first()


def record_checkpoint(session: Session, *, seq: int, hash: str) -> None:
    """Remember that events 1..seq, the last hashing to `hash`, passed a full verification."""
    latest = latest_checkpoint(session)
    if seq <= 0 or latest is not None and latest.seq >= seq:
        return
    session.add(AuditCheckpoint(seq=seq, hash=hash, verified_at=clock.now()))
    session.flush()


def _broken(checked: int, seq: int, event_id: str | None, problem: str) -> dict[str, Any]:
    return {"ok": False, "checked": checked, "first_broken_seq": seq,
            "first_broken_id": event_id, "problem": problem}


def _first_disowned_checkpoint(session: Session) -> dict[str, Any] | None:
    """The first checkpoint whose event is gone or no longer has the hash it was verified with:
    a rewrite of the chain from that event on, however consistent, or its truncation."""
    row = session.execute(
        select(AuditCheckpoint.seq, AuditCheckpoint.verified_at, AuditEvent.id)
        .outerjoin(AuditEvent, AuditEvent.seq == AuditCheckpoint.seq)
        .where(or_(AuditEvent.seq.is_(None), AuditEvent.hash != AuditCheckpoint.hash))
        .order_by(AuditCheckpoint.seq).limit(1)).first()
    if row is None:
        return None
    before = session.execute(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.seq < row.seq)).scalar_one()
    return _broken(before, row.seq, row.id, "the checkpointed event is missing" if row.id is None
                   else "hash differs from the one a full verification recorded at "
                        f"{_ts(row.verified_at)}")


def _rehash_after(session: Session, *, seq: int, prev: str, batch: int,
                  disowned: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """Check the events after `seq` (whose hash is `prev`) one by one, then the chain head.
    `disowned`, a checkpoint found not to hold, is reported when the walk reaches it intact.

    Raw rows streamed in batches (a server-side cursor on PostgreSQL), no ORM objects."""
    expected_seq = last_seq = checked = seq
    expected_seq += 1
    disowned_seq = disowned["first_broken_seq"] if disowned else None
    # On the session's connection, not through the ORM: these are plain rows.
    rows = session.connection().execute(select(*_COLUMNS).where(AuditEvent.seq > seq)
                                        .order_by(AuditEvent.seq)
                                        .execution_options(yield_per=batch))
    loads = json.loads
    for part in rows.partitions():
        for row in part:
            event_seq, event_id = row[0], row[1]
            prev_hash, stored_hash = row[11], row[12]
            problem = None
            if event_seq != expected_seq:
                problem = f"sequence gap: expected {expected_seq}, found {event_seq}"
            elif prev_hash != prev:
                problem = "prev_hash does not match the previous event's hash"
            else:
                content = list(row[:11])
                content[9] = loads(content[9])
                if row_hash(prev, content) != stored_hash:
                    problem = "hash does not match the event's content"
                elif event_seq == disowned_seq:
                    problem = disowned["problem"]
            if problem:
                rows.close()
                return _broken(checked, event_seq, event_id, problem), prev
            prev, expected_seq, checked, last_seq = stored_hash, event_seq + 1, checked + 1, \
                event_seq
    head = session.get(AuditChainHead, HEAD_ID)
    if head is not None and head.last_seq < last_seq:
        first = head.last_seq + 1
        row = session.exec(select(AuditEvent.id).where(AuditEvent.seq == first)).first()
        return _broken(head.last_seq, first, row,
                       "events were added beyond the chain head"), prev
    if head is not None and (head.last_seq != last_seq or head.last_hash != prev):
        return _broken(checked, last_seq + 1, None,
                       "events after the last one found are missing (chain head is ahead)"), prev
    if disowned is not None:  # beyond the last event: the chain was cut back, head and all
        return _broken(checked, disowned_seq, None, disowned["problem"]), prev
    return {"ok": True, "checked": checked, "first_broken_seq": None, "first_broken_id": None,
            "problem": None}, prev


def _first_broken_link(session: Session, *, up_to: int) -> dict[str, Any] | None:
    """The first event up to `up_to` that does not follow its predecessor (a sequence gap, or a
    prev_hash that is not the previous event's hash), found by PostgreSQL/SQLite, not Python."""
    order = {"order_by": AuditEvent.seq}
    links = select(AuditEvent.seq, AuditEvent.id, AuditEvent.prev_hash,
                   func.lag(AuditEvent.seq, 1, 0).over(**order).label("before_seq"),
                   func.lag(AuditEvent.hash, 1, GENESIS_HASH).over(**order).label("before_hash")
                   ).where(AuditEvent.seq <= up_to).subquery()
    row = session.execute(select(links).where(or_(
        links.c.seq != links.c.before_seq + 1, links.c.prev_hash != links.c.before_hash))
        .order_by(links.c.seq).limit(1)).first()
    if row is None:
        return None
    if row.seq != row.before_seq + 1:
        return _broken(row.before_seq, row.seq, row.id,
                       f"sequence gap: expected {row.before_seq + 1}, found {row.seq}")
    return _broken(row.seq - 1, row.seq, row.id,
                   "prev_hash does not match the previous event's hash")
