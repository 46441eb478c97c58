"""The background pass that tells the ledger of expired holds (docs/holds.md). Reads never wait
for it — a hold past its `expires_at` reads `expired` from that instant (holds/tally.py) — it
only records the release in the ledger and the audit chain and queues the `hold.expired`
webhook, which the alerts' delivery worker sends and retries from the outbox."""

import logging
import threading

from collections.abc import Callable

log = logging.getLogger(__name__)
BATCH = 200


class ExpiryWorker:
    """A daemon thread in each API process; two processes releasing one hold is harmless (the
    release is a conditional UPDATE, so the second finds nothing to do)."""

    def __init__(self, run_pass: Callable[[int], int], interval_s: float = 5.0):
        # run_pass(limit): one transaction through the unit of work releasing up to `limit`
        # expired holds (tally.release_expired), answering how many (wired in service/app.py).
        self.run_pass, self.interval_s = run_pass, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval_s <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="hold-expiry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                while self.run_pass(BATCH) == BATCH:
                    pass
            except Exception:
                log.exception("hold expiry pass failed")
