"""The racing tests run on PostgreSQL directly and through PgBouncer in transaction mode
(tests/conftest.py, docs/testing.md "PgBouncer"): a transaction pooler hands each transaction
to whichever server connection is free, so locks, advisory locks and retries must hold there
too."""

import pytest

from tests.conftest import PG_AND_BOUNCER, pg_for


@pytest.fixture(params=PG_AND_BOUNCER)
def pg(request):
    return pg_for(request)
