"""Business days and the simulated clock: the dates the plan is drawn on, and the instant
`service.clock.now` answers while the simulation runs."""

from datetime import date, datetime, time, timedelta

from service.kit import clock

# Priorities within one simulated day.
P_SETUP, P_BUREAU, P_APPLY, P_DECIDE, P_POST, P_PAY, P_REVERSE, P_REDEEM, P_SETTLE = range(9)


def month_end(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def workday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def workday_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def on_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


class SimClock:
    """Replaces clock.now: the simulated day, advancing a little with every transaction."""

    def __init__(self, ceiling: datetime) -> None:
        self.at = datetime(2000, 1, 1, tzinfo=clock.SHANGHAI)
        self.ceiling = ceiling  # the real now: nothing simulated happens after it

    def now(self) -> datetime:
        return self.at

    def step(self, day: date) -> None:
        opening = datetime.combine(day, time(9, 0), tzinfo=clock.SHANGHAI)
        closing = datetime.combine(day, time(20, 0), tzinfo=clock.SHANGHAI)
        if day == self.ceiling.date():  # today: the morning so far, or the night before it
            opening = min(opening, self.ceiling - timedelta(minutes=30))
            closing = min(closing, self.ceiling - timedelta(minutes=5))
        if self.at < opening:
            self.at = opening
        elif self.at + timedelta(seconds=20) < closing:
            self.at += timedelta(seconds=20)
        else:  # a very busy day: keep the instants ordered without leaving the day
            self.at += timedelta(milliseconds=1)

