"""The reporting replica (docs/scaling.md, "Read replicas"): whether a streaming replica may
answer a read now, the read there in one snapshot, and the fall back to the primary — counted,
and logged once a minute per reason — when it may not.

Which reads come here is not decided here: `service/api.py` (`reads_on_replica`) holds that
rule. This module knows the replica's engine, its lag and what it served.

**Lag** is read on the standby itself, in one statement (`STANDBY`): 0 when everything it has
received is replayed and its WAL receiver is streaming (an idle primary then leaves the replica
exactly as current as itself, however old its last transaction is); otherwise the age of the
last transaction it replayed, `now() - pg_last_xact_replay_timestamp()` — an upper bound of how
stale it is, also when the receiver has lost the primary. No call to the primary, so a busy or
lost primary does not slow the measure; the cost is that the standby's and the primary's
clocks must agree (NTP), as they must for the timestamps anyway.
"""

import asyncio
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session

from service.kit.config import get_settings
from service.kit.db import make_read_engine, snapshot
from service.kit.errors import NotFound

log = logging.getLogger(__name__)
T = TypeVar("T")

STANDBY = text(
    "SELECT pg_is_in_recovery(), "
    "pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() "
    "AND EXISTS (SELECT FROM pg_stat_wal_receiver), "
    "pg_last_xact_replay_timestamp(), now()")
# After the replica could not be reached, reads go straight to the primary for this long: a
# replica whose host is gone would otherwise cost every read a connect timeout.
RETRY_DOWN_S = 5.0
LOG_EVERY_S = 60.0
# Why a read went to the primary: the replica unreachable, behind by more than the bound, a
# read that failed there (a conflict with recovery, a lost connection), or an object it has not
# replayed yet (a 404 there is asked again of the primary: the object may be new).
REASONS = ("down", "lag", "error", "not_found")


@dataclass(frozen=True)
class Standby:
    """What the replica said of itself: its lag (math.inf when it cannot tell) and the commit
    time of the last transaction it replayed (what its answers are as of)."""

    lag_s: float
    as_of: datetime | None


def standby_state(conn: Connection) -> Standby:
    in_recovery, caught_up, replayed_at, now = conn.execute(STANDBY).one()
    if not in_recovery:  # READ_DATABASE_URL names a primary: it is current by definition
        return Standby(0.0, now)
    if caught_up:
        return Standby(0.0, replayed_at or now)
    if replayed_at is None:  # nothing replayed since it started, and behind: unknown
        return Standby(math.inf, None)
    return Standby(max(0.0, (now - replayed_at).total_seconds()), replayed_at)


def reporting_snapshot(engine: Engine, *, standby: bool = False) -> Engine:
    """One REPEATABLE READ, read-only transaction per read (made once per engine). On a standby
    every transaction is read-only already, and the flag must not be set: psycopg would begin
    the connection's next transaction READ WRITE once SQLAlchemy resets it, which a standby
    refuses."""
    cached = engine.__dict__.get("_reporting_snapshot")
    if cached is None:
        cached = snapshot(engine)
        if engine.dialect.name == "postgresql" and not standby:
            cached = cached.execution_options(postgresql_readonly=True)
        engine.__dict__["_reporting_snapshot"] = cached
    return cached


def read_on(engine: Engine, fn: Callable[[Session], T], *, standby: bool = False) -> T:
    with Session(reporting_snapshot(engine, standby=standby),
                 expire_on_commit=False) as session:
        return fn(session)


class Replica:
    """The replica's engine, the lag bound, and the counts /metrics shows."""

    def __init__(self, engine: Engine, *, max_lag_s: float,
                 probe: Callable[[Connection], Standby] = standby_state,
                 retry_down_s: float = RETRY_DOWN_S,
                 clock: Callable[[], float] = time.monotonic):
        self.engine, self.max_lag_s, self.probe = engine, max_lag_s, probe
        self.retry_down_s, self.clock = retry_down_s, clock
        self.served: Counter[str] = Counter()  # "replica" / "primary"
        self.fallbacks: Counter[str] = Counter()  # by reason
        self.lag_s: float | None = None  # the last measure
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._logged_at: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()
        self._probes: ThreadPoolExecutor | None = None  # made at the first /readyz
        self._running: asyncio.Future | None = None

    @classmethod
    def from_settings(cls) -> "Replica | None":
        """READ_DATABASE_URL's replica, bounded by READ_MAX_LAG_S; None when it is not set."""
        engine = make_read_engine()
        return None if engine is None else cls(engine, max_lag_s=get_settings().read_max_lag_s)

    def standby(self) -> Standby:
        with self.engine.connect() as conn:
            state = self.probe(conn)
        self.lag_s = state.lag_s
        return state

    def read(self, fn: Callable[[Session], T], *, primary: Engine) -> tuple[T, datetime | None]:
        """fn(session) on the replica, with the time its data is as of; or, when the replica
        may not answer, on the primary, with None."""
        state = self._usable()
        if state is not None:
            try:
                result = read_on(self.engine, fn, standby=True)
            except NotFound:
                self._fell_back("not_found", "a 404 on the replica, asked again of the primary")
            except (DBAPIError, PoolTimeout) as exc:
                self._fell_back("error", f"the read failed there: {exc!r}"[:300])
            else:
                self._count("replica")
                return result, state.as_of
        result = read_on(primary, fn)
        self._count("primary")
        return result, None

    def _usable(self) -> Standby | None:
        if self.clock() < self._down_until:
            self._fell_back("down", "unreachable a moment ago")
            return None
        try:
            state = self.standby()  # before the read's snapshot: as_of is never newer than it
        except (DBAPIError, PoolTimeout) as exc:
            self._down_until = self.clock() + self.retry_down_s
            self._fell_back("down", f"unreachable: {exc!r}"[:300])
            return None
        if state.lag_s > self.max_lag_s:
            self._fell_back("lag", f"lag {state.lag_s:.2f} s over READ_MAX_LAG_S "
                                   f"{self.max_lag_s:g} s")
            return None
        return state

    def _count(self, where: str) -> None:
        with self._lock:
            self.served[where] += 1

    def _fell_back(self, reason: str, detail: str) -> None:
        """Counted always; logged at most once a minute per reason, with how many reads went
        to the primary for it since the last line. A 404 is the object's doing, not the
        replica's: counted, not logged."""
        now = self.clock()
        with self._lock:
            self.fallbacks[reason] += 1
            self._unlogged[reason] += 1
            if reason == "not_found" or now - self._logged_at.get(reason, -math.inf) < LOG_EVERY_S:
                return
            self._logged_at[reason] = now
            count, self._unlogged[reason] = self._unlogged[reason], 0
        log.warning(json.dumps({"message": "reporting reads fall back to the primary",
                                "replica_fallback": reason, "detail": detail,
                                "reads_since_last_line": count}, ensure_ascii=False))

    async def ready(self, timeout_s: float) -> dict[str, Any]:
        """/readyz's view: {"ok", "lag_s"}. The probe runs on a thread of its own; probes that
        arrive while one runs share its answer (a hung replica holds one thread)."""
        if self._running is None or self._running.done():
            if self._probes is None:
                self._probes = ThreadPoolExecutor(max_workers=1,
                                                  thread_name_prefix="replica-ready")
            self._running = asyncio.wrap_future(self._probes.submit(self.standby))
        try:
            state = await asyncio.wait_for(asyncio.shield(self._running), timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure means not usable
            log.warning("replica readiness check failed: %r", exc)
            return {"ok": False, "lag_s": None}
        lag = None if math.isinf(state.lag_s) else round(state.lag_s, 3)
        return {"ok": state.lag_s <= self.max_lag_s, "lag_s": lag}

    def shutdown(self) -> None:
        if self._probes is not None:
            self._probes.shutdown(wait=False, cancel_futures=True)
            self._probes, self._running = None, None
        self.engine.dispose()
