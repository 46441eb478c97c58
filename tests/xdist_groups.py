"""Which tests share a pytest-xdist worker (`make test` runs `--dist loadgroup`).

The browser tests share one server and one chromium per worker, so they all go to one worker.
The tests that start real servers and time a crash, an outage or a race go to one worker too,
one after another, so two of them never fight over the two cores at the same moment."""

import os

import pytest

GROUPS = {
    "e2e": ("tests/e2e/",),
    "live-servers": ("tests/test_crash_retry.py", "tests/test_workers.py",
                     "tests/test_database_outage.py", "tests/test_concurrency_"),
}


def group_of(path: str) -> str | None:
    path = path.replace(os.sep, "/")
    for name, prefixes in GROUPS.items():
        if any(f"/{prefix}" in path for prefix in prefixes):
            return name
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        name = group_of(str(item.fspath))
        if name:
            item.add_marker(pytest.mark.xdist_group(name))
