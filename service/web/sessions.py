"""Server-side web sessions, held in this process's memory.

The browser holds only a random session id (HttpOnly, SameSite=Strict cookie); the API key the
user signed in with stays here and is never sent back to the page. Sessions are not stored in the
database, so a deployment with several workers needs sticky sessions or a shared store behind
this same interface (docs/web.md).
"""

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from service.auth.principal import Principal

COOKIE = "cv_session"
IDLE_TIMEOUT_S = 30 * 60
ABSOLUTE_TIMEOUT_S = 8 * 60 * 60


@dataclass
class WebSession:
    id: str
    csrf_token: str
    created: float
    last_seen: float
    api_key: str | None = None
    principal: Principal | None = None
    flashes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def signed_in(self) -> bool:
        return self.principal is not None and self.api_key is not None

    def flash(self, kind: str, message: str, **extra: Any) -> None:
        self.flashes.append({"kind": kind, "message": message, **extra})

    def take_flashes(self) -> list[dict[str, Any]]:
        out, self.flashes = self.flashes, []
        return out


class SessionStore:
    """Thread-safe in-memory sessions with idle and absolute expiry."""

    def __init__(self, idle_s: float = IDLE_TIMEOUT_S, absolute_s: float = ABSOLUTE_TIMEOUT_S,
                 max_sessions: int = 10_000):
        self.idle_s, self.absolute_s, self.max_sessions = idle_s, absolute_s, max_sessions
        self._sessions: dict[str, WebSession] = {}
        self._lock = threading.Lock()

    def create(self) -> WebSession:
        now = time.monotonic()
        session = WebSession(id=secrets.token_urlsafe(32), csrf_token=secrets.token_urlsafe(32),
                             created=now, last_seen=now)
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                self._purge(now)
            if len(self._sessions) >= self.max_sessions:  # still full: drop the stalest
                stalest = min(self._sessions.values(), key=lambda s: s.last_seen)
                del self._sessions[stalest.id]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> WebSession | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def sign_in(self, old: WebSession | None, api_key: str, principal: Principal) -> WebSession:
        """A new id on sign-in, so a session id planted before sign-in is worthless after it."""
        if old is not None:
            self.delete(old.id)
        session = self.create()
        session.api_key, session.principal = api_key, principal
        return session

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _expired(self, session: WebSession, now: float) -> bool:
        return now - session.last_seen > self.idle_s or now - session.created > self.absolute_s

    def _purge(self, now: float) -> None:
        for sid in [s.id for s in self._sessions.values() if self._expired(s, now)]:
            del self._sessions[sid]
