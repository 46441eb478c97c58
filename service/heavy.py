"""The heavy-read pool: what-if compares, risk back-tests, report and settlement exports and
full reconciliations run here, never on the request threads.

A few of those, started at once, used to take every request thread and every pooled database
connection: ordinary requests and /healthz queued behind them for tens of seconds and some
answered 500 on a pool timeout. Here they get `threads` workers and `queue` places to wait;
one more is refused at once with 503 `busy` and Retry-After, and one that waited longer than
`max_wait_s` without starting is refused the same way. A refused read has done nothing.
"""

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from service.kit.errors import Busy

T = TypeVar("T")


class HeavyPool:
    def __init__(self, *, threads: int, queue: int, max_wait_s: float):
        self.threads, self.queue, self.max_wait_s = threads, queue, max_wait_s
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="heavy")
        # One slot per read running or waiting: taken without blocking, given back when the
        # read ends (or is cancelled before it starts).
        self._slots = threading.BoundedSemaphore(threads + queue)

    def submit(self, fn: Callable[[], T]) -> "Future[T]":
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{self.threads} heavy reads are running and {self.queue} waiting; "
                       f"retry shortly")
        queued_at = time.monotonic()

        def started() -> T:
            waited = time.monotonic() - queued_at
            if waited > self.max_wait_s:
                raise Busy(f"waited {waited:.0f} s for a heavy-read worker; retry shortly")
            return fn()
        try:
            future = self._executor.submit(started)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    async def run(self, fn: Callable[[], T]) -> T:
        """fn() on the pool; the caller's event loop is free meanwhile. A client that goes
        away before its read starts frees its place in the queue."""
        return await asyncio.wrap_future(self.submit(fn))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
