"""Working days on a budget year's calendar (issue 24 §1): Monday to Friday, minus the public
holidays the bureau lists, plus the weekend days worked instead (调休). The lists may name dates
of any year: a year's last batches are published after it ends, on its own calendar.

Pure functions of dates and the two lists, so the notice window, its tests and a console can
all count the same way."""

from collections.abc import Collection
from datetime import date, timedelta

# The longest notice counted: far more than any programme uses (Shenzhen 10, Hebei 7 days).
MAX_NOTICE_WORKING_DAYS = 60


def is_working_day(day: date, holidays: Collection[date], workdays: Collection[date]) -> bool:
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(day: date, n: int, *, holidays: Collection[date] = (),
                     workdays: Collection[date] = ()) -> date:
    """The n-th working day after `day` (n >= 1; `day` itself never counts)."""
    if n < 1:
        raise ValueError("n counts working days from 1")
    holidays, workdays = frozenset(holidays), frozenset(workdays)
    while True:
        day += timedelta(days=1)
        if is_working_day(day, holidays, workdays):
            n -= 1
            if n == 0:
                return day
