"""A pass run again and again on a daemon thread of each API process until the process stops
(the alerts' webhook delivery, the holds' expiry): a failed pass is logged and the next one
runs on time."""

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """run_pass() every interval_s seconds, the first at once (`at_start`) or after one
    interval; an interval of 0 or less never starts the thread."""

    def __init__(self, name: str, run_pass: Callable[[], object], interval_s: float, *,
                 at_start: bool):
        self.name, self.run_pass, self.interval_s, self.at_start = \
            name, run_pass, interval_s, at_start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval_s <= 0:
            return
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        if self.at_start:
            self._once()
        while not self._stop.wait(self.interval_s):
            self._once()

    def _once(self) -> None:
        try:
            self.run_pass()
        except Exception:
            log.exception("%s pass failed", self.name)
