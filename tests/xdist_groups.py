"""Which tests share a pytest-xdist worker (`make test` runs `-n auto --dist loadgroup`).

The browser tests share one server and one chromium, so they all go to one worker. The tests
that start real servers and time a crash, an outage or a race go to one worker too, one after
another, so two of them never fight over the two cores at the same moment. Every other test is
handed out one by one to whichever worker is free.

The groups are named here by path, and the scheduler is xdist's own `loadgroup` one with its
grouping read from this table: xdist 3.8 marks a group by appending `@name` to the node id,
which pytest 9 no longer lets a plugin change, so `xdist_group` marks would be ignored."""

import pytest
from xdist.scheduler import LoadGroupScheduling

GROUPS = {
    "e2e": ("tests/e2e/",),
    "live-servers": ("tests/test_crash_retry.py", "tests/test_workers.py",
                     "tests/test_database_outage.py", "tests/test_concurrency_"),
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
