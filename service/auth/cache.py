"""In-process helpers for authentication: the key cache and a failure throttle."""

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from fastapi import Request

from service.kit import clock
from service.auth.principal import Principal
from service.kit.errors import TooManyRequests


class KeyCache:
    """Principals by key digest (or key id, for the web pages' in-process calls), kept for
    minutes: looking every key up again after a few seconds cost 7 % of a worker's time.

    Revocations still reach every process within a second, through the revocation counter in
    the database (`auth.service.revocation_count`): each process reads it at most every `poll_s`
    before it trusts the cache, and empties the cache when the counter moved. A cached principal
    never outlives its key's `expires_at` (grace-period revocations and rotation)."""

    def __init__(self, ttl_s: float = 300.0, poll_s: float = 0.5, max_entries: int = 10_000):
        self.ttl_s, self.poll_s, self.max_entries = ttl_s, poll_s, max_entries
        self._entries: dict[str, tuple[float, datetime | None, Principal]] = {}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._polled_at = -math.inf
        self.revocations: int | None = None  # the counter as last read

    def due(self) -> bool:
        """Whether the counter should be read again before the cache is trusted."""
        return time.monotonic() - self._polled_at >= self.poll_s

    def follow_revocations(self, read_counter: Callable[[], int]) -> None:
        """Read the counter if the last read is `poll_s` old; empty the cache if it moved."""
        started = time.monotonic()
        if started - self._polled_at < self.poll_s:
            return
        # One thread reads; the others wait for that read rather than trust a cache that may be
        # older than `poll_s` (a worker idle since a revocation would otherwise serve the
        # revoked key to every request that arrives during its first read).
        if not self._poll_lock.acquire(timeout=5):
            return  # the database is not answering: the key look-up will say so
        try:
            if started - self._polled_at < self.poll_s:
                return
            revocations = read_counter()
            with self._lock:
                if revocations != self.revocations:
                    self._entries.clear()
                    self.revocations = revocations
            # The read saw every revocation committed before it started.
            self._polled_at = started
        finally:
            self._poll_lock.release()

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        if entry[1] is not None and entry[1] <= clock.now():
            return None
        return entry[2]

    def put(self, key: str, principal: Principal, *, expires_at: datetime | None,
            revocations: int | None) -> None:
        """`revocations` is the counter as it stood before the key was looked up: if it has
        moved since, the lookup may predate a revocation, and the entry is not kept."""
        with self._lock:
            if revocations != self.revocations:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl_s, expires_at, principal)

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
