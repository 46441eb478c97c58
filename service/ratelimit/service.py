"""Per-client rate limits for the public endpoints (docs/open-data.md, docs/notice.md).

A limit is `limit` hits per fixed window of `window_s` seconds, counted in the database
(`rate_window`), so several stateless worker processes share one count. `take` counts one hit
in the caller's transaction: call it after a request has passed validation and in the same
transaction as what it writes, so a refused request writes nothing, not even its hit."""

import ipaddress
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from service.kit import clock
from service.kit.config import get_settings
from service.kit.errors import DomainError
from service.ratelimit.models import RateWindow

# Windows older than this many windows are deleted now and then by `take`.
_KEEP_WINDOWS = 2


class RateLimited(DomainError):
    """Too many requests from one client address within the window; `Retry-After` says when
    the next window opens."""

    status = 429
    code = "rate_limited"
    title = "Too many requests from this address; retry after Retry-After seconds"

    def __init__(self, detail: str, retry_after: int):
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class _Peer(Protocol):
    host: str


class _Request(Protocol):
    client: _Peer | None
    headers: Any


def client_address(request: _Request) -> str:
    """The address a request came from. Behind a reverse proxy listed in TRUSTED_PROXIES, the
    right-most address of X-Forwarded-For that is not itself a trusted proxy; otherwise the
    peer's address. A forged X-Forwarded-For from an untrusted peer is ignored."""
    peer = request.client.host if request.client else "unknown"
    trusted = _trusted_proxies()
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop[:64]
    return peer


def _trusted_proxies() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = get_settings().trusted_proxies
    return [ipaddress.ip_network(n.strip(), strict=False) for n in raw.split(",") if n.strip()]


def _in(address: str, networks: list) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def window_start(now: datetime, window_s: int) -> datetime:
    """The start of the fixed window `now` falls in (windows are aligned to the epoch)."""
    seconds = int(now.timestamp()) // window_s * window_s
    return datetime.fromtimestamp(seconds, tz=now.tzinfo or clock.SHANGHAI)


def take(session: Session, *, bucket: str, client: str, limit: int, window_s: int) -> None:
    """Count one hit of `client` on `bucket`; raise RateLimited when it would be hit number
    `limit + 1` or later within the current window (the hit is then not kept: the caller's
    transaction rolls back)."""
    now = clock.now()
    start = window_start(now, window_s)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = RateWindow.__table__
    statement = insert(table).values(bucket=bucket, client=client[:64], window_start=start,
                                     hits=1)
    statement = statement.on_conflict_do_update(
        index_elements=["bucket", "client", "window_start"],
        set_={"hits": table.c.hits + 1}).returning(table.c.hits)
    hits = session.execute(statement).scalar_one()
    if hits > limit:
        retry = int((start + timedelta(seconds=window_s) - now).total_seconds()) + 1
        raise RateLimited(f"at most {limit} requests per {window_s} s from one address on "
                          f"{bucket}; retry in {retry} s", retry_after=retry)
    if hits == 1:
        session.execute(delete(RateWindow).where(
            RateWindow.bucket == bucket,
            RateWindow.window_start < start - timedelta(seconds=window_s * _KEEP_WINDOWS)))
