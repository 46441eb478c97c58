"""The one audited unit of work every write goes through (docs/write-path.md).

`execute(engine, writes)` runs a list of writes as ONE database transaction:

1. the rows the batch spends are locked in one global order (`Locks`: vouchers by id, then
   invoices by id), so batches from several processes cannot deadlock on them;
2. each write claims its Idempotency-Key (a stored answer is replayed, a reused key refused);
3. each write runs: a plain write inside its own SAVEPOINT, so that its refusal (any
   DomainError) rolls back what it wrote and nothing else; writes of one *group* (redemptions)
   are handed together to the group's function, which decides each of them with the same rule
   functions and writes the accepted ones set-based;
4. the idempotency records of the answered writes are stored: the response, or what
   `Write.stored` keeps of it (never a secret), and the problem of a refusal;
5. the audit events queued by every accepted write are sealed onto the chain once;
6. COMMIT. Only then is any write answered.

A serialisation failure or deadlock (40001, 40P01) anywhere retries the whole batch; a lost
database answers every write with 503. `run_write` is a batch of one in the caller's thread (the
CLI, the demo, the auth-failure log, the test factories); the HTTP layer hands writes to the
process's `Batcher`, which collects concurrent ones for a few milliseconds (group commit).
"""

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import bindparam, select, text, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from service.kit import clock
from service.audit import service as audit
from service.auth.principal import Principal
from service.kit.db import (
    RETRY_ATTEMPTS,
    RETRYABLE_SQLSTATES,
    UNIQUE_VIOLATION,
    is_unavailable,
    run_transaction,
    sqlstate,
)
from service.kit.errors import DatabaseUnavailable, DomainError, IdempotencyInFlight, \
    IdempotencyKeyReused
from service.idempotency_models import IdempotencyRecord
from service.kit.rows import insert_many

log = logging.getLogger(__name__)

ATTEMPTS = RETRY_ATTEMPTS
# Refusals that are not an answer to the request itself, so not remembered for replay.
# A rate limit (service/ratelimit) refuses the moment, not the request: a retry may succeed.
_NOT_REMEMBERED = ("idempotency_key_reused", "idempotency_in_flight", "rate_limited")


@dataclass(frozen=True)
class Idempotency:
    api_key_id: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class Locks:
    """Rows a write will spend, locked for the whole batch in one global order before any write
    runs: every voucher of these enterprises by id, then these invoices by id."""

    voucher_enterprise_ids: tuple[str, ...] = ()
    invoice_ids: tuple[str, ...] = ()


@dataclass
class Write:
    """One write request. `fn(session)` for a plain write; for a grouped write, `group` is
    called once per batch with the session and all the batch's writes of that group, and
    answers each with a result or a DomainError (`args` carries the request)."""

    principal: Principal
    fn: Callable[[Session], Any] | None = None
    group: Callable[[Session, Sequence["Write"]], list[Any]] | None = None
    args: Any = None
    request_id: str | None = None
    idempotency: Idempotency | None = None
    status_code: int = 200
    shape: Callable[[Any], Any] = jsonable_encoder
    stored: Callable[[Any], Any] | None = None
    locks: Locks | None = None
    solo: bool = False  # runs in a batch of its own (large imports, year close)
    instance: str | None = None  # the request path, for a remembered refusal's problem body


@dataclass
class Outcome:
    """What a write is answered with: status, body, whether it was a replay, and the raw
    result of fn (for callers in-process)."""

    status_code: int
    body: Any
    replayed: bool = False
    result: Any = None


@dataclass(eq=False)  # compared by identity: two writes may carry equal requests
class _State:
    write: Write
    outcome: Outcome | BaseException | None = None
    record: dict | None = None  # idempotency record to store


def execute(engine: Engine, writes: Sequence[Write]) -> list[Outcome | BaseException]:
    """Run the writes as one transaction (see the module docstring); each is answered with an
    Outcome or the exception that refused it. Never raises for one write's refusal. Retries
    are db.run_transaction's, the one retry loop."""
    def batch(session: Session) -> list[Outcome | BaseException]:
        states = _run_batch(session, writes)
        audit.seal(session)
        return [s.outcome for s in states]
    try:
        return run_transaction(engine, batch, attempts=ATTEMPTS)
    except DatabaseUnavailable as exc:
        return [exc for _ in writes]
    except Exception as exc:
        log.exception("a batch of %d writes failed", len(writes))
        return [exc for _ in writes]


def run_write(engine: Engine, fn: Callable[[Session], Any], *, principal: Principal,
              request_id: str | None = None) -> Any:
    """A batch of one write in this thread; returns fn's result or raises its refusal."""
    outcome = execute(engine, [Write(principal=principal, fn=fn, request_id=request_id,
                                     shape=lambda result: None)])[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome.result


def group_of_one(session: Session, group: Callable[[Session, Sequence[Write]], list[Any]],
                 *, principal: Principal, args: Any, request_id: str | None = None) -> Any:
    """One grouped write inside the caller's own transaction (the demo's steps): the group
    function with a batch of one; returns its answer or raises its refusal."""
    answer = group(session, [Write(principal=principal, group=group, args=args,
                                   request_id=request_id)])[0]
    if isinstance(answer, BaseException):
        raise answer
    return answer


def _run_batch(session: Session, writes: Sequence[Write]) -> list[_State]:
    states = [_State(w) for w in writes]
    _lock_in_order(session, writes)
    claimed = _claim(session, states)
    plain = [s for s in claimed if s.write.group is None]
    for s in plain:
        _run_plain(session, s)
    groups: dict[Any, list[_State]] = {}
    for s in claimed:
        if s.write.group is not None:
            groups.setdefault(s.write.group, []).append(s)
    for group, members in groups.items():
        _run_group(session, group, members)
    _remember(session, states)
    return states


def _lock_in_order(session: Session, writes: Sequence[Write]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already holds the only write lock
    if len({w.group for w in writes}) == 1 and writes[0].group is not None:
        return  # one group alone reads what it spends FOR UPDATE in this order, first thing
    enterprises = sorted({e for w in writes if w.locks for e in w.locks.voucher_enterprise_ids})
    invoices = sorted({i for w in writes if w.locks for i in w.locks.invoice_ids})
    db = session.connection()
    if enterprises:
        db.execute(_LOCK_VOUCHERS, {"ids": enterprises})
    if invoices:
        db.execute(_LOCK_INVOICES, {"ids": invoices})


_LOCK_VOUCHERS = text("SELECT id FROM voucher WHERE enterprise_id IN :ids ORDER BY id "
                      "FOR UPDATE").bindparams(bindparam("ids", expanding=True))
_LOCK_INVOICES = text("SELECT id FROM invoice WHERE id IN :ids ORDER BY id "
                      "FOR UPDATE").bindparams(bindparam("ids", expanding=True))


# --- idempotency ------------------------------------------------------------------------------

# One statement for the whole batch: each key's advisory lock, held to COMMIT. A try-lock never
# waits, so the order keys are taken in cannot deadlock.
_PG_CLAIM = text("SELECT k, pg_try_advisory_xact_lock(hashtextextended(k, 0)) "
                 "FROM unnest(CAST(:keys AS text[])) AS k")
_STORED = select(IdempotencyRecord.api_key_id, IdempotencyRecord.key,
                 IdempotencyRecord.request_hash, IdempotencyRecord.status_code,
                 IdempotencyRecord.response_body).where(
    tuple_(IdempotencyRecord.api_key_id, IdempotencyRecord.key).in_(
        bindparam("pairs", expanding=True)))


def _claim(session: Session, states: list[_State]) -> list[_State]:
    """Answer the writes whose key already has a stored answer (replay or reuse refusal);
    return the writes still to run. A key sent twice within one batch: the second waits for
    the first's answer (see _remember), as it would have in two batches."""
    keyed = [s for s in states if s.write.idempotency is not None]
    if not keyed:
        return states
    db = session.connection()
    pairs = sorted({(s.write.idempotency.api_key_id, s.write.idempotency.key) for s in keyed})
    stored = {(row.api_key_id, row.key): row for row in db.execute(_STORED, {"pairs": pairs})}
    held = {f"{a}:{k}" for a, k in pairs}
    if session.get_bind().dialect.name == "postgresql":
        held = {k for k, got in db.execute(_PG_CLAIM, {"keys": sorted(held)}) if got}
    first_of: dict[tuple[str, str], _State] = {}
    to_run = []
    for s in states:
        idem = s.write.idempotency
        if idem is None:
            to_run.append(s)
            continue
        ident = (idem.api_key_id, idem.key)
        if ident in first_of:
            continue  # answered after the first one ran
        if f"{idem.api_key_id}:{idem.key}" not in held:
            s.outcome = IdempotencyInFlight()
            continue
        first_of[ident] = s
        row = stored.get(ident)
        if row is None:
            to_run.append(s)
        elif row.request_hash != idem.request_hash:
            s.outcome = _reused()
        else:
            s.outcome = _replay(row.status_code, row.response_body)
    for s in states:
        idem = s.write.idempotency
        if idem is not None and s.outcome is None and s not in to_run:
            s.outcome = _Later(first_of[(idem.api_key_id, idem.key)])
    return to_run


REPLAYED_REFUSAL = ("(replayed: this is the stored answer to the first request with this "
                    "Idempotency-Key; send a new Idempotency-Key to try again)")


def _replay(status_code: int, body: Any) -> Outcome:
    """The stored first answer to a key, answered again (PRODUCT.md §4). A refusal's detail
    says that it is a replay: what refused it may have changed since (a provider approved, a
    payment recorded), and only a new key runs the request again. Nothing else differs."""
    if status_code >= 400 and isinstance(body, dict) and isinstance(body.get("detail"), str):
        body = {**body, "detail": f"{body['detail']} {REPLAYED_REFUSAL}"}
    return Outcome(status_code, body, replayed=True)


def _reused() -> IdempotencyKeyReused:
    return IdempotencyKeyReused("this Idempotency-Key was first used with another request")


@dataclass
class _Later:
    """A repeat of a key within the batch: answered like the first write, once it ran."""

    first: _State


def _answer_repeats(states: list[_State]) -> None:
    for s in states:
        if isinstance(s.outcome, _Later):
            first = s.outcome.first
            if s.write.idempotency.request_hash != first.write.idempotency.request_hash:
                s.outcome = _reused()
            elif isinstance(first.outcome, Outcome):
                stored = first.record["response_body"] if first.record else first.outcome.body
                s.outcome = _replay(first.outcome.status_code, stored)
            else:
                s.outcome = first.outcome


# --- running writes ---------------------------------------------------------------------------

def _run_plain(session: Session, s: _State) -> None:
    w = s.write
    for attempt in (1, 2):
        mark = audit.pending_count(session)
        savepoint = session.begin_nested()
        try:
            result = w.fn(session)
            # Who its events are by: this write's principal, named here, not read from the
            # session by the domain that recorded them.
            audit.attribute(session, mark, by=w.principal, request_id=w.request_id)
            body = w.shape(result)
            session.flush()
            savepoint.commit()
            s.outcome = Outcome(w.status_code, body, result=result)
            return
        except DomainError as exc:
            savepoint.rollback()
            audit.drop_pending(session, mark)
            s.outcome = exc
            return
        except DBAPIError as exc:
            savepoint.rollback()
            audit.drop_pending(session, mark)
            state = sqlstate(exc)
            if state in RETRYABLE_SQLSTATES or is_unavailable(exc):
                raise  # the whole batch
            # A unique violation: another transaction committed the same row first. Run the
            # write again, once: its own checks now see that row and refuse as a later
            # duplicate would, instead of a 500.
            if state == UNIQUE_VIOLATION and attempt == 1:
                continue
            log.exception("write failed")
            s.outcome = exc
            return
        except Exception as exc:  # a bug in one write must not lose the others
            savepoint.rollback()
            audit.drop_pending(session, mark)
            log.exception("write failed")
            s.outcome = exc
            return


def _run_group(session: Session, group, members: list[_State]) -> None:
    """A group function decides every member with the rule functions and writes the accepted
    ones; it raises nothing for a member's refusal (it returns the DomainError in its place)."""
    results = group(session, [s.write for s in members])
    session.flush()
    for s, result in zip(members, results, strict=True):
        if isinstance(result, BaseException):
            s.outcome = result
        else:
            s.outcome = Outcome(s.write.status_code, s.write.shape(result), result=result)


def _remember(session: Session, states: list[_State]) -> None:
    """Store the answers of keyed writes (and of refusals, so a retry gets the same problem)."""
    rows = []
    for s in states:
        idem = s.write.idempotency
        if idem is None or isinstance(s.outcome, _Later) or s.outcome is None:
            continue
        if isinstance(s.outcome, Outcome):
            if s.outcome.replayed:
                continue
            body = s.write.stored(s.outcome.body) if s.write.stored else s.outcome.body
            status = s.outcome.status_code
        elif isinstance(s.outcome, DomainError) and s.outcome.status < 500 and \
                s.outcome.code not in _NOT_REMEMBERED:
            body = s.outcome.problem()
            if s.write.instance:
                body["instance"] = s.write.instance
            status = s.outcome.status
        else:
            continue
        s.record = {"api_key_id": idem.api_key_id, "key": idem.key,
                    "request_hash": idem.request_hash, "status_code": status,
                    "response_body": body, "created_at": clock.now()}
        rows.append(s.record)
    if rows:
        insert_many(session, IdempotencyRecord.__table__, rows)
    _answer_repeats(states)


# --- group commit -----------------------------------------------------------------------------

@dataclass
class _Job:
    write: Write
    future: Future = field(default_factory=Future)


class Batcher:
    """Collects the writes of this process and runs them as batches on a few threads.

    A thread takes the first waiting write, then whatever else arrives within `max_wait_s`
    (up to `max_batch`), runs them with `execute`, and only after COMMIT resolves each write's
    future. `threads` batches may be in flight at once: while one waits for the database
    (its statements, its COMMIT's WAL flush), another is decided in Python. They lock in the
    same global order, so they cannot deadlock on what they spend. A `solo` write runs in a
    batch of its own. Threads start on demand and end after `idle_s` without a write, so an
    idle app holds none."""

    def __init__(self, engine: Engine, *, max_batch: int = 64, max_wait_s: float = 0.002,
                 threads: int = 2, idle_s: float = 5.0):
        self.engine, self.max_batch, self.max_wait_s, self.idle_s = (
            engine, max_batch, max_wait_s, idle_s)
        self.threads = max(1, threads)
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._solo: collections.deque[_Job] = collections.deque()  # taken while collecting
        self._lock = threading.Lock()
        self._running = 0

    def submit(self, write: Write) -> Future:
        job = _Job(write)
        self._queue.put(job)
        with self._lock:
            if self._running < self.threads:
                self._running += 1
                threading.Thread(target=self._loop, name="write-batcher", daemon=True).start()
        return job.future

    def _loop(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                with self._lock:
                    if self._queue.empty() and not self._solo:
                        self._running -= 1
                        return
                continue
            outcomes = execute(self.engine, [job.write for job in batch])
            for job, outcome in zip(batch, outcomes, strict=True):
                job.future.set_result(outcome)

    def _collect(self) -> list[_Job] | None:
        try:
            return [self._solo.popleft()]
        except IndexError:
            pass
        try:
            first = self._queue.get(timeout=self.idle_s)
        except queue.Empty:
            return None
        batch = [first]
        if first.write.solo:
            return batch
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    job = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if job.write.solo:
                self._solo.append(job)
                break
            batch.append(job)
        return batch
