"""Real threads against PostgreSQL: the same invoice posted by racing requests is saved once;
every other request gets the same 409 a later duplicate gets, never a 500 from the unique
index that caught the race."""

import threading
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.conftest import sql
from tests.factories import Api
from tests.flows import invoice_body, line, make_world

pytestmark = pytest.mark.postgres
THREADS = 8


@pytest.fixture
def world(pg, today):
    today("2026-06-15")
    with TestClient(create_app(pg), raise_server_exceptions=False) as client:
        yield make_world(Api(client, pg))


def _race(world, path: str, body: dict) -> Counter:
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def post(i: int) -> None:
        barrier.wait()
        results[i] = world.api.client.post(path, json=body, headers=world.prov)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return Counter((r.status_code, r.json().get("code") if r.status_code >= 400 else None)
                   for r in results)


@pytest.mark.parametrize("path, wrap", [("/v1/invoices", lambda b: b),
                                         ("/v1/invoices/batch", lambda b: {"invoices": [b]})])
def test_racing_posts_of_one_invoice_save_it_once(world, path, wrap):
    body = wrap(invoice_body(world.enterprise["uscc"], [line("gpu", 100_000)]))
    assert _race(world, path, body) == {(201, None): 1, (409, "invoice_duplicate"): THREADS - 1}
    later = world.api.client.post(path, json=body, headers=world.prov)
    assert (later.status_code, later.json()["code"]) == (409, "invoice_duplicate")
    assert sql(world.api.engine, "SELECT count(*) FROM invoice").scalar() == 1
    assert sql(world.api.engine, "SELECT count(*) FROM invoice_line").scalar() == 1
