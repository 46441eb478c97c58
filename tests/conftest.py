"""Test databases are built by the Alembic migrations, once per run per backend, and each test
gets a clean copy: SQLite by copying a migrated file, PostgreSQL by emptying the tables of the
process's own database (tests/pg_databases.py: one per xdist worker, cloned from a template)."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from service.kit import clock
from service.app import create_app
from service.kit.db import make_engine, migrate, run_transaction
from tests import pg_databases, seeded
from tests.factories import Api

pytest_plugins = ["tests.xdist_groups"]

PG_BASE_URL = os.environ.get("PG_TEST_URL", "")
# No background pass over expired holds in tests: each test runs the pass itself when it means
# to (tests/holds), and expiry is exact without it (docs/holds.md).
os.environ.setdefault("HOLD_EXPIRY_INTERVAL_S", "0")
# This process's own database (`<db>_gw0`, `<db>_gw1`, … or `<db>_main`), made by `pg_engine`.
PG_URL = pg_databases.worker_url(PG_BASE_URL, pg_databases.worker_name())
pg_databases.run_token()
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_reason() -> str | None:
    if not PG_BASE_URL:
        return "PG_TEST_URL is not set (make test creates a throwaway PostgreSQL database)"
    try:
        engine = make_engine(PG_BASE_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at PG_TEST_URL is unreachable: {exc}"
    return None


PG_SKIP_REASON = _pg_reason()


def pytest_report_header(config):
    if PG_SKIP_REASON:
        return [f"!!! PostgreSQL tests SKIPPED: {PG_SKIP_REASON} !!!"]
    return [f"PostgreSQL tests run against clones of {PG_BASE_URL}"]


def pytest_configure(config):
    """In CI the PostgreSQL tests run, never skip: refuse at once (also in the xdist
    controller, which collects nothing itself)."""
    if IN_CI and PG_SKIP_REASON:
        raise pytest.UsageError(f"CI=true but PostgreSQL is not available: {PG_SKIP_REASON}")


def pytest_collection_modifyitems(config, items):
    if PG_SKIP_REASON is None:
        return
    if IN_CI:
        raise pytest.UsageError(f"CI=true but PostgreSQL is not available: {PG_SKIP_REASON}")
    skip = pytest.mark.skip(reason=f"PostgreSQL unavailable: {PG_SKIP_REASON}")
    for item in items:
        if "postgres" in item.keywords or "[postgres" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    if PG_SKIP_REASON:
        pytest.skip(PG_SKIP_REASON)
    engine = make_engine(pg_databases.clone_for_worker(PG_BASE_URL))
    _no_commit_flush(engine)
    yield engine
    engine.dispose()


def _no_commit_flush(engine: Engine) -> None:
    """A throwaway test database need not wait for the WAL flush at each commit; what the
    tests check (isolation, locking, constraints) is unchanged."""
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        with dbapi_conn.cursor() as cur:
            cur.execute("SET synchronous_commit = off")
        dbapi_conn.commit()


def _fast_dir(tmp_path):
    """SQLite files in memory-backed /dev/shm when there is one (fsync is then free)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(dir=shm, prefix="voucher-test-"))
        _shm_dirs.append(path)
        return path
    return tmp_path


_shm_dirs: list = []


@pytest.fixture(autouse=True, scope="session")
def _clean_shm():
    yield
    for path in _shm_dirs:
        shutil.rmtree(path, ignore_errors=True)


def reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(pg_databases.reset_statement(engine))
        conn.execute(text("INSERT INTO audit_chain_head (id, last_seq, last_hash) "
                          "VALUES (1, 0, :h)"), {"h": "0" * 64})


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

# For the cases a request's validation refuses before its handler does any database work (a
# 422 naming the field): what they test is the same on every database, so they run on SQLite
# only (issue 23). Money, locking, SQL and what a refused write leaves behind run on both; the
# hostile-input suites (tests/contract) keep a PostgreSQL pass of every route's bad values.
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture(params=DATABASES)
def engine(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        path = _fast_dir(tmp_path) / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("pg_engine")
        reset_postgres(eng)
        yield eng


# (module, seed function, database) -> its Snapshot, for this process (tests/seeded.py)
_SNAPSHOTS: dict[tuple[str, str, str], seeded.Snapshot] = {}


def _take_snapshot(request, seed, tmp_path_factory) -> seeded.Snapshot:
    """Run seed(api) on a fresh database of the test's kind and keep what it made."""
    if request.param == "sqlite":
        path = _fast_dir(tmp_path_factory.mktemp("seed")) / "seed.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = request.getfixturevalue("pg_engine")
        reset_postgres(eng)
    with TestClient(create_app(eng), raise_server_exceptions=False) as client:
        api = Api(client, eng)
        snap = seeded.Snapshot(data=seed(api), admin=api.admin, seed_api=api)
    if request.param == "sqlite":
        eng.dispose()
        snap.sqlite_file = seeded.take_sqlite(str(path), f"{path}.snapshot")
    else:
        snap.pg_tables, snap.pg_sequences = seeded.take_postgres(eng)
    return snap


@pytest.fixture(params=DATABASES)
def shared_world(request, tmp_path, tmp_path_factory):
    """shared_world(seed) -> (api, data): the world `seed(api)` built, seeded once per process,
    module and database and restored for this test (tests/seeded.py), with the test's own app,
    client and Api. `data` is a deep copy of what seed returned, its Api replaced by this one."""
    opened: list[tuple[TestClient, Engine]] = []

    def restore(seed) -> tuple[Api, object]:
        key = (request.module.__name__, seed.__qualname__, request.param)
        if key not in _SNAPSHOTS:
            _SNAPSHOTS[key] = _take_snapshot(request, seed, tmp_path_factory)
        snap = _SNAPSHOTS[key]
        if request.param == "sqlite":
            path = _fast_dir(tmp_path) / "test.db"
            seeded.restore_sqlite(snap.sqlite_file, str(path))
            eng = make_engine(f"sqlite:///{path}")
        else:
            eng = request.getfixturevalue("pg_engine")
            seeded.restore_postgres(eng, snap)
        client = TestClient(create_app(eng), raise_server_exceptions=False).__enter__()
        opened.append((client, eng))
        api = Api(client, eng, admin=snap.admin)
        return api, snap.data_for(api)

    yield restore
    for client, eng in opened:
        client.__exit__(None, None, None)
        if request.param == "sqlite":
            eng.dispose()


@pytest.fixture
def pg(pg_engine) -> Engine:
    """PostgreSQL only, for concurrency tests."""
    reset_postgres(pg_engine)
    return pg_engine


@pytest.fixture
def app(engine):
    return create_app(engine)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def api(client, engine) -> Api:
    return Api(client, engine)


@pytest.fixture
def today(monkeypatch):
    """Move the business calendar: today("2026-06-01")."""
    from datetime import date, datetime, time

    def set_today(value: str) -> None:
        day = date.fromisoformat(value)
        monkeypatch.setattr(clock, "now",
                            lambda: datetime.combine(day, time(12, 0), tzinfo=clock.SHANGHAI))
    return set_today


def sql(engine: Engine, statement: str, **params):
    """Raw SQL, as someone with direct database access would run it. On PostgreSQL the
    append-only triggers are bypassed the way a superuser could (session_replication_role),
    so tests can tamper and check that the tampering is detected."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        return conn.execute(text(statement), params)


def row_counts(engine: Engine, tables=None) -> dict[str, int]:
    """Every table's row count (or those named), in one statement: one round trip, not one a
    table (the hostile-input suites take it after each of hundreds of refused requests)."""
    from service.kit.db import metadata
    names = list(tables) if tables is not None else [t.name for t in metadata.sorted_tables]
    select = ", ".join(f"(SELECT count(*) FROM {name})" for name in names)
    with engine.connect() as conn:
        return dict(zip(names, conn.execute(text(f"SELECT {select}")).one(), strict=True))


__all__ = ["row_counts", "run_transaction", "sql"]
