"""The suite's in-process client (tests/inprocess.py) answers as Starlette's TestClient did:
the lifespan around the client's life, the same scope, an unexpected error as a 500, redirects
followed, and it works while another library's loop is marked running in the thread."""

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from tests.inprocess import InProcessClient, ThreadPortal


def _app(events: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/where")
    def where(request: Request):  # a sync route: anyio's thread pool, as the service's are
        return {"client": list(request.client), "host": request.headers["host"]}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("unexpected")

    @app.get("/moved")
    async def moved():
        return RedirectResponse("/where", status_code=303)

    return app


def test_lifespan_scope_errors_and_redirects():
    events: list[str] = []
    with InProcessClient(_app(events), raise_server_exceptions=False) as client:
        assert events == ["startup"]
        assert client.get("/where").json() == {"client": ["testclient", 50000],
                                               "host": "testserver"}
        assert client.get("/boom").status_code == 500
        moved = client.get("/moved")
        assert (moved.status_code, moved.url.path) == (200, "/where")
    assert events == ["startup", "shutdown"]


def test_a_foreign_running_loop_is_set_aside_and_put_back():
    foreign = asyncio.new_event_loop()
    asyncio.events._set_running_loop(foreign)  # what Playwright's sync API leaves behind
    try:
        with InProcessClient(_app([])) as client:
            assert client.get("/where").status_code == 200
        assert ThreadPortal().call(asyncio.sleep, 0) is None
        assert asyncio.events._get_running_loop() is foreign
    finally:
        asyncio.events._set_running_loop(None)
        foreign.close()
