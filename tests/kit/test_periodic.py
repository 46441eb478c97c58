"""The background pass both workers run on (service/kit/periodic.py): its first pass, a failed
pass, an interval of 0; and the hold-expiry worker draining expired holds in batches."""

import threading

from service.holds.expiry import BATCH, ExpiryWorker
from service.kit.periodic import Periodic


def _until(event: threading.Event) -> bool:
    return event.wait(5)


def test_a_failed_pass_is_logged_and_the_next_runs(caplog):
    calls, third = [], threading.Event()

    def run_pass():
        calls.append(1)
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise RuntimeError("boom")

    worker = Periodic("test-pass", run_pass, 0.01, at_start=True)
    worker.start()
    assert _until(third)
    worker.stop()
    assert "test-pass pass failed" in caplog.text


def test_the_first_pass_waits_one_interval_unless_at_start():
    ran = threading.Event()
    worker = Periodic("late", ran.set, 60, at_start=False)
    worker.start()
    assert not ran.wait(0.2)
    worker.stop()
    early = Periodic("early", ran.set, 60, at_start=True)
    early.start()
    assert _until(ran)
    early.stop()


def test_an_interval_of_zero_never_starts():
    ran = threading.Event()
    worker = Periodic("off", ran.set, 0, at_start=True)
    worker.start()
    assert worker._thread is None and not ran.wait(0.1)
    worker.stop()


def test_expiry_drains_full_batches_in_one_pass():
    answers, limits, done = [BATCH, BATCH, 3], [], threading.Event()

    def release(limit):
        limits.append(limit)
        if len(limits) == 3:
            done.set()
        return answers[len(limits) - 1] if len(limits) <= 3 else 0

    worker = ExpiryWorker(release, interval_s=0.01)
    worker.start()
    assert _until(done)
    worker.stop()
    assert limits[:3] == [BATCH, BATCH, BATCH]
