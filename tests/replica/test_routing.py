"""Who reads where (issue 25, item 1): every /v1 route, called by each kind of caller the access
matrix allows, answers from the replica exactly when it is one of REPLICA_ROUTES and its caller
is the bureau or the public — never for an enterprise, a provider or a reviewer, never for a
write. The rule lives in `service.api.reads_on_replica`; the routes opt in by taking
`Reporting`.

Here the replica is a stand-in on SQLite: the app's own database behind a second engine whose
probe says "lag 0, as of AS_OF", so an answer served there is the primary's answer plus the
header X-Data-As-Of. The fall-backs (replica unreachable, behind, a 404 there) are checked on the
same world; tests/replica/test_streaming.py does it all again on a real streaming replica."""

import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine

from service.kit import replica as replica_module
from service.kit.db import make_engine
from service.kit.replica import Replica, Standby
from tests.contract import test_access_matrix as matrix
from tests.contract.test_access_matrix import (
    ADMIN,
    AUDITOR,
    ENT_A,
    NO_KEY,
    PROV_A,
    REV_CITY,
    TABLE,
)
from tests.live import free_port

# The bureau's reporting reads and the public feeds.
REPLICA_ROUTES = {
    ("GET", "/v1/years/{year}/budget"),
    ("GET", "/v1/years/{year}/performance"),
    ("GET", "/v1/years/{year}/report"),
    ("GET", "/v1/settlements/{settlement_id}/export"),
    ("GET", "/v1/ledger/accounts"),
    ("GET", "/v1/ledger/transfers"),
    ("GET", "/v1/audit-events"),
    ("POST", "/v1/years/{year}/scenarios/compare"),  # the what-if load: a read
    ("GET", "/v1/public/awards"),
    ("GET", "/v1/public/notices"),
    ("GET", "/v1/public/notices/{settlement_id}"),
}
# One caller of each kind; a public route is called with no key and with a party's key (it
# reads no key, so both are the public).
CALLERS = (ADMIN, AUDITOR, PROV_A, ENT_A, REV_CITY)
PUBLIC_CALLERS = (NO_KEY, ENT_A)
AS_OF = datetime(2026, 6, 1, 3, 59, 58, tzinfo=timezone.utc)
SQLITE = pytest.mark.parametrize("shared_world", ["sqlite"], indirect=True)


def _seeded(shared_world, today) -> matrix.Ctx:
    today("2026-06-01")
    _api, ctx = shared_world(matrix._seed)
    matrix._objection(ctx)  # a published notice with an objection (its routes need one)
    matrix._xml_invoice(ctx)  # an invoice with a source file
    return ctx


def _stand_in(engine, lag_s: float = 0.0) -> Replica:
    return Replica(engine, max_lag_s=5, probe=lambda conn: Standby(lag_s, AS_OF))


def _calls(only: set[tuple[str, str]] | None = None):
    """(method, path, caller) for every read route (and every route of REPLICA_ROUTES), or for
    the routes `only` names."""
    for method, path in matrix.ROUTES:
        if only is not None and (method, path) not in only:
            continue
        if method != "GET" and (method, path) not in REPLICA_ROUTES:
            continue  # a write: the unit of work, on the primary
        rule = TABLE[(method, path)]
        callers = PUBLIC_CALLERS if rule.public else [c for c in CALLERS if c in rule.allowed]
        for caller in callers:
            yield method, path, caller


def _served_by(ctx: matrix.Ctx, only: set[tuple[str, str]] | None = None
               ) -> dict[tuple[str, str, str], str | None]:
    """X-Data-As-Of of each call's answer (None: the primary's)."""
    seen = {}
    for method, path, caller in _calls(only):
        rule = TABLE[(method, path)]
        r = matrix._request(ctx, method, path, rule, caller)
        # 200, or the 404 of another party's object (a district reviewer's, a provider's)
        assert r.status_code == (matrix._expected(rule, caller) or 200), \
            (method, path, caller, r.status_code, r.text[:300])
        seen[(method, path, caller)] = r.headers.get("x-data-as-of")
    return seen


@SQLITE
def test_only_the_bureaus_reporting_reads_and_the_public_feeds_use_the_replica(shared_world,
                                                                               today):
    ctx = _seeded(shared_world, today)
    app = ctx.api.client.app
    app.state.replica = _stand_in(ctx.api.engine)
    seen = _served_by(ctx)
    on_replica = {call for call, as_of in seen.items() if as_of is not None}
    expected = {(m, p, c) for m, p, c in seen if (m, p) in REPLICA_ROUTES
                and (c in (ADMIN, AUDITOR) or TABLE[(m, p)].public)}
    assert on_replica == expected, (sorted(on_replica - expected), sorted(expected - on_replica))
    assert {(m, p) for m, p, _ in on_replica} == REPLICA_ROUTES
    assert {seen[call] for call in on_replica} == {"2026-06-01T11:59:58+08:00"}
    assert app.state.replica.served == {"replica": len(on_replica)}
    # the document names the header on exactly those routes' answers
    document = app.openapi()["paths"]
    assert {(m.upper(), p) for p, ops in document.items() for m, op in ops.items()
            if "X-Data-As-Of" in op["responses"].get("200", {}).get("headers", {})} \
        == REPLICA_ROUTES


@SQLITE
def test_every_reporting_route_answers_from_the_primary_when_the_replica_is_down(shared_world,
                                                                                 today):
    ctx = _seeded(shared_world, today)
    app = ctx.api.client.app
    # a port where nothing listens: the connection is refused
    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/voucher")
    app.state.replica = Replica(dead, max_lag_s=5)
    seen = _served_by(ctx, only=REPLICA_ROUTES)
    assert set(seen.values()) == {None}
    reporting = sum(1 for m, p, c in seen if (m, p) in REPLICA_ROUTES
                    and (c in (ADMIN, AUDITOR) or TABLE[(m, p)].public))
    assert app.state.replica.served == {"primary": reporting}
    assert app.state.replica.fallbacks == {"down": reporting}
    metrics = ctx.api.client.get("/metrics").text
    assert f'replica_fallbacks_total{{reason="down"}} {reporting}' in metrics
    assert f'reporting_reads_total{{served_by="primary"}} {reporting}' in metrics
    assert 'reporting_reads_total{served_by="replica"} 0' in metrics
    ready = ctx.api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok",
                            "replica": {"ok": False, "lag_s": None}}


@SQLITE
def test_a_replica_behind_the_bound_or_without_the_object_hands_the_read_to_the_primary(
        shared_world, today, sqlite_template, tmp_path):
    ctx = _seeded(shared_world, today)
    app, budget = ctx.api.client.app, "/v1/years/2026/budget"
    app.state.replica = _stand_in(ctx.api.engine, lag_s=5.5)
    r = ctx.api.client.get(budget, headers=ctx.headers[ADMIN])
    assert r.status_code == 200 and "x-data-as-of" not in r.headers
    assert app.state.replica.fallbacks == {"lag": 1}
    assert ctx.api.client.get("/readyz").json()["replica"] == {"ok": False, "lag_s": 5.5}
    # A replica that has not replayed the year yet (an empty database): its 404 is asked again
    # of the primary, which has the year.
    empty = tmp_path / "behind.db"
    empty.write_bytes(open(sqlite_template, "rb").read())
    app.state.replica = _stand_in(create_engine(f"sqlite:///{empty}"))
    r = ctx.api.client.get(budget, headers=ctx.headers[ADMIN])
    assert r.status_code == 200 and "x-data-as-of" not in r.headers
    assert r.json()["year"] == 2026
    assert app.state.replica.fallbacks == {"not_found": 1}
    assert app.state.replica.served == {"primary": 1}
    assert ctx.api.client.get("/readyz").json()["replica"] == {"ok": True, "lag_s": 0.0}


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_a_fallback_is_logged_once_a_minute_per_reason():
    clock = iter([0.0, 1.0, 2.0, 30.0, 61.0, 62.0])
    handler = _Lines()
    replica_module.log.addHandler(handler)
    try:
        replica = Replica(create_engine("sqlite://"), max_lag_s=5, clock=lambda: next(clock))
        for reason in ("down", "down", "lag", "down", "down", "not_found"):
            replica._fell_back(reason, "why")
    finally:
        replica_module.log.removeHandler(handler)
    assert replica.fallbacks == {"down": 4, "lag": 1, "not_found": 1}
    assert [(line.split('"replica_fallback": "')[1].split('"')[0],
             line.split('"reads_since_last_line": ')[1].rstrip("}")) for line in handler.lines] \
        == [("down", "1"), ("lag", "1"), ("down", "3")]
