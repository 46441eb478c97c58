"""Who an audit event is by is passed, never read from the session: the unit of work names a
plain write's principal and request on what it queued; a group function names each event's."""

from sqlalchemy import text

from service.audit import service as audit
from service.auth.principal import Principal
from service.uow import Write, execute, run_write

CLERK = Principal(key_id="key-clerk", name="Clerk Li", role="admin")
PROVIDER = Principal(key_id="key-prv", name="Provider Wang", role="provider", provider_id="prv_1")


def _events(engine):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT object_id, actor_id, actor_name, role, request_id FROM audit_event "
            "ORDER BY seq"))]


def test_a_plain_writes_events_are_by_its_principal_and_nothing_rides_on_the_session(engine):
    seen = []

    def fn(session):
        audit.record(session, action="test.plain", object_type="test", object_id="a")
        seen.append(dict(session.info))

    run_write(engine, fn, principal=CLERK, request_id="req-1")
    assert _events(engine) == [("a", "key-clerk", "Clerk Li", "admin", "req-1")]
    assert set(seen[0]) <= {"_audit_pending"}  # the queue of events, no principal, no request


def test_an_event_that_names_its_principal_keeps_it_and_each_write_gets_its_own(engine):
    def first(session):
        audit.record(session, action="test.named", object_type="test", object_id="b",
                     by=PROVIDER, request_id="req-p")
        audit.record(session, action="test.plain", object_type="test", object_id="c")

    def second(session):
        audit.record(session, action="test.plain", object_type="test", object_id="d")

    outcomes = execute(engine, [Write(principal=CLERK, fn=first, request_id="req-2"),
                                Write(principal=PROVIDER, fn=second, request_id="req-3")])
    assert not any(isinstance(o, BaseException) for o in outcomes)
    assert _events(engine) == [("b", "key-prv", "Provider Wang", "provider", "req-p"),
                               ("c", "key-clerk", "Clerk Li", "admin", "req-2"),
                               ("d", "key-prv", "Provider Wang", "provider", "req-3")]
