"""The background pass that tells the ledger of expired holds (docs/holds.md). Reads never wait
for it — a hold past its `expires_at` reads `expired` from that instant (holds/tally.py) — it
only records the release in the ledger and the audit chain and queues the `hold.expired`
webhook, which the alerts' delivery worker sends and retries from the outbox."""

from collections.abc import Callable

from service.kit.periodic import Periodic

BATCH = 200


class ExpiryWorker(Periodic):
    """A daemon thread in each API process; two processes releasing one hold is harmless (the
    release is a conditional UPDATE, so the second finds nothing to do)."""

    def __init__(self, run_pass: Callable[[int], int], interval_s: float = 5.0):
        # run_pass(limit): one transaction through the unit of work releasing up to `limit`
        # expired holds (tally.release_expired), answering how many (wired in service/app.py).
        super().__init__("hold-expiry", lambda: self._drain(run_pass), interval_s,
                         at_start=False)

    @staticmethod
    def _drain(run_pass: Callable[[int], int]) -> None:
        while run_pass(BATCH) == BATCH:
            pass
