"""The enterprise was established less than `days` days before the year's application window
opened (docs/risk.md)."""

from service.kit import catalogue
from service.risk.rules.subject import Found, Subject


def check(c: Subject, s: dict) -> Found | None:
    enterprise = c.enterprise
    if enterprise is None or not enterprise.established_on:
        return None
    established, opens = enterprise.established_on, c.policy.application_opens_on
    before = (opens - established).days
    if before >= s["days"]:
        return None
    return ({"established_on": established.isoformat(), "application_opens_on": opens.isoformat(),
             "days_before": before, "threshold_days": s["days"]},
            lambda: catalogue.both("rule.new_entity.says", established=established, opens=opens,
                                   days_before=before, threshold_days=s["days"]))
