"""Reads from a real streaming replica (issue 25, items 1 and 2): `make test` starts one of the
test cluster with scripts/replica.sh and names it in PG_REPLICA_URL; the worker's database,
created on the primary, is on the replica once its CREATE DATABASE is replayed.

Replay is paused with pg_wal_replay_pause() to make the replica visibly behind, and always
resumed (the replica serves the whole cluster). These tests share one xdist worker
(tests/xdist_groups.py), so no two of them pause replay at once."""

import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from service.app import create_app
from service.kit.db import make_engine
from service.kit.replica import Replica
from tests.conftest import IN_CI, PG_URL, reset_postgres
from tests.factories import Api
from tests.flows import line, make_world
from tests.live import free_port

REPLICA_BASE = os.environ.get("PG_REPLICA_URL", "")
BUDGET = "/v1/years/2026/budget"
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def replica_engine(pg_engine) -> Engine:
    if not REPLICA_BASE:
        reason = "PG_REPLICA_URL is not set (make test starts one: scripts/replica.sh start)"
        if IN_CI:
            pytest.fail(f"CI=true but there is no streaming replica: {reason}")
        pytest.skip(f"no streaming replica: {reason}")
    url = make_url(REPLICA_BASE).set(database=make_url(PG_URL).database)
    engine = make_engine(url.render_as_string(hide_password=False))
    deadline = time.monotonic() + 30
    while True:  # until the replica has replayed the database's creation
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield engine
    engine.dispose()


def caught_up(primary: Engine, replica: Engine, timeout_s: float = 10) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    with primary.connect() as conn:
        target = conn.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar()
    deadline = time.monotonic() + timeout_s
    with replica.connect() as conn:
        while not conn.execute(text("SELECT pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn)"),
                               {"t": str(target)}).scalar():
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.02)
            conn.rollback()


@contextmanager
def replay_paused(replica: Engine):
    with replica.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()"))
        conn.commit()
        try:
            while conn.execute(text("SELECT pg_get_wal_replay_pause_state()")).scalar() \
                    != "paused":
                conn.rollback()
                time.sleep(0.01)
            conn.rollback()
            yield
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_wal_replay_resume()"))
            conn.commit()


@pytest.fixture
def served(pg_engine, replica_engine, today):
    """(api, world, replica): a year, an enterprise with a 5,000.00 voucher and a paid invoice,
    on an app whose reporting reads go to the streaming replica."""
    today("2026-06-01")
    reset_postgres(pg_engine)
    replica = Replica(replica_engine, max_lag_s=5)
    with TestClient(create_app(pg_engine, replica=replica),
                    raise_server_exceptions=False) as client:
        api = Api(client, pg_engine)
        world = make_world(api, pool_fen=10_000_000)
        world.voucher(500_000)
        yield api, world, replica


def _as_of(response) -> datetime:
    return datetime.fromisoformat(response.headers["x-data-as-of"])


def test_a_figure_written_on_the_primary_is_read_through_the_replica(served, pg_engine,
                                                                     replica_engine):
    api, world, replica = served
    before = datetime.now(timezone.utc)
    world.voucher(300_000)
    caught_up(pg_engine, replica_engine)
    r = api.client.get(BUDGET, headers=api.admin)
    assert r.status_code == 200
    assert r.json()["issued_fen"] == 800_000
    assert _as_of(r) >= before  # the last replayed commit: ours, or one after it
    for path, body in (("/v1/years/2026/report?format=csv", None),
                       ("/v1/audit-events", None), ("/v1/public/awards?year=2026", None),
                       ("/v1/years/2026/scenarios/compare",
                        {"scenarios": [{"name": "20%", "overrides": {"rate_bp": 2000}}]})):
        r = api.client.request("POST" if body else "GET", path, json=body, headers=api.admin)
        assert r.status_code == 200, (path, r.text[:300])
        assert "x-data-as-of" in r.headers, path
    assert replica.fallbacks == {}
    ready = api.client.get("/readyz").json()
    assert ready["database"] == "ok" and ready["replica"]["ok"] is True
    assert set(ready["replica"]) == {"ok", "lag_s"} and 0 <= ready["replica"]["lag_s"] <= 5


def test_a_replica_behind_answers_older_figures_until_the_bound_then_the_primary_answers(
        served, pg_engine, replica_engine):
    api, world, replica = served
    replica.max_lag_s = 1
    caught_up(pg_engine, replica_engine)
    with replay_paused(replica_engine):
        written = datetime.now(timezone.utc)
        world.voucher(300_000)  # acknowledged: on the primary
        answers = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = api.client.get(BUDGET, headers=api.admin)
            assert r.status_code == 200
            answers.append((r.headers.get("x-data-as-of"), r.json()["issued_fen"]))
            if answers[-1][0] is None:
                break
            time.sleep(0.1)
        ready = api.client.get("/readyz").json()
    from_replica = [(as_of, fen) for as_of, fen in answers if as_of is not None]
    assert from_replica, "the first answers come from the replica"
    assert {fen for _, fen in from_replica} == {500_000}  # visibly older ...
    assert all(datetime.fromisoformat(as_of) < written for as_of, _ in from_replica)  # ... and says so
    assert answers[-1] == (None, 800_000), answers  # past the bound, the primary answers
    assert replica.fallbacks["lag"] >= 1
    assert ready["replica"]["ok"] is False and ready["replica"]["lag_s"] > 1
    assert ready["status"] == "ready"


def test_an_enterprise_reads_its_own_redemption_at_once_while_replay_is_paused(
        served, pg_engine, replica_engine):
    api, world, replica = served
    invoice = world.invoice([line("gpu", 1_000_000)], end="2026-05-31")
    caught_up(pg_engine, replica_engine)
    with replay_paused(replica_engine):
        redemption = world.redeem(invoice["id"])
        for headers in (world.ent, api.admin):
            r = api.client.get(f"/v1/redemptions/{redemption['id']}", headers=headers)
            assert r.status_code == 200 and "x-data-as-of" not in r.headers
            assert r.json()["subsidy_fen"] == redemption["subsidy_fen"] > 0
        mine = api.client.get("/v1/redemptions", headers=world.ent).json()["items"]
        assert [item["id"] for item in mine] == [redemption["id"]]
        # the bureau's figures, from the replica, do not have it yet and say how old they are
        r = api.client.get(BUDGET, headers=api.admin)
        assert "x-data-as-of" in r.headers and r.json()["redeemed_fen"] == 0


def test_with_the_replica_unreachable_reporting_reads_answer_from_the_primary(served):
    api, world, _ = served
    dead = Replica(make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/x"), max_lag_s=5)
    api.client.app.state.replica = dead
    for path in (BUDGET, "/v1/audit-events", "/v1/ledger/accounts",
                 "/v1/public/awards?year=2026"):
        r = api.client.get(path, headers=api.admin)
        assert r.status_code == 200 and "x-data-as-of" not in r.headers, path
    assert api.client.get(BUDGET, headers=api.admin).json()["issued_fen"] == 500_000
    assert dead.fallbacks == {"down": 5} and dead.served == {"primary": 5}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["replica"] == {"ok": False, "lag_s": None}
