"""Engine, sessions, the one-transaction-per-request helper with retries, and migrations."""

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sqlalchemy import MetaData, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, SQLModel, create_engine

from service.kit.config import Settings, get_settings
from service.kit.errors import DatabaseUnavailable, DomainError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Deterministic constraint names so Alembic migrations are stable on every backend.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected
# A unique violation means another transaction committed the same row first (two racing posts
# of one invoice, say). Run the request again, once: its own checks now see that row and
# refuse with the domain error a later duplicate gets, instead of a 500.
UNIQUE_VIOLATION = "23505"
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P")  # connection exceptions, admin shutdown


def make_engine(url: str | None = None, settings: Settings | None = None) -> Engine:
    """The engine for DATABASE_URL (or `url`), with the pool and session settings of
    `settings` (the environment's by default)."""
    settings = settings or get_settings()
    url = url or settings.database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        # A file database gets SQLAlchemy's QueuePool (5 + 10 connections): a request that
        # finds them all taken waits DB_TIMEOUT_S, then is 503 (is_unavailable), not 30 s.
        pool = {} if ":memory:" in url or url in ("sqlite://", "sqlite:///") else \
            {"pool_timeout": settings.db_timeout_s}
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": 30}, **pool)
        _serialise_sqlite_writes(engine)
        return engine
    engine = create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_timeout_s,
        pool_pre_ping=True,
        connect_args={"connect_timeout": max(1, int(settings.db_timeout_s)),
                      "prepare_threshold": settings.db_prepare_threshold},
    )
    _settings_per_transaction(engine, settings)
    return engine


def _settings_per_transaction(engine: Engine, settings: Settings) -> None:
    """The session limits, set at the start of every transaction (set_config(…, true) is SET
    LOCAL), not once per connection: behind a transaction pooler (PgBouncer in transaction
    mode) consecutive transactions of one client connection run on different server
    connections, and a setting made at connect time, or sent in the startup packet's
    `options` (which PgBouncer 1.18 refuses), would hold on one of them only. A lock waited
    for longer than DB_TIMEOUT_S is 503 (`_is_unavailable`); a transaction left idle for a
    minute is ended by the server; JIT compiling costs these short statements more than it
    saves. One statement, one round trip, in the transaction it governs."""
    lock_ms = max(1, int(settings.db_timeout_s)) * 1000
    statement = ("SELECT set_config('lock_timeout', '%d', true), "
                 "set_config('idle_in_transaction_session_timeout', '%d', true), "
                 "set_config('jit', 'off', true)" % (lock_ms, IDLE_IN_TRANSACTION_MS))

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql(statement)


IDLE_IN_TRANSACTION_MS = 60_000


def make_read_engine() -> Engine | None:
    """The reporting replica's engine (READ_DATABASE_URL; service/kit/replica.py), made like the
    primary's, or None: every read on the primary."""
    url = get_settings().read_database_url
    return make_engine(url) if url else None


def _serialise_sqlite_writes(engine: Engine) -> None:
    """SQLite has one writer: take the write lock at BEGIN so read-then-write never races."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Reads (see `reading`) begin deferred, so with WAL they never wait for a writer.
        deferred = conn.get_execution_options().get("read_only", False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def reading(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read (made once per engine: an
    execution_options() proxy costs a little on every request otherwise)."""
    if engine.get_execution_options().get("read_only"):
        return engine
    cached = engine.__dict__.get("_reading")
    if cached is None:
        cached = engine.__dict__["_reading"] = engine.execution_options(read_only=True)
    return cached


def snapshot(engine: Engine) -> Engine:
    """For reads that must add up (budget, reconciliation, report): on PostgreSQL one snapshot
    for every statement (REPEATABLE READ), so a write committing between two of them cannot
    make the figures disagree. SQLite's deferred read transaction is one snapshot already."""
    engine = reading(engine)
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def sqlstate(exc: DBAPIError) -> str:
    """The SQLSTATE of a database error ("" when the driver gives none)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or ""


RETRY_ATTEMPTS = 6
RETRY_BACKOFF_S = 0.002  # doubled at each attempt: 4, 8, 16, 32, 64 ms


def run_transaction(engine: Engine, fn: Callable[[Session], T], *,
                    attempts: int = RETRY_ATTEMPTS) -> T:
    """Run fn in one transaction: commit on success, roll back on any error. The one retry
    loop: every read and write (the unit of work's batches too) goes through it.

    Serialization failures and deadlocks are retried with a short back-off, so the same code
    runs on PostgreSQL and on engines that require client-side retries; a unique violation is
    retried once (UNIQUE_VIOLATION). A lost database, or no pooled connection within
    DB_TIMEOUT_S, is reported as DatabaseUnavailable (503) rather than a 500.
    """
    for attempt in range(1, attempts + 1):
        session = Session(engine, expire_on_commit=False)
        try:
            result = fn(session)
            session.commit()
            return result
        except DBAPIError as exc:
            session.rollback()
            state = sqlstate(exc)
            if state in RETRYABLE_SQLSTATES and attempt < attempts or (
                    state == UNIQUE_VIOLATION and attempt == 1):
                time.sleep(RETRY_BACKOFF_S * 2**attempt)
                continue
            if _is_unavailable(exc, state):
                raise DatabaseUnavailable() from exc
            raise
        except PoolTimeout as exc:
            session.rollback()
            raise DatabaseUnavailable() from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    raise AssertionError("unreachable")


def is_unavailable(exc: BaseException) -> bool:
    """Whether an exception means "no database right now" (503 `database_unavailable`): the
    connection lost or refused, a lock or pool wait past DB_TIMEOUT_S (SQLAlchemy raises its
    own TimeoutError, not a DBAPIError, when no pooled connection comes free in time)."""
    if isinstance(exc, PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and _is_unavailable(exc, sqlstate(exc))


def _is_unavailable(exc: DBAPIError, state: str) -> bool:
    if state.startswith(UNAVAILABLE_SQLSTATE_PREFIXES) or state == "55P03":  # lock timeout
        return True
    if isinstance(exc, OperationalError) and exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(s in text for s in ("connection", "server closed", "timeout", "database is locked"))


class Readiness:
    """`SELECT 1` on a thread of its own, within DB_TIMEOUT_S; probes that arrive while one
    runs share its answer, so a hung database holds one thread, not one per probe."""

    def __init__(self, engine: Engine, *, timeout_s: float):
        self.engine, self.timeout_s = engine, timeout_s
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz")
        self._running: asyncio.Future | None = None

    async def check(self) -> bool:
        if self._running is None or self._running.done():
            self._running = asyncio.wrap_future(self._executor.submit(self._select_one))
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("readiness check failed: %r", exc)
            return False

    def _select_one(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


ROOT = Path(__file__).resolve().parent.parent.parent


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    cfg.attributes["skip_logging"] = True
    return cfg


def migrate(url: str | None = None) -> None:
    from alembic import command

    command.upgrade(alembic_config(url or get_settings().database_url), "head")


class DatabaseNotReady(DomainError):
    """A command (not `voucher migrate`) pointed at no database, or at one not migrated."""

    status = 503
    code = "database_not_ready"
    title = "The database is missing or not migrated"


_HINT = "run `voucher migrate` to create and migrate it, or check DATABASE_URL"


def require_migrated(url: str | None = None) -> None:
    """Refuse, in one sentence, a database the commands cannot use: a SQLite file that does not
    exist (checked before connecting, so that nothing is created), a database that cannot be
    reached, or one whose schema is not at the migrations' head."""
    url = url or get_settings().database_url
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    path = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" and \
            not path.startswith("file:") and not Path(path).exists():
        raise DatabaseNotReady(f"no database file {path} (DATABASE_URL={shown}): {_HINT}")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            have = set()
            if inspect(conn).has_table("alembic_version"):
                have = set(conn.execute(text("SELECT version_num FROM alembic_version"))
                           .scalars())
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseNotReady(f"cannot use the database {shown} ({reason}): check DATABASE_URL, "
                               "then run `voucher migrate`") from None
    finally:
        engine.dispose()
    if have != set(_heads(url)):
        state = "is not migrated" if not have else "is not migrated to the latest revision"
        raise DatabaseNotReady(f"the database {shown} {state}: {_HINT}")


def _heads(url: str) -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config(url)).get_heads())
