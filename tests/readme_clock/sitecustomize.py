"""Loaded by the server process of tests/project/test_readme.py (this directory on PYTHONPATH): the
business calendar reads $VOUCHER_TODAY (YYYY-MM-DD) with the real time of day, so the README's
2026 walk-through runs as written whatever the real date is."""

import os

TODAY = os.environ.get("VOUCHER_TODAY")

if TODAY:
    from datetime import date, datetime

    from service.kit import clock

    _day = date.fromisoformat(TODAY)

    def now() -> datetime:
        return datetime.combine(_day, datetime.now(clock.SHANGHAI).timetz())

    clock.now = now
