"""Web sessions, in the database, so that any worker can serve a session's next request.

The browser holds a random 256-bit session id (HttpOnly, SameSite=Strict cookie). The database
holds the id's SHA-256 digest, the id of the API key the user signed in with (never the key:
the pages call the API in-process by key id, service/web/apiclient.py), the two timestamps the
idle and absolute expiry need, and the flash messages waiting for the next page. The CSRF token
is derived from the session id, so it is stored nowhere.

Before sign-in there is no row: the sign-in form's CSRF token comes from an anonymous id
(`ANONYMOUS` prefix) that exists only in the cookie, so anonymous traffic writes nothing.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import delete, or_, update
from sqlalchemy.engine import Engine
from starlette.requests import HTTPConnection, Request

from service.kit import clock
from service.auth import service as auth_service
from service.auth.models import ApiKey
from service.auth.principal import Principal
from service.kit.db import reading, run_transaction
from service.web.models import StoredWebSession

COOKIE = "cv_session"
IDLE_TIMEOUT_S = 30 * 60
ABSOLUTE_TIMEOUT_S = 8 * 60 * 60
# last_seen_at is written at most this often, not on every page: idle expiry is measured to
# the minute, and reading a page stays a read.
TOUCH_INTERVAL_S = 60
ANONYMOUS = "anon."
STATE = "web_session"


@dataclass
class WebSession:
    id: str
    principal: Principal | None = None
    flashes: list[dict[str, Any]] = field(default_factory=list)
    changed: bool = False  # flashes to save before the response starts
    ended: bool = False  # to delete before the response starts

    @property
    def signed_in(self) -> bool:
        return self.principal is not None and not self.ended

    @property
    def csrf_token(self) -> str:
        return hmac.new(self.id.encode(), b"csrf", hashlib.sha256).hexdigest()

    def flash(self, kind: str, message: str, **extra: Any) -> None:
        self.flashes.append({"kind": kind, "message": message, **extra})
        self.changed = True

    def take_flashes(self) -> list[dict[str, Any]]:
        out, self.flashes = self.flashes, []
        self.changed = self.changed or bool(out)
        return out

    def end(self) -> None:
        """Sign out: the row is deleted before the response starts, for every worker."""
        self.ended = True


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    # SQLite returns timestamps without their offset; they were written in Shanghai time.
    return value if value.tzinfo else value.replace(tzinfo=clock.SHANGHAI)


class SessionStore:
    """Sessions with idle and absolute expiry, shared by every worker through the database."""

    def __init__(self, engine: Engine, idle_s: float = IDLE_TIMEOUT_S,
                 absolute_s: float = ABSOLUTE_TIMEOUT_S):
        self.engine, self.idle_s, self.absolute_s = engine, idle_s, absolute_s

    def anonymous(self) -> WebSession:
        return WebSession(id=ANONYMOUS + secrets.token_urlsafe(32))

    def get(self, session_id: str | None) -> WebSession | None:
        if not session_id or len(session_id) > 100:
            return None
        if session_id.startswith(ANONYMOUS):
            return WebSession(id=session_id)
        key = digest(session_id)
        loaded = run_transaction(reading(self.engine), lambda s: self._load(s, key))
        if loaded is None:
            return None
        row, api_key = loaded
        now = clock.now()
        if api_key is None or self._expired(row, now):
            self.delete(session_id)
            return None
        if now - _aware(row.last_seen_at) >= timedelta(seconds=TOUCH_INTERVAL_S):
            run_transaction(self.engine, lambda s: s.execute(
                update(StoredWebSession).where(StoredWebSession.id_digest == key)
                .values(last_seen_at=now)))
        return WebSession(id=session_id, principal=auth_service.principal_of(api_key),
                          flashes=list(row.flashes))

    def sign_in(self, old: WebSession | None, principal: Principal) -> WebSession:
        """A new id on sign-in, so a session id planted before sign-in is worthless after it.
        Expired sessions are swept here, the one place a row is added."""
        session = WebSession(id=secrets.token_urlsafe(32), principal=principal)
        now = clock.now()

        def write(s) -> None:
            if old is not None and not old.id.startswith(ANONYMOUS):
                s.execute(delete(StoredWebSession)
                          .where(StoredWebSession.id_digest == digest(old.id)))
            s.execute(delete(StoredWebSession).where(or_(
                StoredWebSession.last_seen_at < now - timedelta(seconds=self.idle_s),
                StoredWebSession.created_at < now - timedelta(seconds=self.absolute_s))))
            s.add(StoredWebSession(id_digest=digest(session.id), api_key_id=principal.key_id,
                                   created_at=now, last_seen_at=now, flashes=[]))
        run_transaction(self.engine, write)
        return session

    def save(self, session: WebSession) -> None:
        if session.ended:
            self.delete(session.id)
        elif session.changed and session.signed_in:
            run_transaction(self.engine, lambda s: s.execute(
                update(StoredWebSession)
                .where(StoredWebSession.id_digest == digest(session.id))
                .values(flashes=session.flashes)))
        session.changed = False

    def delete(self, session_id: str) -> None:
        if session_id.startswith(ANONYMOUS):
            return
        run_transaction(self.engine, lambda s: s.execute(
            delete(StoredWebSession).where(StoredWebSession.id_digest == digest(session_id))))

    def _load(self, s, key: str) -> tuple[StoredWebSession, ApiKey | None] | None:
        row = s.get(StoredWebSession, key)
        if row is None:
            return None
        api_key = s.get(ApiKey, row.api_key_id)
        return row, api_key if api_key is not None and auth_service.usable(api_key) else None

    def _expired(self, row: StoredWebSession, now: datetime) -> bool:
        return (now - _aware(row.last_seen_at) > timedelta(seconds=self.idle_s)
                or now - _aware(row.created_at) > timedelta(seconds=self.absolute_s))


def current(request: Request) -> WebSession | None:
    return request.scope.get("state", {}).get(STATE)


class SessionMiddleware:
    """Loads the browser's session before a page runs (in a worker thread: it is a database
    read) and saves what the page changed — flashes, sign-out — before the response starts, so
    the browser's next request, on whichever worker, sees it."""

    def __init__(self, app, store: SessionStore):
        self.app, self.store = app, store

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/web") or \
                path.startswith("/web/static/"):
            return await self.app(scope, receive, send)
        session_id = HTTPConnection(scope).cookies.get(COOKIE)
        session = await anyio.to_thread.run_sync(self.store.get, session_id)
        scope.setdefault("state", {})[STATE] = session

        async def saving(message):
            if message["type"] == "http.response.start" and session is not None and \
                    (session.changed or session.ended):
                await anyio.to_thread.run_sync(self.store.save, session)
            await send(message)
        await self.app(scope, receive, saving)
