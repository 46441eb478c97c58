"""Which tests share a pytest-xdist worker (`make test` runs `-n auto --dist loadgroup`).

The browser tests share one server and one chromium, so they all go to one worker. The tests
that start real servers and time a crash, an outage or a race go to one worker too, one after
another, so two of them never fight over the two cores at the same moment. Every other test is
handed out one by one to whichever worker is free.

The groups are named here by path, and the scheduler is xdist's own `loadgroup` one with its
grouping read from this table: xdist 3.8 marks a group by appending `@name` to the node id,
which pytest 9 no longer lets a plugin change, so `xdist_group` marks would be ignored."""

import fcntl
import os

import pytest
from xdist.scheduler import LoadGroupScheduling

GROUPS = {
    "e2e": ("tests/e2e/",),
    "live-servers": ("tests/crash/test_crash_retry.py", "tests/workers/test_workers.py",
                     "tests/crash/test_database_outage.py", "tests/concurrency/",
                     "tests/workers/test_heavy_reads.py", "tests/project/test_readme.py"),
    # they pause the streaming replica's replay: one at a time
    "replica": ("tests/replica/test_streaming.py",),
}


def group_of(nodeid: str) -> str | None:
    for name, prefixes in GROUPS.items():
        if nodeid.startswith(prefixes):
            return name
    return None


class PathGroupScheduling(LoadGroupScheduling):
    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid) or nodeid


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup":
        return PathGroupScheduling(config, log)
    return None


# test_database_outage stops the PostgreSQL server itself: while it runs, no other worker may be
# in a PostgreSQL test. Every PostgreSQL test holds a shared lock on a file of this run, the
# outage tests an exclusive one.
OUTAGE = "tests/crash/test_database_outage.py"
PG_FIXTURES = {"pg", "pg_engine"}


def _lock_path() -> str:
    import tempfile

    from tests.pg_databases import run_token
    return os.path.join(tempfile.gettempdir(), f"voucher-test-{run_token()}.lock")


@pytest.fixture(autouse=True)
def _postgres_server_lock(request):
    item = request.node
    if item.nodeid.startswith(OUTAGE):
        mode = fcntl.LOCK_EX
    elif "[postgres" in item.nodeid or PG_FIXTURES & set(item.fixturenames):
        mode = fcntl.LOCK_SH
    else:
        yield
        return
    with open(_lock_path(), "a") as f:
        fcntl.flock(f, mode)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
