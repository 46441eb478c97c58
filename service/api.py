"""The HTTP plumbing every router shares: authentication, the write path (one transaction,
idempotency, audit seal, retries), read sessions and cursor pagination."""

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, PlainSerializer, TypeAdapter
from sqlalchemy import text
from sqlmodel import Session, select

from service import clock
from service.audit import service as audit_service
from service.auth import service as auth_service
from service.auth.principal import Principal
from service.db import is_postgres, reading, run_transaction, snapshot
from service.errors import (
    DomainError,
    FieldError,
    Forbidden,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    Unauthenticated,
    ValidationFailed,
)
from service.idempotency_models import IdempotencyRecord

T = TypeVar("T")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=clock.SHANGHAI) if value.tzinfo is None else value.astimezone(
        clock.SHANGHAI)


# Timestamps leave the service as ISO 8601 with the Asia/Shanghai offset on every backend.
Timestamp = Annotated[datetime, AfterValidator(_aware),
                      PlainSerializer(lambda v: _aware(v).isoformat(), return_type=str)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def engine_of(request: Request):
    return request.app.state.engine


def get_session(request: Request) -> Iterator[Session]:
    with Session(reading(engine_of(request)), expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_snapshot_session(request: Request) -> Iterator[Session]:
    with Session(snapshot(engine_of(request)), expire_on_commit=False) as session:
        yield session


SnapshotSessionDep = Annotated[Session, Depends(get_snapshot_session)]


def authenticate(request: Request) -> Principal:
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
    cache.follow_revocations(lambda: run_transaction(engine, auth_service.revocation_count))
    principal = cache.get(cache_key)
    if principal is None:
        revocations = cache.revocations
        key = run_transaction(engine, find)
        if key is None:
            throttle.failed(client, request)
            raise Unauthenticated("the API key is not valid")
        principal = auth_service.principal_of(key)
        cache.put(cache_key, principal, expires_at=auth_service.expiry_of(key),
                  revocations=revocations)
    request.state.principal = principal
    return principal


def allow(*roles: str) -> Callable[..., Principal]:
    def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"role {principal.role} may not do this")
        return principal
    return dependency


BUREAU = ("admin", "auditor")
ADMIN = ("admin",)
ALL_ROLES = ("admin", "auditor", "provider", "enterprise")


def _canonical_hash(method: str, path: str, body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass
class Writer:
    """Runs one write request as one retried transaction, with idempotency and audit."""

    request: Request
    principal: Principal
    idempotency_key: str | None
    request_hash: str

    def run(self, fn: Callable[[Session], Any], *, status_code: int = 200) -> JSONResponse:
        engine = engine_of(self.request)
        request_id = getattr(self.request.state, "request_id", None)
        info = {"principal": self.principal, "request_id": request_id}

        def attempt(session: Session) -> tuple[int, Any]:
            if self.idempotency_key:
                stored = self._claim(session)
                if stored is not None:
                    return stored
            result = fn(session)
            body = self._shape(result)
            if self.idempotency_key:
                session.add(IdempotencyRecord(api_key_id=self.principal.key_id,
                                              key=self.idempotency_key,
                                              request_hash=self.request_hash,
                                              status_code=status_code, response_body=body))
            session.flush()
            # Last: the chain head is the one row every audited write locks until COMMIT.
            audit_service.seal(session)
            return status_code, body

        try:
            status, body = run_transaction(engine, attempt, info=info)
        except DomainError as exc:
            if self.idempotency_key and exc.status < 500 and exc.code not in (
                    "idempotency_key_reused", "idempotency_in_flight"):
                self._remember_refusal(engine, exc)
            raise
        headers = {"Idempotent-Replayed": "true"} if status < 0 else None
        return JSONResponse(body, status_code=abs(status), headers=headers,
                            media_type="application/problem+json" if abs(status) >= 400 else None)

    def _shape(self, result: Any) -> Any:
        """Serialise through the route's response_model, as FastAPI does for plain returns:
        run() returns a JSONResponse, which FastAPI would otherwise send unfiltered."""
        model = getattr(self.request.scope.get("route"), "response_model", None)
        if model is None:
            return jsonable_encoder(result)
        adapter = _adapter(model)
        return adapter.dump_python(adapter.validate_python(result, from_attributes=True),
                                   mode="json")

    def _claim(self, session: Session) -> tuple[int, Any] | None:
        if is_postgres(session):
            got = session.execute(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:k, 0))"),
                                  {"k": f"{self.principal.key_id}:{self.idempotency_key}"}).scalar()
            if not got:
                raise IdempotencyInFlight()
        record = session.execute(select(
            IdempotencyRecord.request_hash, IdempotencyRecord.status_code,
            IdempotencyRecord.response_body).where(
            IdempotencyRecord.api_key_id == self.principal.key_id,
            IdempotencyRecord.key == self.idempotency_key)).first()
        if record is None:
            return None
        if record.request_hash != self.request_hash:
            raise IdempotencyKeyReused("this Idempotency-Key was first used with another request")
        return -record.status_code, record.response_body  # negative: replayed

    def _remember_refusal(self, engine, exc: DomainError) -> None:
        body = exc.problem()
        body["instance"] = self.request.url.path

        def store(session: Session) -> None:
            exists = session.get(IdempotencyRecord, (self.principal.key_id, self.idempotency_key))
            if exists is None:
                session.add(IdempotencyRecord(api_key_id=self.principal.key_id,
                                              key=self.idempotency_key,
                                              request_hash=self.request_hash,
                                              status_code=exc.status, response_body=body))
        try:
            run_transaction(engine, store)
        except Exception:  # noqa: BLE001 - remembering a refusal is best effort
            pass


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
                      request_hash=_canonical_hash(request.method, request.url.path, body))
    return dependency


# --- pagination -------------------------------------------------------------------------------

def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
            raise ValueError(cursor)
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode()).decode()
        if not value.isprintable() or not value:
            raise ValueError(cursor)
        return value
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not valid", errors=[FieldError(
            field="cursor", message="not a cursor returned by this API")]) from None


YearPath = Annotated[int, Path(ge=1, le=9999, description="Budget year")]
YearQuery = Annotated[int | None, Query(ge=1, le=9999, description="Budget year")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (default 50, max 500)")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")]


def paginate(session: Session, stmt, id_column, limit: int, cursor: str | None,
             to_public: Callable[[Any], Any] | None = None, *,
             shape_page: Callable[[list], list] | None = None) -> dict[str, Any]:
    """Keyset pagination on an id column; shape each row, or the whole page at once."""
    if cursor:
        stmt = stmt.where(id_column > decode_cursor(cursor))
    rows = list(session.exec(stmt.order_by(id_column).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(str(getattr(rows[-1], id_column.key))) if more and rows else None
    items = shape_page(rows) if shape_page else [to_public(r) for r in rows]
    return {"items": items, "next_cursor": next_cursor}
