"""The invoice's provider posted more than `max_per_day` invoices for the enterprise on the
(Shanghai) day it posted this one (docs/risk.md)."""

from service.kit import catalogue
from service.risk.rules.subject import Found, Subject


def check(c: Subject, s: dict) -> Found | None:
    day = c.invoice.posted_on
    if day is None:
        return None
    count = c.t.posted.get((c.p, c.e, day), 0)
    if count <= s["max_per_day"]:
        return None
    name = c.provider_name
    return ({"posted_on": day.isoformat(), "invoices": count, "max_per_day": s["max_per_day"]},
            lambda: catalogue.both("rule.burst.says", provider=name, day=day, count=count,
                                   max_per_day=s["max_per_day"]))
