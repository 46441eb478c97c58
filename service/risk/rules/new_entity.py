"""The enterprise was established less than `days` days before the year's application window
opened (docs/risk.md)."""

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
            lambda: (f"企业成立于 {established}，距本年度申报开始（{opens}）仅 "
                     f"{before} 天，少于 {s['days']} 天。",
                     f"The enterprise was established on {established}, {before} days "
                     f"before the year's application window opened ({opens}): fewer than "
                     f"{s['days']}."))
