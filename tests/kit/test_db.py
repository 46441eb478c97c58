"""The engine's pool and session settings (service/kit/db.py): pool sizes and psycopg's
prepare threshold come from the settings, and the session limits are set in every transaction,
so that they hold behind PgBouncer in transaction mode, where consecutive transactions of one
client connection run on different server connections."""

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from service.kit.config import Settings
from service.kit.db import make_engine, run_transaction
from tests.conftest import PG_AND_BOUNCER, PG_BOUNCED_URL, PG_URL, pg_for

LIMITS = text("SELECT current_setting('lock_timeout'), "
              "current_setting('idle_in_transaction_session_timeout'), current_setting('jit'), "
              "(SELECT reset_val FROM pg_settings WHERE name = 'lock_timeout')")


@pytest.fixture(params=PG_AND_BOUNCER)
def pg(request):
    return pg_for(request)


def test_pool_sizes_and_prepare_threshold_are_settings(monkeypatch):
    monkeypatch.setenv("DB_POOL_SIZE", "3")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("DB_PREPARE_THRESHOLD", "none")
    settings = Settings()
    assert (settings.db_pool_size, settings.db_max_overflow, settings.db_prepare_threshold) \
        == (3, 0, None)
    engine = make_engine("postgresql://u@127.0.0.1:1/x", settings)
    assert (engine.pool.size(), engine.pool._max_overflow) == (3, 0)
    monkeypatch.setenv("DB_PREPARE_THRESHOLD", "0")
    assert Settings().db_prepare_threshold == 0
    monkeypatch.delenv("DB_PREPARE_THRESHOLD")
    assert Settings().db_prepare_threshold == 5  # psycopg's own default
    monkeypatch.setenv("DB_POOL_SIZE", "0")
    with pytest.raises(ValueError):
        Settings()


@pytest.mark.postgres
def test_the_session_limits_hold_in_every_transaction_and_on_no_connection(pg):
    """lock_timeout (DB_TIMEOUT_S), idle_in_transaction_session_timeout and jit are in force in
    each of many transactions, directly and through PgBouncer; the connection's own default
    (reset_val) is the server's, so nothing was set per connection that a pooler could lose
    or hand to another client."""
    seen = {run_transaction(pg, lambda s: tuple(s.execute(LIMITS).one())) for _ in range(40)}
    assert seen == {("5s", "1min", "off", "0")}
    shorter = make_engine(pg.url.render_as_string(hide_password=False),
                          Settings(database_url="sqlite://", db_timeout_s=2.5,
                                   db_prepare_threshold=None))
    try:
        assert run_transaction(shorter, lambda s: s.execute(LIMITS).one()[0]) == "2s"
    finally:
        shorter.dispose()
    url = make_url(pg.url)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database,
                         autocommit=True) as raw:  # a server connection outside the engine
        assert raw.execute("SHOW lock_timeout").fetchone() == ("0",)


@pytest.mark.postgres
@pytest.mark.parametrize("threshold, prepared", [(5, True), (None, False)])
def test_prepare_threshold_none_prepares_nothing_on_the_server(pg_engine, threshold, prepared):
    """Behind PgBouncer 1.18 in transaction mode (Debian 12's) a statement prepared on one
    server connection is unknown on the next: DB_PREPARE_THRESHOLD=none prepares none."""
    engine = make_engine(PG_URL, Settings(database_url="sqlite://",
                                          db_prepare_threshold=threshold))
    try:
        with engine.connect() as conn:
            for n in range(8):
                conn.execute(text("SELECT :n + 1"), {"n": n})
            count = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()
        assert (count > 0) is prepared
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_bounced_url_reaches_the_same_database(pg_engine, request):
    if not PG_BOUNCED_URL:
        pytest.skip("PgBouncer is not running")
    bouncer = request.getfixturevalue("bouncer_engine")
    assert make_url(PG_BOUNCED_URL).database == make_url(PG_URL).database
    with pg_engine.connect() as direct, bouncer.connect() as bounced:
        assert direct.execute(text("SELECT current_database()")).scalar() == \
            bounced.execute(text("SELECT current_database()")).scalar()
        assert bounced.execute(text("SHOW port")).scalar() == str(make_url(PG_URL).port)
