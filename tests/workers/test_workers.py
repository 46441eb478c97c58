"""`voucher serve --workers 2` just works: every process is stateless (docs/scaling.md).

Each request goes on a fresh connection, so the kernel spreads them over both workers, and
carries its own X-Request-ID; the access log line of each request names the pid that served
it, which is how the tests know that both workers answered."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.auth import service as auth_service
from service.auth.principal import SYSTEM
from service.uow import run_write
from service.web.sessions import COOKIE
from tests.conftest import DATABASES, WITH_BOUNCER, engine_for, server_env
from tests.factories import bearer
from tests.live import ROOT, free_port

VOUCHER = str(Path(sys.executable).parent / "voucher")


@dataclass
class Workers:
    url: str
    log: Path

    def request(self, method: str, path: str, **kwargs) -> tuple[httpx.Response, str]:
        """One request on a new connection, and the id that finds its log line."""
        request_id = uuid.uuid4().hex
        headers = {**kwargs.pop("headers", {}), "X-Request-ID": request_id}
        response = httpx.request(method, self.url + path, headers=headers, timeout=30,
                                 follow_redirects=False, **kwargs)
        return response, request_id

    def many(self, method: str, path: str, n: int = 24, **kwargs) -> list[httpx.Response]:
        """n requests on n connections, four at a time; asserts that both workers served some."""
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: self.request(method, path, **kwargs), range(n)))
        assert len(set(self.pids([rid for _, rid in results]).values())) == 2
        return [response for response, _ in results]

    def pids(self, request_ids: list[str]) -> dict[str, int]:
        """The pid that served each request, from its access log line (written just after the
        response, so wait for it)."""
        wanted, found = set(request_ids), {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                if line.startswith("{") and '"event": "request"' in line:
                    entry = json.loads(line)
                    if entry["request_id"] in wanted:  # a page's in-process calls share it
                        found.setdefault(entry["request_id"], entry["pid"])
            if wanted <= found.keys():
                return found
            time.sleep(0.05)
        raise AssertionError(f"no log line for {sorted(wanted - found.keys())}")

    def until_both_workers_serve(self, method: str, path: str, **kwargs) -> None:
        """Requests until each worker has served one with a 200 (both have started, and
        both have cached what the request used)."""
        seen: set[int] = set()
        deadline = time.monotonic() + 30
        while len(seen) < 2:
            assert time.monotonic() < deadline, "the second worker never answered"
            response, request_id = self.request(method, path, **kwargs)
            assert response.status_code == 200, response.text
            seen.add(self.pids([request_id])[request_id])


@pytest.fixture(params=WITH_BOUNCER)
def engine(request):
    """SQLite, PostgreSQL, and PostgreSQL through PgBouncer in transaction mode (the workers
    then share its server connections: revocations and web sessions must still reach both)."""
    yield from engine_for(request)


@pytest.fixture
def workers(engine, tmp_path) -> Iterator[Workers]:
    log = tmp_path / "serve.log"
    port = free_port()
    env = {**os.environ, **server_env(engine), "LOG_JSON": "true"}
    with open(log, "wb") as stderr:
        process = subprocess.Popen([VOUCHER, "serve", "--port", str(port), "--workers", "2"],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield Workers(url=url, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def make_key(engine, role: str = "admin") -> tuple[str, str]:
    def create(session):
        key, raw = auth_service.create_key(session, role=role, name=f"workers {role}")
        return key.id, raw
    return run_write(engine, create, principal=SYSTEM)


def cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={session_id}"}


def test_a_revoked_key_is_refused_by_every_worker_within_a_second(engine, workers):
    key_id, key = make_key(engine)
    _, admin = make_key(engine)
    workers.until_both_workers_serve("GET", "/v1/enterprises", headers=bearer(key))
    assert {r.status_code for r in workers.many("GET", "/v1/enterprises",
                                                headers=bearer(key))} == {200}
    response, _ = workers.request("DELETE", f"/v1/api-keys/{key_id}", headers=bearer(admin))
    assert response.status_code == 200, response.text
    time.sleep(1.0)
    refused = workers.many("GET", "/v1/enterprises", headers=bearer(key))
    assert {(r.status_code, r.json()["code"]) for r in refused} == {(401, "unauthenticated")}


@pytest.mark.parametrize("engine", DATABASES, indirect=True)  # not through PgBouncer: 5 s more
def test_a_web_session_keeps_working_across_workers(engine, workers):
    _, key = make_key(engine)
    login, _ = workers.request("GET", "/web/login")
    anonymous = login.cookies[COOKIE]
    token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    # The sign-in form's token is checked by whichever worker takes the POST.
    signed_in, _ = workers.request("POST", "/web/login", headers=cookie(anonymous),
                                   data={"api_key": key, "csrf_token": token})
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/web/bureau")
    session = cookie(signed_in.cookies[COOKIE])
    pages = workers.many("GET", "/web/bureau", headers=session)
    assert {r.status_code for r in pages} == {200}
    assert all(key not in r.text for r in pages)
    # Signing out on one worker signs out on both.
    token = pages[0].text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    out, _ = workers.request("POST", "/web/logout", headers=session, data={"csrf_token": token})
    assert (out.status_code, out.headers["location"]) == (303, "/web/login?out=1")
    after = workers.many("GET", "/web/bureau", headers=session)
    assert {(r.status_code, r.headers["location"]) for r in after} == {
        (303, "/web/login?expired=1")}
