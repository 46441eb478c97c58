"""Audit checkpoints: a full verification records one, reconciliation then rehashes only the
events after it while still checking every link in SQL. What reconciliation still detects, and
the one edit it leaves to the full verification (docs/decisions.md)."""

import json
import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from service.kit import clock
from service.audit import service as audit
from service.audit.models import AuditEvent
from service.auth.principal import SYSTEM
from service.uow import run_write
from tests.conftest import sql


@pytest.fixture
def chain(api):
    """A chain with a checkpoint in the middle: events 1..checkpoint verified, more after."""
    api.year(2026, pool_fen=10_000_000)
    for _ in range(3):
        api.voucher(api.enterprise()["id"], 100_000)
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True
    checkpoint = _last_seq(api)
    for _ in range(2):
        api.voucher(api.enterprise()["id"], 100_000)
    return api, checkpoint


def _last_seq(api) -> int:
    return sql(api.engine, "SELECT MAX(seq) FROM audit_event").scalar()


def _checkpoints(api) -> list[tuple[int, str]]:
    return [tuple(r) for r in sql(api.engine, "SELECT seq, hash FROM audit_checkpoint "
                                              "ORDER BY id")]


def _reconciled(api) -> dict:
    result = api.ok("GET", "/v1/years/2026/reconciliation")
    return next(c for c in result["checks"] if c["name"] == "audit_chain_intact")


def _verified(api) -> dict:
    return api.ok("GET", "/v1/audit-events/verify")


def test_a_full_verification_records_a_checkpoint(chain):
    api, checkpoint = chain
    seq_hash = sql(api.engine, "SELECT seq, hash FROM audit_event WHERE seq = :s",
                   s=checkpoint).one()
    assert _checkpoints(api) == [tuple(seq_hash)]
    _verified(api)
    _verified(api)  # nothing new: no second checkpoint for the same events
    last = sql(api.engine, "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").one()
    assert _checkpoints(api) == [tuple(seq_hash), tuple(last)]


def test_a_failed_verification_records_no_checkpoint(chain):
    api, checkpoint = chain
    sql(api.engine, "UPDATE audit_event SET role = 'auditor' WHERE seq = :s", s=checkpoint + 1)
    assert _verified(api)["ok"] is False
    assert [seq for seq, _ in _checkpoints(api)] == [checkpoint]


def test_reconciliation_from_a_checkpoint_counts_the_whole_chain(chain):
    api, _ = chain
    result = _reconciled(api)
    assert (result["ok"], result["actual"]) == (True, f"{_last_seq(api)} events")


def _event(api, seq: int) -> AuditEvent:
    with Session(api.engine) as session:
        return session.get(AuditEvent, seq)


@pytest.mark.parametrize("where", ["before", "after"])
def test_an_edited_event_is_found_by_both_unless_before_the_checkpoint(chain, where):
    api, checkpoint = chain
    seq = 2 if where == "before" else checkpoint + 1
    sql(api.engine, "UPDATE audit_event SET object_id = 'someone-else' WHERE seq = :s", s=seq)
    full = _verified(api)
    assert (full["first_broken_seq"], full["problem"]) == (
        seq, "hash does not match the event's content")
    reconciled = _reconciled(api)
    if where == "after":
        assert reconciled["discrepancies"] == [{
            "first_broken_seq": seq, "problem": "hash does not match the event's content"}]
    else:
        # The trade-off: content edited before the checkpoint with its hash left alone is for
        # the full verification (above) to find, not reconciliation.
        assert reconciled["ok"] is True


def test_an_edited_hash_before_the_checkpoint_breaks_the_next_link(chain):
    api, checkpoint = chain
    forged = _event(api, 2)
    forged.object_id = "someone-else"
    sql(api.engine, "UPDATE audit_event SET object_id = 'someone-else', hash = :h WHERE seq = 2",
        h=audit.event_hash(forged.prev_hash, forged))
    assert _reconciled(api)["discrepancies"] == [{
        "first_broken_seq": 3, "problem": "prev_hash does not match the previous event's hash"}]
    assert _verified(api)["first_broken_seq"] == 3


def test_a_relinked_event_before_the_checkpoint(chain):
    api, _ = chain
    sql(api.engine, "UPDATE audit_event SET prev_hash = :h WHERE seq = 2", h="0" * 64)
    problem = "prev_hash does not match the previous event's hash"
    assert _reconciled(api)["discrepancies"] == [{"first_broken_seq": 2, "problem": problem}]
    assert (_verified(api)["first_broken_seq"], _verified(api)["problem"]) == (2, problem)


def test_a_deleted_event_before_the_checkpoint_is_a_gap(chain):
    api, _ = chain
    sql(api.engine, "DELETE FROM audit_event WHERE seq = 2")
    reconciled = _reconciled(api)
    assert reconciled["discrepancies"] == [{"first_broken_seq": 3,
                                            "problem": "sequence gap: expected 2, found 3"}]
    assert reconciled["actual"] == "1 events"
    full = _verified(api)
    assert (full["first_broken_seq"], full["checked"], full["problem"]) == (
        3, 1, "sequence gap: expected 2, found 3")


def test_a_rewritten_tail_is_caught_at_the_checkpoint(chain):
    """Edit the checkpointed event and rehash it and every later event, and move the head: every
    hash and link holds again, but the checkpointed event no longer carries the hash the earlier
    full verification recorded, which both checks notice."""
    api, checkpoint = chain
    prev = _event(api, checkpoint).prev_hash
    for seq in range(checkpoint, _last_seq(api) + 1):
        event = _event(api, seq)
        if seq == checkpoint:
            event.summary = {"face_fen": 1}
        event.prev_hash = prev
        prev = audit.event_hash(prev, event)
        sql(api.engine, "UPDATE audit_event SET summary = :s, prev_hash = :p, hash = :h "
                        "WHERE seq = :seq", s=json.dumps(event.summary), p=event.prev_hash,
            h=prev, seq=seq)
    sql(api.engine, "UPDATE audit_chain_head SET last_hash = :h", h=prev)
    [found] = _reconciled(api)["discrepancies"]
    assert found["first_broken_seq"] == checkpoint
    assert found["problem"].startswith("hash differs from the one a full verification recorded")
    full = _verified(api)
    assert (full["first_broken_seq"], full["checked"], full["problem"]) == (
        checkpoint, checkpoint - 1, found["problem"])
    assert [seq for seq, _ in _checkpoints(api)] == [checkpoint]  # and none for the rewrite


def test_deleting_the_newest_events_is_caught_from_a_checkpoint(chain):
    api, checkpoint = chain
    sql(api.engine, "DELETE FROM audit_event WHERE seq > :s", s=checkpoint)
    assert _reconciled(api)["discrepancies"] == [{
        "first_broken_seq": checkpoint + 1,
        "problem": "events after the last one found are missing (chain head is ahead)"}]


def test_a_deleted_checkpointed_event_is_caught(chain):
    api, checkpoint = chain
    sql(api.engine, "DELETE FROM audit_event WHERE seq >= :s", s=checkpoint)
    sql(api.engine, "UPDATE audit_chain_head SET last_seq = :s - 1, last_hash = (SELECT hash "
                    "FROM audit_event WHERE seq = :s - 1)", s=checkpoint)
    assert _reconciled(api)["discrepancies"] == [{
        "first_broken_seq": checkpoint, "problem": "the checkpointed event is missing"}]
    # cut back with its head, the chain itself is consistent: only the checkpoint knows
    assert _verified(api) == {"ok": False, "checked": checkpoint - 1,
                              "first_broken_seq": checkpoint, "first_broken_id": None,
                              "problem": "the checkpointed event is missing"}


@pytest.mark.postgres
def test_postgres_refuses_changes_to_checkpoints(pg):
    with pg.begin() as conn:
        conn.execute(text("INSERT INTO audit_checkpoint (seq, hash, verified_at) "
                          "VALUES (1, :h, now())"), {"h": "a" * 64})
    for statement in ("UPDATE audit_checkpoint SET seq = 2", "DELETE FROM audit_checkpoint"):
        with pytest.raises(DBAPIError, match="append-only"):
            with pg.begin() as conn:
                conn.execute(text(statement))


# JSON escapes, control characters, non-ASCII and astral characters (no NUL: PostgreSQL text
# cannot hold it)
ALPHABET = 'aZ09 "\\/\n\t\r\b\f\x01\x1f\x7f\u00e9\u2028\u4e2d\u6587\U0001f600{}[]:,'


def _strange_text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))


def _strange_value(rng: random.Random, depth: int = 0):
    kinds = ["str", "int", "float", "none", "bool"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return _strange_text(rng)
    if kind == "int":
        return rng.choice([0, -1, 2**70, rng.randint(-10**9, 10**9)])
    if kind == "float":
        return rng.choice([0.1, -2.5e-7, 1e300, 3.0])
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        return [_strange_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_strange_text(rng): _strange_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_row_hash_is_event_hash():
    rng = random.Random(3)
    for seq in range(1, 500):
        at = datetime(2026, 1, 1, tzinfo=clock.SHANGHAI) + timedelta(
            microseconds=rng.randint(0, 10**13))
        event = AuditEvent(seq=seq, id=_strange_text(rng), at=at,
                           actor_id=rng.choice([None, _strange_text(rng)]),
                           actor_name=rng.choice([None, _strange_text(rng)]),
                           role=_strange_text(rng), action=_strange_text(rng),
                           object_type=_strange_text(rng), object_id=_strange_text(rng),
                           summary=_strange_value(rng) if rng.random() < 0.2 else
                           {_strange_text(rng): _strange_value(rng) for _ in range(3)},
                           request_id=rng.choice([None, _strange_text(rng)]),
                           prev_hash="", hash="")
        prev = f"{rng.getrandbits(256):064x}"
        row = (event.seq, event.id, event.at, event.actor_id, event.actor_name, event.role,
               event.action, event.object_type, event.object_id, event.summary,
               event.request_id)
        assert audit.row_hash(prev, row) == audit.event_hash(prev, event)


def test_strange_events_verify_from_the_stored_rows(engine):
    """Written by seal, read back raw on both backends: the stored text rehashes to the same
    bytes (summary parsed from text, timestamps as each backend returns them)."""
    rng = random.Random(11)

    def write(session: Session) -> None:
        for _ in range(40):
            audit.record(session, action=_strange_text(rng)[:60], object_type="test",
                         object_id=_strange_text(rng)[:60],
                         summary={_strange_text(rng): _strange_value(rng) for _ in range(3)})
    run_write(engine, write, principal=SYSTEM)
    with Session(engine) as session:
        assert audit.verify(session)["ok"] is True
        assert audit.verify(session)["checked"] == 40


def test_cli_verify_audit_records_a_checkpoint_and_exits_1_when_broken(chain, monkeypatch,
                                                                       capsys):
    """`voucher verify-audit`, the nightly job that keeps reconciliation's rehash short."""
    from service.cli import main as cli_main
    from service.kit.config import get_settings

    api, _ = chain
    monkeypatch.setenv("DATABASE_URL", api.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        assert cli_main(["verify-audit"]) == 0
        last = sql(api.engine, "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1").one()
        assert _checkpoints(api)[-1] == tuple(last)
        assert f"audit chain intact: {last[0]} events" in capsys.readouterr().out
        sql(api.engine, "UPDATE audit_event SET object_id = 'forged' WHERE seq = 2")
        assert cli_main(["verify-audit"]) == 1
        assert "audit chain BROKEN at seq 2" in capsys.readouterr().out
        assert _checkpoints(api)[-1] == tuple(last)  # no checkpoint for a broken chain
    finally:
        get_settings.cache_clear()
