"""The HTTP plumbing every router shares: authentication, the hand-over of writes to the unit of
work (service.uow), read sessions and the query parameters of a page (the keyset pagination
itself is service/kit/paging.py)."""

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter
from sqlmodel import Session

from service import uow
from service.auth import service as auth_service
from service.auth.principal import Principal
from service.kit.db import reading, run_transaction, snapshot
from service.kit.replica import read_on
from service.kit.timestamps import in_shanghai
from service.kit.errors import (
    BadRequest,
    Forbidden,
    Unauthenticated,
)
from service.kit.types import URL_TEXT

T = TypeVar("T")


def engine_of(request: Request):
    return request.app.state.engine


def get_session(request: Request) -> Iterator[Session]:
    with Session(reading(engine_of(request)), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def heavy_read(request: Request, fn: Callable[[Session], Any]) -> Response:
    """fn(session) on the process's heavy-read pool (service/heavy.py), in a snapshot read of
    its own (db.snapshot) on the primary: the route is `async def`, so neither the read nor its
    wait for a worker holds a request thread; with the pool and its queue full it raises Busy
    (503). A reporting read takes `Reporting.heavy_read` instead."""
    engine = snapshot(engine_of(request))

    def read(fn: Callable[[Session], Any]) -> Any:
        with Session(engine, expire_on_commit=False) as session:
            return fn(session)
    return await _on_heavy_pool(request, read, fn)


async def _on_heavy_pool(request: Request, read: Callable[[Callable[[Session], Any]], Any],
                         fn: Callable[[Session], Any]) -> Response:
    def run() -> Response:
        result = read(fn)
        if isinstance(result, Response):
            return result
        # Shaped and encoded here too: a large answer validated on the event loop would hold
        # up every other request (and /healthz) while it runs.
        return JSONResponse(shape_for_route(request, result))
    return await request.app.state.heavy.run(run)


async def authenticate(request: Request) -> Principal:
    """The principal of the request: from this process's key cache, or (on a miss) from the
    database on a worker thread. `async`, so a cached key costs no thread hop; the revocation
    counter is read at most every poll interval (auth/cache.py)."""
    throttle = request.app.state.auth_throttle
    client = request.client.host if request.client else "unknown"
    throttle.check(client)
    # A web page calling in-process names its signed-in user's key by id; everyone else sends
    # the key, cached by its digest.
    key_id = request.scope.get(auth_service.IN_PROCESS_KEY_ID)
    if key_id is None:
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthenticated("send Authorization: Bearer <api key>")
    cache_key = key_id if key_id is not None else auth_service.hash_key(raw.strip())

    def find(session: Session):
        if key_id is not None:
            return auth_service.find_by_id(session, key_id)
        return auth_service.find_by_digest(session, cache_key)
    cache = request.app.state.key_cache
    engine = reading(engine_of(request))
    if cache.due():
        await run_in_threadpool(cache.follow_revocations,
                                lambda: run_transaction(engine, auth_service.revocation_count))
    principal = cache.get(cache_key)
    if principal is None:
        revocations = cache.revocations
        key = await run_in_threadpool(run_transaction, engine, find)
        if key is None:
            await run_in_threadpool(throttle.failed, client, request)
            raise Unauthenticated("the API key is not valid")
        principal = auth_service.principal_of(key)
        cache.put(cache_key, principal, expires_at=auth_service.expiry_of(key),
                  revocations=revocations)
    request.state.principal = principal
    return principal


def allow(*roles: str) -> Callable[..., Principal]:
    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(principal.role, roles)
        return principal
    return dependency


BUREAU = ("admin", "auditor")
ADMIN = ("admin",)
ALL_ROLES = ("admin", "auditor", "provider", "enterprise")


# --- reporting reads: who reads where ---------------------------------------------------------

def reads_on_replica(principal: Principal | None) -> bool:
    """The one rule of who reads where (docs/scaling.md, "Read replicas"), for the reads that
    take `Reporting`: the bureau's and the public's (no key, None) may be served by the replica,
    a few seconds behind and saying so (X-Data-As-Of). Anyone else — an enterprise, a provider,
    a reviewer — reads on the primary, so no one reads less than they just wrote. Every write,
    authentication and key revocation run on the primary whatever this says."""
    return principal is None or principal.role in BUREAU


@dataclass
class Reporting:
    """A reporting read: the bureau's figures, lists and exports, the what-if load and the public
    feeds. `read(fn)` runs fn(session) in one REPEATABLE READ read-only transaction, on the
    replica when READ_DATABASE_URL names one, `reads_on_replica(principal)` and the replica is
    up and within READ_MAX_LAG_S (its answer then carries X-Data-As-Of); otherwise on the
    primary. `heavy_read(fn)` does the same on the heavy-read pool."""

    request: Request
    principal: Principal | None

    def read(self, fn: Callable[[Session], T]) -> T:
        replica = self.request.app.state.replica
        if replica is None or not reads_on_replica(self.principal):
            return read_on(engine_of(self.request), fn)
        result, as_of = replica.read(fn, primary=engine_of(self.request))
        if as_of is not None:  # the middleware sends it (service/middleware.py)
            self.request.state.data_as_of = in_shanghai(as_of).isoformat()
        return result

    async def heavy_read(self, fn: Callable[[Session], Any]) -> Response:
        return await _on_heavy_pool(self.request, self.read, fn)


def reporting(*roles: str) -> Callable[..., Any]:
    """The dependency of a reporting route that these roles may call."""
    auth = allow(*roles)

    async def dependency(request: Request,
                         principal: Annotated[Principal, Depends(auth)]) -> Reporting:
        return Reporting(request, principal)
    return dependency


async def public_reporting(request: Request) -> Reporting:
    """The dependency of a public feed: no key, so no principal."""
    return Reporting(request, None)


BureauReport = Annotated[Reporting, Depends(reporting(*BUREAU))]
PublicReport = Annotated[Reporting, Depends(public_reporting)]


def canonical_request_hash(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    except RecursionError:
        # A route that takes no body still hashes what was sent; JSON nested deeper than the
        # parser goes is refused as FastAPI refuses it on routes that take a body.
        raise BadRequest("the request body is nested too deeply to be read") from None
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass
class Writer:
    """A write request, handed to service.uow: one audited unit of work, batched with the
    process's other writes (group commit). `run` for a route on a worker thread, `submit` for
    an `async def` route (no thread hop)."""

    request: Request
    principal: Principal
    idempotency_key: str | None
    request_hash: str

    def write(self, fn: Callable[[Session], Any] | None = None, *, status_code: int = 200,
              **options: Any) -> uow.Write:
        idempotency = (uow.Idempotency(self.principal.key_id, self.idempotency_key,
                                       self.request_hash) if self.idempotency_key else None)
        return uow.Write(principal=self.principal, fn=fn, status_code=status_code,
                         request_id=getattr(self.request.state, "request_id", None),
                         idempotency=idempotency, shape=self._shape,
                         instance=self.request.url.path, **options)

    def run(self, fn: Callable[[Session], Any], *, status_code: int = 200,
            **options: Any) -> JSONResponse:
        write = self.write(fn, status_code=status_code, **options)
        return _respond(batcher_of(self.request).submit(write).result())

    async def submit(self, write: uow.Write) -> JSONResponse:
        return _respond(await asyncio.wrap_future(batcher_of(self.request).submit(write)))

    def _shape(self, result: Any) -> Any:
        return shape_for_route(self.request, result)


def batcher_of(request: Request) -> uow.Batcher:
    return request.app.state.batcher


def _respond(outcome: uow.Outcome | BaseException) -> JSONResponse:
    if isinstance(outcome, BaseException):
        raise outcome
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status_code, headers=headers,
                        media_type="application/problem+json" if outcome.status_code >= 400
                        else None)


def shape_for_route(request: Request, result: Any) -> Any:
    """Serialise through the route's response_model, as FastAPI does for plain returns: for a
    route that returns a JSONResponse, which FastAPI would otherwise send unfiltered."""
    model = getattr(request.scope.get("route"), "response_model", None)
    if model is None:
        return jsonable_encoder(result)
    adapter = _adapter(model)
    return adapter.dump_python(adapter.validate_python(result, from_attributes=True),
                               mode="json")


@cache
def _adapter(model: Any) -> TypeAdapter:
    return TypeAdapter(model)


def writer(*roles: str) -> Callable[..., Any]:
    auth = allow(*roles)

    async def dependency(
        request: Request,
        principal: Annotated[Principal, Depends(auth)],
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255,
                                                      min_length=1)] = None,
    ) -> Writer:
        body = await request.body()
        return Writer(request=request, principal=principal, idempotency_key=idempotency_key,
                      request_hash=canonical_request_hash(request.method, request.url.path, body))
    return dependency


# --- query parameters (the keyset pagination itself: service/kit/paging.py) ------------------

YearPath = Annotated[int, Path(ge=1, le=9999, description="Budget year")]
YearQuery = Annotated[int | None, Query(ge=1, le=9999, description="Budget year")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (default 50, max 500)")]


def text_query(max_length: int, **kwargs: Any) -> Any:
    """A free-text query parameter; its schema says what the URL refuses (control characters)."""
    return Query(max_length=max_length, pattern=URL_TEXT["pattern"], **kwargs)


Cursor = Annotated[str | None, text_query(200, description="next_cursor of the previous page")]

