"""In-process helpers for authentication: a short-lived key cache and a failure throttle."""

import threading
import time
from collections import deque

from fastapi import Request

from service.auth.principal import Principal
from service.errors import TooManyRequests


class KeyCache:
    """Saves a database round trip per request. Entries live a few seconds so a revocation in
    another worker takes effect quickly; this worker clears the cache on any revocation."""

    def __init__(self, ttl_s: float = 2.0, max_entries: int = 10_000):
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, raw: str) -> Principal | None:
        entry = self._entries.get(raw)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, raw: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[raw] = (time.monotonic() + self.ttl_s, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class AuthThrottle:
    """After `limit` failed authentications from one client within `window_s`, refuse that
    client with 429 for `block_s` (MLPS 2.0 login-failure handling). Each block is audited."""

    def __init__(self, limit: int = 20, window_s: float = 60.0, block_s: float = 60.0):
        self.limit, self.window_s, self.block_s = limit, window_s, block_s
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        until = self._blocked_until.get(client)
        if until and until > time.monotonic():
            raise TooManyRequests("too many failed authentications; try again later")

    def failed(self, client: str, request: Request) -> None:
        now = time.monotonic()
        with self._lock:
            failures = self._failures.setdefault(client, deque())
            failures.append(now)
            while failures and failures[0] < now - self.window_s:
                failures.popleft()
            blocked = len(failures) >= self.limit
            if blocked:
                self._blocked_until[client] = now + self.block_s
                failures.clear()
        if blocked:
            on_block = getattr(request.app.state, "on_auth_block", None)
            if on_block:
                on_block(client, request)
