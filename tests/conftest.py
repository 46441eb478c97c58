"""Test databases are built by the Alembic migrations, once per run per backend, and each test
gets a clean copy: SQLite by copying a migrated file, PostgreSQL by emptying the tables of the
process's own database (tests/pg_databases.py: one per xdist worker, cloned from a template)."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from service.kit import clock
from service.app import bind, create_app
from service.kit.config import get_settings
from service.kit.config import Settings
from service.kit.db import make_engine, migrate, run_transaction
from tests import pg_databases, seeded
from tests.inprocess import InProcessClient
from tests.factories import Api

pytest_plugins = ["tests.xdist_groups"]

PG_BASE_URL = os.environ.get("PG_TEST_URL", "")
# No background pass over expired holds in tests: each test runs the pass itself when it means
# to (tests/holds), and expiry is exact without it (docs/holds.md).
os.environ.setdefault("HOLD_EXPIRY_INTERVAL_S", "0")
# This process's own database (`<db>_gw0`, `<db>_gw1`, … or `<db>_main`), made by `pg_engine`.
PG_URL = pg_databases.worker_url(PG_BASE_URL, pg_databases.worker_name())
# PgBouncer in transaction mode in front of the same server (scripts/pgbouncer.sh; `make test`
# starts it and passes `postgresql+psycopg://USER@HOST:PORT`); PG_BOUNCED_URL reaches this
# process's own database through it, with the settings a deployment behind it needs.
PG_BOUNCER_BASE = os.environ.get("PG_BOUNCER_URL", "")
PG_BOUNCED_URL = pg_databases.through_bouncer(PG_BOUNCER_BASE, PG_URL)
BOUNCER_ENV = {"DB_PREPARE_THRESHOLD": "none"}  # = bouncer_engine's settings
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


def _bouncer_reason() -> str | None:
    if PG_SKIP_REASON:
        return PG_SKIP_REASON
    if not PG_BOUNCER_BASE:
        return "PG_BOUNCER_URL is not set (make test starts PgBouncer: scripts/pgbouncer.sh)"
    try:
        engine = make_engine(pg_databases.through_bouncer(PG_BOUNCER_BASE, PG_BASE_URL))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return f"PgBouncer at PG_BOUNCER_URL is unreachable: {exc}"
    return None


BOUNCER_SKIP_REASON = _bouncer_reason()


def pytest_report_header(config):
    if PG_SKIP_REASON:
        return [f"!!! PostgreSQL tests SKIPPED: {PG_SKIP_REASON} !!!"]
    lines = [f"PostgreSQL tests run against clones of {PG_BASE_URL}"]
    if BOUNCER_SKIP_REASON:
        return [*lines, f"!!! PgBouncer tests SKIPPED: {BOUNCER_SKIP_REASON} !!!"]
    return [*lines, f"postgres-bouncer tests run through {PG_BOUNCER_BASE}"]


def pytest_configure(config):
    """In CI the PostgreSQL tests run, never skip: refuse at once (also in the xdist
    controller, which collects nothing itself)."""
    if IN_CI and BOUNCER_SKIP_REASON:
        raise pytest.UsageError(f"CI=true but PostgreSQL or PgBouncer is not available: "
                                f"{BOUNCER_SKIP_REASON}")


# The suites that send thousands of generated or enumerated requests (every route, every bad
# value, every party) run without coverage tracing (pytest-cov's `no_cover`): under Python 3.11's
# tracer every line of the app, the libraries and Hypothesis runs about twice as slowly, and what
# these suites execute is what the domain suites already execute. Their assertions are unchanged;
# the coverage figure `make test` prints is that of the rest (docs/testing.md, issue 23).
# The concurrency suites' races run two in-process servers and dozens of client threads through
# the redemption path the domain suites trace. A test that runs on both databases is traced on
# PostgreSQL, the production database, and not again on SQLite; the SQLite-only tests are traced.
# Measured on one full run with per-test contexts (docs/testing.md): the figure these leave out
# is 0.16 points (94.71 % → 94.55 %).
UNTRACED = ("tests/contract/test_schemathesis.py", "tests/contract/test_hostile_input.py",
            "tests/contract/test_model_based.py", "tests/contract/test_access_matrix.py",
            "tests/contract/test_access_contract.py", "tests/concurrency/")


def _untraced(items) -> list:
    """The items UNTRACED names, and the SQLite run of each test that also runs on PostgreSQL
    (when PostgreSQL is there: without it the SQLite runs are the only ones, and traced)."""
    ids = {item.nodeid for item in items} if PG_SKIP_REASON is None else set()
    return [item for item in items if item.nodeid.startswith(UNTRACED)
            or "[sqlite" in item.nodeid and item.nodeid.replace("[sqlite", "[postgres", 1) in ids]


def pytest_collection_modifyitems(config, items):
    for item in _untraced(items):
        item.add_marker(pytest.mark.no_cover)
    if BOUNCER_SKIP_REASON is None:
        return
    if IN_CI:
        raise pytest.UsageError(f"CI=true but PostgreSQL or PgBouncer is not available: "
                                f"{BOUNCER_SKIP_REASON}")
    skip_pg = pytest.mark.skip(reason=f"PostgreSQL unavailable: {PG_SKIP_REASON}")
    skip_bouncer = pytest.mark.skip(reason=f"PgBouncer unavailable: {BOUNCER_SKIP_REASON}")
    for item in items:
        if PG_SKIP_REASON and ("postgres" in item.keywords or "[postgres" in item.nodeid):
            item.add_marker(skip_pg)
        elif "postgres-bouncer" in item.nodeid:
            item.add_marker(skip_bouncer)


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
    yield engine
    engine.dispose()


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


# The suites where a transaction pooler could change the outcome (concurrency, idempotency,
# crash-retry, workers) run a third time through PgBouncer in transaction mode: the same
# worker database, reached through scripts/pgbouncer.sh's PgBouncer (docs/testing.md).
BOUNCER = pytest.param("postgres-bouncer", marks=pytest.mark.postgres)
WITH_BOUNCER = [*DATABASES, BOUNCER]  # for an `engine` fixture of such a module
PG_AND_BOUNCER = ["postgres", BOUNCER]  # for a `pg` fixture of such a module


@pytest.fixture(params=DATABASES)
def engine(request) -> Iterator[Engine]:
    yield from engine_for(request)


def engine_for(request) -> Iterator[Engine]:
    """A fresh database of the kind request.param names (sqlite, postgres, postgres-bouncer)."""
    if request.param == "sqlite":
        eng = sqlite_from(request, request.getfixturevalue("sqlite_template"))
        yield eng
        eng.dispose()
    else:
        yield pg_for(request)


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory) -> Iterator[tuple[Path, Engine]]:
    """The worker's one SQLite engine, on one file that every test starts as a fresh copy (of
    the migrated template or of a seeded snapshot). SQLAlchemy keeps compiled statements per
    engine, so one engine for the run compiles each statement once, not once per test."""
    path = _fast_dir(tmp_path_factory.mktemp("sqlite")) / "test.db"
    eng = make_engine(f"sqlite:///{path}")
    yield path, eng
    eng.dispose()


def sqlite_from(request, source: str) -> Engine:
    """The worker's SQLite engine on a fresh copy of `source`. The pool's connections are
    closed and the old file unlinked, not overwritten: a connection a test left open in a
    thread of its own keeps the old file (and its locks), as it did when every test had a
    file of its own."""
    path, eng = request.getfixturevalue("sqlite_engine")
    eng.dispose()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, path)
    return eng


def pg_for(request) -> Engine:
    """The worker's emptied PostgreSQL database, direct or through PgBouncer."""
    eng = request.getfixturevalue("pg_engine")
    reset_postgres(eng)
    if request.param == "postgres-bouncer":
        return request.getfixturevalue("bouncer_engine")
    return eng


@pytest.fixture(scope="session")
def bouncer_engine(pg_engine) -> Iterator[Engine]:
    """The worker's database through PgBouncer, made the way a deployment behind it is
    configured (BOUNCER_ENV: no server-side prepared statements)."""
    if BOUNCER_SKIP_REASON:
        pytest.skip(BOUNCER_SKIP_REASON)
    engine = make_engine(PG_BOUNCED_URL, Settings(database_url=PG_BOUNCED_URL,
                                                  db_prepare_threshold=None))
    yield engine
    engine.dispose()


def server_env(engine: Engine) -> dict[str, str]:
    """DATABASE_URL and the settings for a server process on the same database as `engine`
    (through PgBouncer when `engine` goes through it)."""
    env = {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    if PG_BOUNCED_URL and env["DATABASE_URL"] == PG_BOUNCED_URL:
        env.update(BOUNCER_ENV)
    return env


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
    app = app_for(eng)
    with InProcessClient(app, raise_server_exceptions=False) as client:
        api = Api(client, eng)
        snap = seeded.Snapshot(data=seed(api), admin=api.admin, seed_api=api)
    release_app(app)
    if request.param == "sqlite":
        eng.dispose()
        snap.sqlite_file = seeded.take_sqlite(str(path), f"{path}.snapshot")
    else:
        snap.pg_tables, snap.pg_sequences = seeded.take_postgres(eng)
    return snap


@pytest.fixture(params=DATABASES)
def shared_world(request, tmp_path_factory):
    """shared_world(seed) -> (api, data): the world `seed(api)` built, seeded once per process,
    module and database and restored for this test (tests/seeded.py), with the test's own app,
    client and Api. `data` is a deep copy of what seed returned, its Api replaced by this one."""
    opened: list[tuple[InProcessClient, Engine]] = []

    def restore(seed) -> tuple[Api, object]:
        key = (request.module.__name__, seed.__qualname__, request.param)
        if key not in _SNAPSHOTS:
            _SNAPSHOTS[key] = _take_snapshot(request, seed, tmp_path_factory)
        snap = _SNAPSHOTS[key]
        if request.param == "sqlite":
            eng = sqlite_from(request, snap.sqlite_file)
        else:
            eng = request.getfixturevalue("pg_engine")
            seeded.restore_postgres(eng, snap)
        client = InProcessClient(app_for(eng), raise_server_exceptions=False).__enter__()
        opened.append((client, eng))
        api = Api(client, eng, admin=snap.admin)
        return api, snap.data_for(api)

    yield restore
    for client, eng in opened:
        client.__exit__(None, None, None)
        release_app(client.app)
        if request.param == "sqlite":
            eng.dispose()


@pytest.fixture
def pg(pg_engine) -> Engine:
    """PostgreSQL only, for concurrency tests."""
    reset_postgres(pg_engine)
    return pg_engine


# Built apps waiting for their next test, by the settings they were built with: a test gets
# one bound to its own fresh database (service.app.bind), not a new build, since FastAPI builds
# every route's handler on an app's first request (issue 23). Changed settings build anew.
_FREE_APPS: dict[str, list] = {}


def app_for(engine: Engine):
    """An app on `engine` as create_app(engine) makes it; give it back with release_app."""
    settings = get_settings()
    free = _FREE_APPS.get(settings.model_dump_json(), [])
    if free:
        return bind(free.pop(), engine, settings)
    app = create_app(engine)
    app.state.built_routes = len(app.router.routes)
    return app


def release_app(app) -> None:
    """After its client has closed (the lifespan ended), the app may serve another test,
    unless the test changed its routes (tests/contract/test_middleware.py adds one)."""
    if len(app.router.routes) == app.state.built_routes:
        _FREE_APPS.setdefault(app.state.settings.model_dump_json(), []).append(app)


@pytest.fixture
def app(engine):
    app = app_for(engine)
    yield app
    release_app(app)


@pytest.fixture
def client(app) -> Iterator[InProcessClient]:
    with InProcessClient(app, raise_server_exceptions=False) as c:
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
