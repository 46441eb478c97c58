"""Audit and transfer rows cannot be changed in place on PostgreSQL, an inserted event is caught
at its position, and a pg_dump restored into a new database reconciles to identical figures."""

import shutil
import subprocess

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from service.app import create_app
from service.kit.db import make_engine
from service.reporting.budget import budget
from service.reporting.reconciliation import reconcile
from tests.conftest import sql
from tests.factories import Api
from tests.flows import line, make_world
from tests.inprocess import InProcessClient


@pytest.fixture
def busy(api, today):
    today("2026-06-15")
    world = make_world(api)
    world.voucher(1_000_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    world.redeem(inv["id"])
    world.settle()
    world.reverse(inv["id"], 100_000)
    return world


def test_an_event_added_beyond_the_chain_head_is_caught_there(busy, api):
    last, prev_hash = sql(api.engine, "SELECT seq, hash FROM audit_event "
                                      "ORDER BY seq DESC LIMIT 1").one()
    sql(api.engine, "INSERT INTO audit_event (seq, id, at, role, action, object_type, object_id, "
                    "summary, prev_hash, hash) VALUES (:s, 'aud_forged', :at, 'admin', "
                    "'voucher.issue', 'voucher', 'v', '{}', :p, :h)",
        s=last + 1, at="2026-06-15 12:00:00", p=prev_hash, h="f" * 64)
    result = api.ok("GET", "/v1/audit-events/verify")
    assert (result["ok"], result["first_broken_seq"], result["first_broken_id"]) == (
        False, last + 1, "aud_forged")


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete_of_audit_and_transfers(pg):
    api = Api(InProcessClient(create_app(pg)), pg)
    api.year(2026)
    for statement in ("UPDATE audit_event SET summary = '{}'", "DELETE FROM audit_event",
                      "UPDATE ledger_transfer SET amount_fen = 1", "DELETE FROM ledger_transfer"):
        with pytest.raises(DBAPIError, match="append-only"):
            with pg.begin() as conn:
                conn.execute(text(statement))
    assert api.ok("GET", "/v1/audit-events/verify")["ok"] is True


@pytest.mark.postgres
def test_pg_dump_restores_to_a_clean_identical_year(pg, today):
    if not shutil.which("pg_dump") or not shutil.which("pg_restore"):
        pytest.fail("pg_dump and pg_restore are needed (postgresql-client)")
    today("2026-06-15")
    api = Api(InProcessClient(create_app(pg)), pg)
    world = make_world(api)
    world.voucher(2_000_000)
    inv = world.invoice([line("gpu", 3_000_000), line("storage", 10_000)])
    world.redeem(inv["id"])
    world.settle()
    world.reverse(inv["id"], 500_000)
    world.redeem(world.invoice([line("npu", 700_000)])["id"])

    source = pg.url.set(drivername="postgresql").render_as_string(hide_password=False)
    restored_name = f"{pg.url.database}_restore"
    target = pg.url.set(drivername="postgresql", database=restored_name)
    admin_url = pg.url.set(database="postgres")
    admin = make_engine(admin_url.render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {restored_name}"))
        conn.execute(text(f"CREATE DATABASE {restored_name}"))
    try:
        dump = subprocess.run(["pg_dump", "--format=custom", "--no-owner", source],
                              check=True, capture_output=True, timeout=120).stdout
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname",
                        target.render_as_string(hide_password=False)],
                       input=dump, check=True, capture_output=True, timeout=120)
        restored = make_engine(target.set(drivername="postgresql+psycopg")
                               .render_as_string(hide_password=False))
        try:
            with Session(pg) as a, Session(restored) as b:
                before, after = budget(a, 2026), budget(b, 2026)
                before.pop("as_of"), after.pop("as_of")
                assert after == before
                result = reconcile(b, 2026)
                assert result["ok"], [c for c in result["checks"] if not c["ok"]]
                assert [c["actual"] for c in result["checks"]] == [
                    c["actual"] for c in reconcile(a, 2026)["checks"]]
        finally:
            restored.dispose()
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {restored_name} WITH (FORCE)"))
        admin.dispose()
